"""The rules of OpenAI's training formats, one example at a time; every violation is reported."""

from __future__ import annotations

import re
from typing import Any

from openai_ft._jsonl import loads
from openai_ft.dataset.validate_types import Issue

METHODS = ("supervised", "dpo", "reinforcement")
ROLES = frozenset({"system", "user", "assistant", "tool", "function", "developer"})
MAX_IMAGES = 10
IMAGE_FORMATS = frozenset({"jpeg", "jpg", "png", "webp"})
_FN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DATA_URL = re.compile(r"^data:image/([A-Za-z0-9.+-]+);base64,", re.I)
_URL_EXT = re.compile(r"\.([A-Za-z0-9]{2,5})(?:[?#]|$)")
_OTHER_IMAGE_FORMATS = frozenset({"gif", "bmp", "tif", "tiff", "svg", "heic", "avif", "ico"})
_UNSUPPORTED_PARTS = frozenset({"input_audio", "audio", "file", "input_file"})


class _Sink:
    """Collects errors for one example at one line."""

    __slots__ = ("issues", "line")

    def __init__(self, line: int | None, issues: list[Issue]) -> None:
        self.line = line
        self.issues = issues

    def __call__(self, code: str, message: str, field: str | None) -> None:
        self.issues.append(Issue(self.line, code, message, field, "error"))


def _check_parts(parts: list[Any], role: str, where: str, err: _Sink) -> int:
    images = 0
    for j, part in enumerate(parts):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if not isinstance(part, dict) or not isinstance(kind, str):
            err("invalid_content", "a content part must be an object with a 'type'", at)
        elif kind == "text":
            if not isinstance(part.get("text"), str):
                err("invalid_content", "a text part needs a string 'text'", at)
        elif kind == "image_url":
            images += 1
            if role != "user":
                err(
                    "image_not_in_user", f"images are only allowed in user messages, not {role}", at
                )
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str):
                err(
                    "invalid_image_url",
                    "an image part needs image_url.url (http(s) or data URL)",
                    at,
                )
                continue
            data = _DATA_URL.match(url)
            if data:
                fmt = data.group(1).lower()
            elif url.startswith(("http://", "https://")):
                ext = _URL_EXT.search(url.split("//", 1)[1].split("/", 1)[-1])
                # Only a known non-supported image extension is an error; others the server checks.
                fmt = ext.group(1).lower() if ext else "jpeg"
                fmt = fmt if fmt in _OTHER_IMAGE_FORMATS else "jpeg"
            else:
                err(
                    "invalid_image_url",
                    "image URL must start with http://, https:// or data:image/",
                    at,
                )
                continue
            if fmt not in IMAGE_FORMATS:
                err("unsupported_image_format", f"image format {fmt!r}: use jpeg, png or webp", at)
        elif kind in _UNSUPPORTED_PARTS:
            err("unsupported_part", f"{kind!r} parts cannot be used for fine-tuning", at)
        else:
            err(
                "unsupported_part", f"unknown content part type {kind!r}: use text or image_url", at
            )
    return images


def _check_tool_calls(calls: Any, where: str, err: _Sink, call_ids: set[str]) -> None:
    if not isinstance(calls, list) or not calls:
        err("invalid_tool_calls", "tool_calls must be a non-empty list", f"{where}.tool_calls")
        return
    for k, call in enumerate(calls):
        at = f"{where}.tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(fn, dict):
            err("invalid_tool_calls", "each tool call needs a 'function' object", at)
            continue
        if isinstance(call.get("id"), str):
            call_ids.add(call["id"])
        else:
            err("invalid_tool_calls", "each tool call needs a string 'id'", f"{at}.id")
        if call.get("type", "function") != "function":
            err("invalid_tool_calls", "tool call type must be 'function'", f"{at}.type")
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            err(
                "invalid_tool_calls",
                "function.name must be a non-empty string",
                f"{at}.function.name",
            )
        _check_arguments(fn.get("arguments"), f"{at}.function.arguments", err)


def _check_function_call(fc: Any, at: str, err: _Sink) -> None:
    """The legacy ``function_call`` of an assistant turn: an object with name and arguments."""
    if not isinstance(fc, dict):
        err("invalid_function_call", "function_call must be an object {name, arguments}", at)
        return
    if not isinstance(fc.get("name"), str) or not fc["name"]:
        err("invalid_function_call", "function_call.name must be a non-empty string", f"{at}.name")
    _check_arguments(fc.get("arguments"), f"{at}.arguments", err)


