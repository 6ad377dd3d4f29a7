"""Output shaping for chat completions: JSON mode / schemas, logprobs and server-sent event chunks."""

from __future__ import annotations

import json
from typing import Any

from openai_ft.local.http.core import dumps


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


# A token the model gives no probability at all is listed at OpenAI's floor, -9999.0. The local
# models decide a whole reply with its first token (the rest follow with certainty), so from the
# second token on, the alternatives after the chosen one are common tokens at the floor.
FLOOR_LOGPROB = -9999.0
_FILLERS = (
    " the",
    ",",
    ".",
    " and",
    " to",
    " of",
    " a",
    "\n",
    " is",
    " in",
    ":",
    " I",
    " that",
    " for",
    " it",
    "-",
    " you",
    " with",
    " on",
    " be",
    "!",
    "?",
    " not",
)


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def top_alternatives(
    token: str, logprob: float, alternatives: list[tuple[str, float]], k: int
) -> list[dict[str, Any]]:
    """Exactly ``k`` alternatives for one token: the engine's, the token itself, then fillers."""
    chosen = list(alternatives[:k])
    seen = {t for t, _ in chosen}
    if token not in seen and len(chosen) < k:
        chosen.append((token, logprob))
        seen.add(token)
    for filler in _FILLERS:
        if len(chosen) >= k:
            break
        if filler not in seen:
            chosen.append((filler, FLOOR_LOGPROB))
            seen.add(filler)
    chosen.sort(key=lambda pair: -pair[1])
    return [_entry(t, p) for t, p in chosen]


def logprob_content(
    pairs: list[tuple[str, float, list[tuple[str, float]]]], text: str, words: list[str], k: int
) -> list[dict[str, Any]]:
    """``logprobs.content`` for ``text``: one entry per token, each with ``k`` alternatives.

    ``pairs`` are the engine's (token, logprob, alternatives); when they do not spell ``text``
    (JSON mode rewrote it) the text's own tokens ``words`` are used, each certain.
    """
    if not "".join(t for t, _, _ in pairs).startswith(text):
        pairs = [(w, 0.0, []) for w in words]
    content, used = [], 0
    for token, logprob, alternatives in pairs:
        if used + len(token) > len(text):
            break
        used += len(token)
        content.append(
            {
                **_entry(token, logprob),
                "top_logprobs": top_alternatives(token, logprob, alternatives, k),
            }
        )
    return content


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
