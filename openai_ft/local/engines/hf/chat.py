"""Chat completions of ``hf`` models: real generation with the model's chat template.

Supported as on OpenAI: ``temperature``, ``top_p``, ``seed`` (same seed, same text), ``n``,
``max_completion_tokens`` / ``max_tokens``, ``stop``, ``logprobs`` / ``top_logprobs``, and
``stream`` (one chunk per generated token, sent as it is generated). Approximated: ``tools`` are
passed to the chat template, and a reply holding ``<tool_call>{...}</tool_call>`` (Qwen's form)
or forced by ``tool_choice`` becomes ``tool_calls``; ``response_format`` JSON modes add no
constrained decoding: a reply that is not valid JSON (for the schema) is wrapped to fit, as the
n-gram engine does. Usage counts the model's own tokens.
"""

from __future__ import annotations

import json
import queue
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from openai_ft.local.api.chat import _check_messages, _int, _number, _stops, _tool_calls, usage
from openai_ft.local.api.chat_format import coerce_to_schema
from openai_ft.local.engines.hf.data import _clean
from openai_ft.local.engines.hf.generate import Row
from openai_ft.local.http.core import ApiError, Response, dumps, new_id

if TYPE_CHECKING:
    from openai_ft.local.http.app import Service

DEFAULT_MAX_TOKENS = 256
_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.S)


def _decoder(svc: Service, model: str) -> Any:
    from openai_ft.local.engines.hf.model import HFModel, base_decoder
    from openai_ft.local.engines.hf.registry import lookup

    if model.startswith("ft:"):
        trained = svc.load_model(model)
        if not isinstance(trained, HFModel):
            raise ApiError(404, f"The model `{model}` does not exist.", param="model")
        return trained.decoder()
    base = lookup(svc.state.root, model)
    assert base is not None  # the caller checked
    return base_decoder(str(base.path()))