def _check_arguments(args: Any, at: str, err: _Sink) -> None:
    if not isinstance(args, str):
        err("invalid_tool_arguments", "function.arguments must be a JSON string", at)
        return
    try:
        loads(args)
    except ValueError as exc:
        err("invalid_tool_arguments", f"function.arguments is not valid JSON: {exc}", at)


def check_messages(
    messages: Any, where: str, err: _Sink, *, allow_weight: bool = True
) -> tuple[int, int]:
    """Check a list of chat messages; returns (assistant turns, images)."""
    if not isinstance(messages, list) or not messages:
        err("invalid_messages", "messages must be a non-empty list of objects", where)
        return 0, 0
    assistants = images = 0
    call_ids: set[str] = set()
    for i, msg in enumerate(messages):
        at = f"{where}[{i}]"
        if not isinstance(msg, dict):
            err("invalid_message", "each message must be a JSON object", at)
            continue
        role = msg.get("role")
        if role not in ROLES:
            shown = "missing" if role is None else repr(role)
            err(
                "unknown_role",
                f"role is {shown}: use system, user, assistant or tool",
                f"{at}.role",
            )
            continue
        content = msg.get("content")
        if content is not None and not isinstance(content, (str, list)):
            err("invalid_content", "content must be a string or a list of parts", f"{at}.content")
        elif isinstance(content, list):
            images += _check_parts(content, role, at, err)
        if "weight" in msg:
            weight = msg["weight"]
            if not allow_weight:
                err(
                    "weight_on_non_assistant",
                    f"'weight' is only allowed in supervised examples: remove it from {where}",
                    f"{at}.weight",
                )
            elif role != "assistant":
                err(
                    "weight_on_non_assistant",
                    f"'weight' is only allowed on assistant turns, not {role}",
                    f"{at}.weight",
                )
            elif isinstance(weight, bool) or weight not in (0, 1):
                err("invalid_weight", f"weight must be 0 or 1, got {weight!r}", f"{at}.weight")
        if role == "assistant":
            assistants += 1
            has_calls = msg.get("tool_calls") is not None or msg.get("function_call") is not None
            if msg.get("tool_calls") is not None:
                _check_tool_calls(msg["tool_calls"], at, err, call_ids)
            if msg.get("function_call") is not None:
                _check_function_call(msg["function_call"], f"{at}.function_call", err)
            if (content is None or content == [] or content == "") and not has_calls:
                err(
                    "missing_content", "assistant turn needs content or tool_calls", f"{at}.content"
                )
        elif content is None or content == []:
            err("missing_content", f"{role} message has no content", f"{at}.content")
        elif msg.get("tool_calls") is not None:
            err(
                "invalid_tool_calls", "only assistant turns can have tool_calls", f"{at}.tool_calls"
            )
        if role == "tool":
            tid = msg.get("tool_call_id")
            if not isinstance(tid, str):
                err(
                    "missing_tool_call_id",
                    "a tool message needs a string tool_call_id",
                    f"{at}.tool_call_id",
                )
            elif tid not in call_ids:
                err(
                    "unmatched_tool_call_id",
                    f"tool_call_id {tid!r} matches no earlier tool call",
                    f"{at}.tool_call_id",
                )
        elif role == "function" and not isinstance(msg.get("name"), str):
            err("missing_name", "a function message needs a string 'name'", f"{at}.name")
        if "name" in msg and not isinstance(msg["name"], str):
            err("invalid_name", "name must be a string", f"{at}.name")
    if images > MAX_IMAGES:
        err("too_many_images", f"{images} images in one example: at most {MAX_IMAGES}", where)
    return assistants, images


