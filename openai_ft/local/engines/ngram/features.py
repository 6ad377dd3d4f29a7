"""Features of the n-gram engine: hashed character n-grams of a conversation, and reply tokens.

A prompt (the conversation before the reply) becomes a sparse vector in a 2**18-dimensional
hashed space. Each segment is hashed with its own salt, L2-normalised and weighted: the last user
message counts most, earlier turns less, the system prompt lightly. Character 1-4-grams make the
features language-agnostic (Chinese has no spaces); word unigrams help English. The hash is a
polynomial over code points computed with numpy, so it is stable across processes (unlike
``hash()``) and costs no Python loop per n-gram.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

HASH_BITS = 18
NGRAM_SIZES = (1, 2, 3, 4)
# Segment weights: what the model "reads" most. Same salt for all turns would mix them up.
LAST_USER_WEIGHT = 1.0
OTHER_TURN_WEIGHT = 0.35
SYSTEM_WEIGHT = 0.25
_SALTS = {"last_user": 0x1B873593, "turn": 0x85EBCA6B, "system": 0xC2B2AE35, "reply": 0x27D4EB2F}
_MASK32 = np.uint64(0xFFFFFFFF)
_PRIME = np.uint64(0x01000193)
_MIX = np.uint64(0x9E3779B1)
_WORD_RE = re.compile(r"\w+")
_SPACE_RE = re.compile(r"\s+")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def content_text(message: dict[str, Any]) -> str:
    """The text of a chat message: a string, or the text parts of a content list."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def reply_text(message: dict[str, Any]) -> str:
    """The reply an assistant message stands for: its text, else its tool calls as JSON."""
    text = content_text(message).strip()
    if not text and message.get("tool_calls"):
        import json

        text = json.dumps(message["tool_calls"], sort_keys=True, ensure_ascii=False)
    return text


def normalise_reply(text: str) -> str:
    """The class key of a reply: stripped, whitespace collapsed (case is kept: it is the answer)."""
    return _SPACE_RE.sub(" ", text).strip()


def _hash_ngrams(text: str, salt: int) -> IntArray:
    """Bucket indices of the character 1-4-grams and the words of ``text``."""
    padded = f" {text.lower()} "
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    out: list[IntArray] = []
    rolling = np.zeros(len(codes), dtype=np.uint64)
    shift = np.uint64(32 - HASH_BITS)
    for n in NGRAM_SIZES:
        if len(codes) < n:
            break
        # rolling[i] = hash of codes[i : i + n]; built from the (n-1)-gram hash in one step.
        rolling = (rolling[: len(codes) - n + 1] * _PRIME + codes[n - 1 :]) & _MASK32
        mixed = ((rolling ^ np.uint64(salt + n)) * _MIX) & _MASK32
        out.append((mixed >> shift).astype(np.int64))
    words = _WORD_RE.findall(text.lower())
    if words:
        hashed = np.fromiter(
            (zlib.crc32(w.encode("utf-8"), salt) for w in words), dtype=np.uint64, count=len(words)
        )
        out.append((((hashed * _MIX) & _MASK32) >> shift).astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _segment(text: str, salt: int, weight: float) -> tuple[IntArray, FloatArray]:
    if not text.strip():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    buckets, counts = np.unique(_hash_ngrams(text, salt), return_counts=True)
    values = np.log1p(counts.astype(np.float64))
    values *= weight / np.sqrt(float(values @ values))
    return buckets, values


def segment_features(text: str, salt: int, weight: float) -> tuple[IntArray, FloatArray]:
    """Hashed, L2-normalised, weighted features of one segment (empty text -> empty arrays)."""
    return _segment(text, salt, weight)


def prompt_segments(messages: Sequence[dict[str, Any]]) -> list[tuple[str, int, float, bool]]:
    """The segments of a prompt: (text, salt, weight, is_system); system prompts repeat a lot."""
    last_user = -1
    for i, message in enumerate(messages):
        if message.get("role") == "user":
            last_user = i
    out = []
    for i, message in enumerate(messages):
        role = message.get("role")
        text = content_text(message)
        if role in ("system", "developer"):
            out.append((text, _SALTS["system"], SYSTEM_WEIGHT, True))
        elif i == last_user:
            out.append((text, _SALTS["last_user"], LAST_USER_WEIGHT, False))
        else:
            out.append((text, _SALTS["turn"], OTHER_TURN_WEIGHT, False))
    return out


def prompt_features(messages: Sequence[dict[str, Any]]) -> tuple[IntArray, FloatArray]:
    """Sparse hashed features (sorted unique bucket indices, values) of a conversation prompt."""
    parts = [_segment(text, salt, w) for text, salt, w, _ in prompt_segments(messages)]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    buckets = np.concatenate([p[0] for p in parts])
    values = np.concatenate([p[1] for p in parts])
    if len(parts) == 1:
        return buckets, values
    unique, inverse = np.unique(buckets, return_inverse=True)
    summed = np.zeros(len(unique), dtype=np.float64)
    np.add.at(summed, inverse, values)
    return unique, summed


def reply_features(text: str) -> tuple[IntArray, FloatArray]:
    """Unit-norm hashed n-grams of a reply (to find the known reply closest to an unseen one)."""
    return _segment(text, _SALTS["reply"], 1.0)


@lru_cache(maxsize=1)
def _tokenizer() -> Callable[[str], list[str]]:
    try:
        from openai_ft.dataset.tokens import get_encoding

        encoding = get_encoding("o200k_base")

        def encode(text: str) -> list[str]:
            return [
                encoding.decode_single_token_bytes(t).decode("utf-8", "replace")
                for t in encoding.encode(text, disallowed_special=())
            ]

        return encode
    except Exception:
        # openai_ft.dataset.tokens is written in parallel; whitespace tokens until it lands.
        return lambda text: text.split()


def tokenize(text: str) -> list[str]:
    """Tokens of a reply (o200k_base when available, else whitespace-separated words)."""
    return _tokenizer()(text)


def token_accuracy(predicted: Sequence[str], target: Sequence[str]) -> float:
    """Share of target tokens that the predicted reply has at the same position."""
    if not target:
        return 1.0 if not predicted else 0.0
    hits = sum(1 for p, t in zip(predicted, target, strict=False) if p == t)
    return hits / len(target)
