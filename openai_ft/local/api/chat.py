"""Chat completions: the engine's replies shaped as OpenAI answers (n, stop, max tokens, logprobs,
response_format, tools, streaming); usage counted with our tokenizer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from openai_ft.local.api.chat_checks import check_chat_request
from openai_ft.local.api.chat_format import coerce_to_schema, logprob_content, stream_chunks
from openai_ft.local.api.jobs import is_fine_tuned, require_model
from openai_ft.local.http.core import ApiError, Request, Response, dumps, new_id

if TYPE_CHECKING:
    from openai_ft.local.engines.ngram.model import Completion
    from openai_ft.local.http.app import Service

ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def _encoding() -> Any:
    from openai_ft.dataset.tokens import get_encoding

    return get_encoding("o200k_base")


def prompt_tokens(messages: Any) -> int:
    """Prompt tokens of a list of chat messages with our tokenizer (0 if not a list)."""
    if not isinstance(messages, list):
        return 0
    from openai_ft.dataset.tokens import count_messages

    try:
        return count_messages([m for m in messages if isinstance(m, dict)], _encoding()).total
    except (TypeError, ValueError, KeyError, AttributeError):
        return 0


def _number(body: dict[str, Any], name: str, default: float, lo: float, hi: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ApiError(
            400,
            f"Invalid '{name}': {value!r}; expected a number between {lo} and {hi}.",
            param=name,
            code="invalid_value",
        )
    return float(value)


def _int(body: dict[str, Any], name: str, lo: int, hi: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ApiError(
            400,
            f"Invalid '{name}': {value!r}; expected an integer between {lo} and {hi}.",
            param=name,
            code="invalid_value",
        )
    return value


def usage(prompt: int, completion: int) -> dict[str, Any]:
    """A chat completion's ``usage`` object, with the detail fields OpenAI's schema lists."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _check_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400,
            "Missing required parameter: 'messages' (a non-empty list).",
            param="messages",
            code="missing_required_parameter",
        )
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ApiError(
                400,
                f"Invalid 'messages[{i}]': each message needs a 'role' among {', '.join(ROLES)}.",
                param=f"messages[{i}]",
                code="invalid_value",
            )
    return messages


