"""The shape of a chat-completion request, checked before anything reads it.

Each check names the parameter the way OpenAI's 400s do (``tools[0].function.name``) so a client
learns what to fix; a wrong type anywhere is a 400 ``invalid_request_error``, never a 500.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from openai_ft.local.http.core import ApiError

TOOL_CHOICES = ("none", "auto", "required")
FORMAT_TYPES = ("text", "json_object", "json_schema")
_Check = Callable[[Any], bool]


def _invalid(param: str, expected: str) -> ApiError:
    return ApiError(
        400, f"Invalid type for '{param}': expected {expected}.", param=param, code="invalid_type"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _is_bias(value: Any) -> bool:
    return isinstance(value, dict) and all(_is_number(v) for v in value.values())


# Top-level parameters the service accepts but does not act on: their type is still checked.
_PLAIN: dict[str, tuple[_Check, str]] = {
    "frequency_penalty": (_is_number, "a number"),
    "presence_penalty": (_is_number, "a number"),
    "logprobs": (_is_bool, "a boolean"),
    "stream": (_is_bool, "a boolean"),
    "parallel_tool_calls": (_is_bool, "a boolean"),
    "store": (_is_bool, "a boolean"),
    "user": (_is_str, "a string"),
    "safety_identifier": (_is_str, "a string"),
    "prompt_cache_key": (_is_str, "a string"),
    "service_tier": (_is_str, "a string"),
    "reasoning_effort": (_is_str, "a string"),
    "verbosity": (_is_str, "a string"),
    "logit_bias": (_is_bias, "an object of token ids to numbers"),
    "metadata": (_is_dict, "an object"),
    "stream_options": (_is_dict, "an object"),
    "prediction": (_is_dict, "an object"),
    "audio": (_is_dict, "an object"),
    "web_search_options": (_is_dict, "an object"),
    "modalities": (lambda v: isinstance(v, list) and all(map(_is_str, v)), "a list of strings"),
}


def _check_plain(body: dict[str, Any]) -> None:
    for name, (check, expected) in _PLAIN.items():
        value = body.get(name)
        if value is not None and not check(value):
            raise _invalid(name, expected)
    include = (body.get("stream_options") or {}).get("include_usage")
    if include is not None and not isinstance(include, bool):
        raise _invalid("stream_options.include_usage", "a boolean")


def _check_function(fn: Any, param: str) -> None:
    if not isinstance(fn, dict):
        raise _invalid(param, "an object")
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        raise _invalid(f"{param}.name", "a non-empty string")
    if fn.get("description") is not None and not isinstance(fn["description"], str):
        raise _invalid(f"{param}.description", "a string")
    if fn.get("parameters") is not None and not isinstance(fn["parameters"], dict):
        raise _invalid(f"{param}.parameters", "an object (a JSON schema)")


def _check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _invalid("tools", "a list of tools")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise _invalid(f"tools[{i}]", "an object with a 'type'")
        if tool["type"] == "function":
            _check_function(tool.get("function"), f"tools[{i}].function")
        elif tool["type"] == "custom":
            if not isinstance(tool.get("custom"), dict):
                raise _invalid(f"tools[{i}].custom", "an object")
        else:
            raise ApiError(
                400,
                f"Invalid value for 'tools[{i}].type': {tool['type']!r}; "
                "expected 'function' or 'custom'.",
                param=f"tools[{i}].type",
                code="invalid_value",
            )
    choice = body.get("tool_choice")
    if choice is None or choice in TOOL_CHOICES:
        return
    if isinstance(choice, str):
        raise ApiError(
            400,
            f"Invalid value for 'tool_choice': {choice!r}; expected one of "
            f"{', '.join(TOOL_CHOICES)} or an object.",
            param="tool_choice",
            code="invalid_value",
        )
    if not isinstance(choice, dict):
        raise _invalid("tool_choice", "a string or an object")
    if "function" in choice:
        fn = choice["function"]
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _invalid("tool_choice.function.name", "a string")


def _check_format(body: dict[str, Any]) -> None:
    fmt = body.get("response_format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") not in FORMAT_TYPES:
        raise ApiError(
            400,
            f"Invalid 'response_format': expected an object whose 'type' is one of "
            f"{', '.join(FORMAT_TYPES)}.",
            param="response_format",
            code="invalid_value",
        )
    if fmt["type"] != "json_schema":
        return
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict):
        raise _invalid("response_format.json_schema", "an object")
    if not isinstance(spec.get("name"), str):
        raise _invalid("response_format.json_schema.name", "a string")
    if spec.get("schema") is not None and not isinstance(spec["schema"], dict):
        raise _invalid("response_format.json_schema.schema", "an object (a JSON schema)")
    if spec.get("strict") is not None and not isinstance(spec["strict"], bool):
        raise _invalid("response_format.json_schema.strict", "a boolean")


def check_chat_request(body: dict[str, Any]) -> None:
    """Raise a 400 for the first parameter whose type or shape is wrong."""
    _check_plain(body)
    _check_tools(body)
    _check_format(body)


__all__ = ["check_chat_request"]