def _rows(decoder: Any, body: dict[str, Any], on_text: Any = None) -> list[Row]:
    messages = [_clean(m) for m in _check_messages(body)]
    tools = [
        t["function"] for t in body.get("tools") or [] if isinstance(t, dict) and "function" in t
    ]
    prompt = decoder.tokenizer.apply_chat_template(
        messages, tools=tools or None, tokenize=True, add_generation_prompt=True
    )
    ids = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
    n = _int(body, "n", 1, 128) or 1
    seed = _int(body, "seed", -(2**63), 2**63 - 1)
    limit = _int(body, "max_completion_tokens", 1, 2**20) or _int(body, "max_tokens", 1, 2**20)
    top_n = _int(body, "top_logprobs", 0, 20) or 0
    if top_n and not body.get("logprobs"):
        raise ApiError(400, "'top_logprobs' requires 'logprobs' to be true.", param="top_logprobs")
    temperature = _number(body, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    stops = _stops(body)

    def row(i: int) -> Row:
        def report(text: str, entry: Any) -> None:
            on_text(i, text, entry)

        return Row(
            prompt=ids,
            max_new=limit or DEFAULT_MAX_TOKENS,
            temperature=temperature,
            top_p=top_p,
            seed=None if seed is None else seed + i,  # choice i samples the same in any batch
            stops=stops,
            top_logprobs=max(top_n, 1) if body.get("logprobs") else 0,
            on_text=None if on_text is None else report,
        )

    return [row(i) for i in range(n)]


def _logprobs(row: Row, top_n: int) -> dict[str, Any]:
    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    content = [
        {**entry(t, lp), "top_logprobs": [entry(a, p) for a, p in alts[:top_n]]}
        for t, lp, alts in row.tokens
    ]
    return {"content": content, "refusal": None}


def _message(body: dict[str, Any], text: str) -> tuple[dict[str, Any], str | None]:
    """The assistant message for a reply, and ``tool_calls`` as finish reason when it calls."""
    calls = [m.group(1) for m in _TOOL_CALL.finditer(text)]
    parsed = []
    for raw in calls:
        try:
            call = json.loads(raw)
        except ValueError:
            continue
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            args = call.get("arguments", {})
            arguments = args if isinstance(args, str) else json.dumps(args)
            parsed.append({"function": {"name": call["name"], "arguments": arguments}})
    tool_calls = _tool_calls(body, json.dumps(parsed)) if parsed else _tool_calls(body, text)
    if tool_calls is not None:
        return {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": tool_calls,
        }, "tool_calls"
    fmt = body.get("response_format") or {}
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        schema = (
            (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
        )
        text = coerce_to_schema(text, schema)
    return {"role": "assistant", "content": text, "refusal": None}, None


def _result(svc: Service, model: str, body: dict[str, Any], rows: list[Row]) -> dict[str, Any]:
    top_n = _int(body, "top_logprobs", 0, 20) or 0
    choices = []
    for i, row in enumerate(rows):
        if row.finish == "error":
            raise ApiError(500, f"The model failed while generating: {row.text}")
        message, finish = _message(body, row.text)
        choices.append(
            {
                "index": i,
                "message": message,
                "logprobs": _logprobs(row, top_n) if body.get("logprobs") else None,
                "finish_reason": finish or row.finish,
            }
        )
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": svc.now(),
        "model": model,
        "choices": choices,
        "usage": usage(len(rows[0].prompt), sum(len(r.ids) for r in rows)),
        "service_tier": "default",
        "system_fingerprint": "fp_local_hf",
    }


def answer(svc: Service, model: str, body: dict[str, Any]) -> Response:
    """POST /v1/chat/completions for an hf base or fine-tuned model."""
    decoder = _decoder(svc, model)
    if body.get("stream"):
        events: queue.Queue[tuple[int, str, Any] | None] = queue.Queue()
        rows = _rows(decoder, body, on_text=lambda i, t, e: events.put((i, t, e)))
        return Response(
            200,
            {"content-type": "text/event-stream", "cache-control": "no-cache"},
            # The server writes each chunk as the generator yields it (token by token).
            chunks=_stream(svc, model, body, decoder, rows, events),  # type: ignore[arg-type]
        )
    rows = _rows(decoder, body)
    decoder.run(rows)
    return Response(
        200, {"content-type": "application/json"}, dumps(_result(svc, model, body, rows))
    )


def _stream(
    svc: Service,
    model: str,
    body: dict[str, Any],
    decoder: Any,
    rows: list[Row],
    events: queue.Queue[tuple[int, str, Any] | None],
) -> Iterator[bytes]:
    """SSE frames, one per token as the decoder produces it, then finish reasons and usage."""
    import threading

    chunk_id, created = new_id("chatcmpl-"), svc.now()
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": model}
    base["system_fingerprint"] = "fp_local_hf"
    top_n = _int(body, "top_logprobs", 0, 20) or 0

    def frame(choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        data = {**base, "choices": choices}
        if include_usage:
            data["usage"] = usage
        return b"data: " + dumps(data) + b"\n\n"

    def work() -> None:
        decoder.run(rows)
        events.put(None)

    threading.Thread(target=work, name="hf-stream", daemon=True).start()
    for i in range(len(rows)):
        yield frame(
            [
                {
                    "index": i,
                    "delta": {"role": "assistant", "content": "", "refusal": None},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ]
        )
    while (item := events.get()) is not None:
        i, text, (_, lp, alts) = item
        logprobs = None
        if body.get("logprobs"):
            one = {"token": text, "logprob": lp, "bytes": list(text.encode())}
            one["top_logprobs"] = [
                {"token": a, "logprob": p, "bytes": list(a.encode())} for a, p in alts[:top_n]
            ]
            logprobs = {"content": [one], "refusal": None}
        if text:
            yield frame(
                [
                    {
                        "index": i,
                        "delta": {"content": text},
                        "logprobs": logprobs,
                        "finish_reason": None,
                    }
                ]
            )
    result = _result(svc, model, body, rows)
    for choice in result["choices"]:
        delta: dict[str, Any] = {}
        if choice["message"].get("tool_calls"):
            delta = {
                "tool_calls": [
                    {"index": k, **c} for k, c in enumerate(choice["message"]["tool_calls"])
                ]
            }
        yield frame(
            [
                {
                    "index": choice["index"],
                    "delta": delta,
                    "logprobs": None,
                    "finish_reason": choice["finish_reason"],
                }
            ]
        )
    if include_usage:
        yield b"data: " + dumps({**base, "choices": [], "usage": result["usage"]}) + b"\n\n"
    yield b"data: [DONE]\n\n"


__all__ = ["answer"]
