"""Output shaping for chat completions: JSON mode / schemas and server-sent event chunks."""

from __future__ import annotations

import json
from typing import Any

from openai_ft.local.core import dumps


def _instance(schema: Any, text: str, depth: int = 0) -> Any:
    """A value that satisfies a (simple) JSON schema, with ``text`` in its string slots."""
    if not isinstance(schema, dict) or depth > 8:
        return text
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _instance(schema[key][0], text, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {k: _instance(v, text, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [_instance(schema.get("items"), text, depth + 1)] if schema.get("minItems") else []
    if kind in ("number", "integer"):
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text


def coerce_to_schema(text: str, schema: dict[str, Any] | None) -> str:
    """JSON text for JSON mode: the reply itself if it already parses (and fits), else a wrapping."""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if schema is None:
        return (
            text if isinstance(parsed, dict) else json.dumps({"response": text}, ensure_ascii=False)
        )
    if parsed is not None:
        try:
            import jsonschema

            jsonschema.validate(parsed, schema)
            return text
        except Exception:
            pass
    return json.dumps(_instance(schema, text), ensure_ascii=False)


def _pieces(text: str, size: int = 16) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def stream_chunks(result: dict[str, Any], include_usage: bool) -> list[bytes]:
    """The SSE frames of a finished completion: role, content deltas, finish, usage, ``[DONE]``."""
    base = {
        "id": result["id"],
        "object": "chat.completion.chunk",
        "created": result["created"],
        "model": result["model"],
        "system_fingerprint": result["system_fingerprint"],
    }
    frames: list[dict[str, Any]] = []

    def chunk(
        index: int, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None
    ) -> None:
        frame = {
            **base,
            "choices": [
                {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
            ],
        }
        if include_usage:
            frame["usage"] = None
        frames.append(frame)

    for choice in result["choices"]:
        i, msg = choice["index"], choice["message"]
        chunk(i, {"role": "assistant", "content": "", "refusal": None})
        if msg.get("tool_calls"):
            calls = [{"index": k, **c} for k, c in enumerate(msg["tool_calls"])]
            chunk(i, {"tool_calls": calls})
        else:
            lp = (choice.get("logprobs") or {}).get("content")
            if lp:
                for entry in lp:
                    chunk(
                        i,
                        {"content": entry["token"]},
                        logprobs={"content": [entry], "refusal": None},
                    )
                rest = msg["content"][sum(len(e["token"]) for e in lp) :]
                if rest:
                    chunk(i, {"content": rest})
            else:
                for piece in _pieces(msg["content"] or ""):
                    if piece:
                        chunk(i, {"content": piece})
        chunk(i, {}, choice["finish_reason"])
    if include_usage:
        frames.append({**base, "choices": [], "usage": result["usage"]})
    return [b"data: " + dumps(f) + b"\n\n" for f in frames] + [b"data: [DONE]\n\n"]