def _stops(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if (
        not isinstance(stops, list)
        or len(stops) > 4
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise ApiError(
            400,
            "Invalid 'stop': a string or a list of up to 4 non-empty strings.",
            param="stop",
            code="invalid_value",
        )
    return stops


def _generate(
    svc: Service,
    model: str,
    messages: list[dict[str, Any]],
    n: int,
    temperature: float,
    top_p: float,
    seed: int | None,
    top_logprobs: int,
) -> list[Completion]:
    if is_fine_tuned(model):
        trained = svc.load_model(model)
        if trained is None:
            raise ApiError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        return trained.complete(
            messages,
            n=n,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            top_logprobs=top_logprobs,
        )
    from openai_ft.local.engines.ngram.base import base_complete

    return base_complete(
        model, messages, n=n, temperature=temperature, seed=seed, top_logprobs=top_logprobs
    )


def _shape_choice(
    index: int,
    comp: Completion,
    body: dict[str, Any],
    stops: list[str],
    max_tokens: int | None,
    want_logprobs: bool,
    top_n: int,
) -> tuple[dict[str, Any], int]:
    """One choice and its completion token count."""
    enc = _encoding()
    text, finish = comp.text, "stop"
    tool_calls = _tool_calls(body, text)
    fmt = body.get("response_format") or {}
    if (
        tool_calls is None
        and isinstance(fmt, dict)
        and fmt.get("type") in ("json_object", "json_schema")
    ):
        schema = (
            (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
        )
        text = coerce_to_schema(text, schema)
    if tool_calls is not None:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": tool_calls,
        }
        used = len(enc.encode(json.dumps(tool_calls)))
        return {
            "index": index,
            "message": message,
            "logprobs": None,
            "finish_reason": "tool_calls",
        }, used
    for s in stops:
        cut = text.find(s)
        if cut >= 0:
            text = text[:cut]
    tokens = enc.encode(text, disallowed_special=())
    if max_tokens is not None and len(tokens) > max_tokens:
        tokens = tokens[:max_tokens]
        text, finish = enc.decode(tokens), "length"
    logprobs = None
    if want_logprobs:
        words = [enc.decode([t]) for t in tokens]
        content = logprob_content(comp.tokens_logprobs or [], text, words, top_n)
        logprobs = {"content": content, "refusal": None}
    message = {"role": "assistant", "content": text, "refusal": None}
    return {"index": index, "message": message, "logprobs": logprobs, "finish_reason": finish}, len(
        tokens
    )


def _tool_calls(body: dict[str, Any], text: str) -> list[dict[str, Any]] | None:
    tools = body.get("tools")
    if not tools:
        return None
    choice = body.get("tool_choice", "auto")
    if choice == "none":
        return None
    functions = {
        t["function"]["name"]: t["function"]
        for t in tools
        if isinstance(t, dict) and isinstance(t.get("function"), dict) and "name" in t["function"]
    }
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if (
        isinstance(parsed, list)
        and parsed
        and all(
            isinstance(c, dict)
            and isinstance(c.get("function"), dict)
            and c["function"].get("name") in functions
            for c in parsed
        )
    ):
        return [
            {
                "id": new_id("call_"),
                "type": "function",
                "function": {
                    "name": c["function"]["name"],
                    "arguments": c["function"].get("arguments", "{}"),
                },
            }
            for c in parsed
        ]
    forced = (
        choice["function"]["name"]
        if isinstance(choice, dict) and isinstance(choice.get("function"), dict)
        else None
    )
    if forced is None and choice == "required" and functions:
        forced = next(iter(functions))
    if forced is None:
        return None
    if forced not in functions:
        raise ApiError(
            400,
            f"Invalid 'tool_choice': no tool named {forced!r} in 'tools'.",
            param="tool_choice",
            code="invalid_value",
        )
    args = coerce_to_schema(text, functions[forced].get("parameters"))
    return [
        {"id": new_id("call_"), "type": "function", "function": {"name": forced, "arguments": args}}
    ]


def chat_completion(svc: Service, req: Request) -> Response:
    """POST /v1/chat/completions."""
    body = req.json()
    return answer(svc, body)


def answer(svc: Service, body: dict[str, Any], *, routed: bool = False) -> Response:
    """A chat completion for a parsed body (also used by batches).

    ``model`` may name an Azure deployment (``routed``: it was already resolved from the path).
    """
    if not routed:
        from openai_ft.local.azure.deployments import route_chat

        body = route_chat(svc, body)
    messages = _check_messages(body)
    check_chat_request(body)
    model = require_model(
        svc,
        body,
        404,
        "The model `{model}` does not exist or you do not have access to it.",
        "model_not_found",
    )
    n = _int(body, "n", 1, 128) or 1
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    max_tokens = _int(body, "max_completion_tokens", 1, 2**20) or _int(body, "max_tokens", 1, 2**20)
    seed = _int(body, "seed", -(2**63), 2**63 - 1)
    top_n = _int(body, "top_logprobs", 0, 20) or 0
    want_logprobs = bool(body.get("logprobs"))
    if top_n and not want_logprobs:
        raise ApiError(
            400,
            "'top_logprobs' requires 'logprobs' to be true.",
            param="top_logprobs",
            code="invalid_value",
        )
    fmt = body.get("response_format")
    if (
        isinstance(fmt, dict)
        and fmt.get("type") == "json_object"
        and "json" not in json.dumps(messages).lower()
    ):
        raise ApiError(
            400,
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
            param="messages",
            code="invalid_value",
        )
    stops = _stops(body)
    from openai_ft.local.engines import chat as engine_chat

    hooked = engine_chat(svc, model, body)  # an open-weight (hf) model generates for real
    if hooked is not None:
        return hooked
    comps = _generate(svc, model, messages, n, temperature, top_p, seed, top_n)
    choices, completion_tokens = [], 0
    for i, comp in enumerate(comps):
        choice, used = _shape_choice(i, comp, body, stops, max_tokens, want_logprobs, top_n)
        choices.append(choice)
        completion_tokens += used
    result = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": svc.now(),
        "model": model,
        "choices": choices,
        "usage": usage(prompt_tokens(messages), completion_tokens),
        "service_tier": "default",
        "system_fingerprint": "fp_local",
    }
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return Response(
            200,
            {"content-type": "text/event-stream", "cache-control": "no-cache"},
            chunks=stream_chunks(result, include_usage),
        )
    return Response(200, {"content-type": "application/json"}, dumps(result))