def check_tools(obj: dict[str, Any], prefix: str, err: _Sink) -> None:
    """Check top-level ``tools``, ``parallel_tool_calls`` and legacy ``functions``."""
    if "tools" in obj:
        tools = obj["tools"]
        if not isinstance(tools, list):
            err("invalid_tools", "tools must be a list", f"{prefix}tools")
        else:
            for i, tool in enumerate(tools):
                fn = tool.get("function") if isinstance(tool, dict) else None
                at = f"{prefix}tools[{i}]"
                if (
                    not isinstance(tool, dict)
                    or tool.get("type") != "function"
                    or not isinstance(fn, dict)
                ):
                    err(
                        "invalid_tools",
                        "each tool must be {'type': 'function', 'function': {...}}",
                        at,
                    )
                else:
                    _check_function_def(fn, f"{at}.function", "invalid_tools", err)
    if "parallel_tool_calls" in obj and not isinstance(obj["parallel_tool_calls"], bool):
        err(
            "invalid_parallel_tool_calls",
            "parallel_tool_calls must be true or false",
            f"{prefix}parallel_tool_calls",
        )
    if "functions" in obj:
        fns = obj["functions"]
        if not isinstance(fns, list):
            err("invalid_functions", "functions must be a list", f"{prefix}functions")
        else:
            for i, fn in enumerate(fns):
                if not isinstance(fn, dict):
                    err(
                        "invalid_functions",
                        "each function must be an object",
                        f"{prefix}functions[{i}]",
                    )
                else:
                    _check_function_def(fn, f"{prefix}functions[{i}]", "invalid_functions", err)


def _check_function_def(fn: dict[str, Any], at: str, code: str, err: _Sink) -> None:
    name = fn.get("name")
    if not isinstance(name, str) or not _FN_NAME.match(name):
        err(code, "function name must be 1-64 letters, digits, '_' or '-'", f"{at}.name")
    if "parameters" in fn and not isinstance(fn["parameters"], dict):
        err(code, "function parameters must be a JSON schema object", f"{at}.parameters")
    if "description" in fn and not isinstance(fn["description"], str):
        err(code, "function description must be a string", f"{at}.description")


def check_example(obj: Any, method: str, line: int | None, issues: list[Issue]) -> None:
    """Append every format error of one example of ``method`` to ``issues``."""
    err = _Sink(line, issues)
    if not isinstance(obj, dict):
        err("not_an_object", "each line must be a JSON object", None)
        return
    if method == "dpo":
        _check_dpo(obj, err)
        return
    if "messages" not in obj:
        hint = " (this is a DPO example: use --method dpo)" if "preferred_output" in obj else ""
        err("missing_messages", f"no 'messages' list in this example{hint}", "messages")
        return
    assistants, _ = check_messages(
        obj["messages"], "messages", err, allow_weight=method == "supervised"
    )
    check_tools(obj, "", err)
    msgs = obj["messages"]
    if not isinstance(msgs, list) or not msgs:
        return
    last = msgs[-1]
    if method == "supervised" and assistants == 0:
        err(
            "no_assistant_message",
            "an example needs at least one assistant turn to learn from",
            "messages",
        )
    if method == "reinforcement" and isinstance(last, dict) and last.get("role") == "assistant":
        err(
            "rft_ends_with_assistant",
            "the last message must not be an assistant turn (the model writes it)",
            f"messages[{len(msgs) - 1}]",
        )


def _check_dpo(obj: dict[str, Any], err: _Sink) -> None:
    inp = obj.get("input")
    if not isinstance(inp, dict):
        hint = " (this is a chat example: use --method supervised)" if "messages" in obj else ""
        err(
            "dpo_missing_input",
            f"DPO examples need an 'input' object with 'messages'{hint}",
            "input",
        )
    elif "messages" not in inp:
        err("missing_messages", "no 'messages' list in input", "input.messages")
    else:
        check_messages(inp["messages"], "input.messages", err, allow_weight=False)
        check_tools(inp, "input.", err)
        msgs = inp["messages"]
        if (
            isinstance(msgs, list)
            and msgs
            and isinstance(msgs[-1], dict)
            and msgs[-1].get("role") == "assistant"
        ):
            err(
                "dpo_input_ends_with_assistant",
                "input must not end with an assistant turn",
                f"input.messages[{len(msgs) - 1}]",
            )
    for key, missing, invalid in (
        ("preferred_output", "dpo_missing_preferred", "dpo_invalid_preferred"),
        ("non_preferred_output", "dpo_missing_non_preferred", "dpo_invalid_non_preferred"),
    ):
        out = obj.get(key)
        if out is None:
            err(missing, f"DPO examples need '{key}': a list with one assistant message", key)
        elif (
            not isinstance(out, list)
            or len(out) != 1
            or not isinstance(out[0], dict)
            or out[0].get("role") != "assistant"
        ):
            err(invalid, f"'{key}' must be a list with exactly one assistant message", key)
        else:
            check_messages(out, key, err, allow_weight=False)
