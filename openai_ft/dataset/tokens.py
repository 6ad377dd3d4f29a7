"""Exact, offline token counts with the encodings shipped in ``openai_ft/_data/encodings``.

Counting rule (the one OpenAI's cookbook uses): each message costs 3 tokens plus the tokens of
its string fields ``role``, ``content``, ``name`` (+1 when ``name`` is present) and a tool
message's ``tool_call_id``; each example costs 3 more. Text is encoded with ``encode_ordinary`` (special-token text counts as plain text).
Documented estimates for what that rule does not cover:

- content given as a list of parts: the text of its ``text`` parts; an image part costs
  ``IMAGE_TOKENS_HIGH`` (a 1024x1024 high-detail image: 4 tiles x 170 + 85) or
  ``IMAGE_TOKENS_LOW`` when ``detail`` is ``"low"``;
- each ``tool_calls`` entry: its function name + arguments + ``TOOL_CALL_OVERHEAD``;
- ``tools`` / ``functions`` definitions: the tokens of their compact JSON text.

``assistant`` tokens are the content and tool-call tokens of assistant turns that train
(weight not 0) - for DPO, both outputs.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from openai_ft.errors import InputError

if TYPE_CHECKING:
    import tiktoken

ENCODING_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# Copied from tiktoken_ext/openai_public.py (its loader downloads; ours must not).
_ENDOFTEXT, _ENDOFPROMPT = "<|endoftext|>", "<|endofprompt|>"
_SPECIALS = {
    "o200k_base": {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    "cl100k_base": {
        _ENDOFTEXT: 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        _ENDOFPROMPT: 100276,
    },
}
_PAT_STR = {
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    "cl100k_base": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
}

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_EXAMPLE = 3
IMAGE_TOKENS_HIGH = 765
IMAGE_TOKENS_LOW = 85
TOOL_CALL_OVERHEAD = 3
_CACHE_LIMIT = 8192
_CACHE_MAX_CHARS = 256


@dataclass(frozen=True)
class ExampleTokens:
    """Tokens of one example: everything the model reads, and the assistant tokens it trains on."""

    total: int
    assistant: int


def _read_ranks(name: str) -> dict[bytes, int]:
    if name not in ENCODING_SHA256:
        raise InputError(
            f"unknown encoding {name!r}", tip=f"use one of {', '.join(sorted(ENCODING_SHA256))}"
        )
    blob = resources.files("openai_ft").joinpath(f"_data/encodings/{name}.tiktoken.gz")
    try:
        raw = gzip.decompress(blob.read_bytes())
    except (OSError, EOFError) as exc:
        raise InputError(
            f"shipped encoding {name} is unreadable: {exc}", tip="reinstall openai-ft"
        ) from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != ENCODING_SHA256[name]:
        raise InputError(
            f"shipped encoding {name} has sha256 {digest}, expected {ENCODING_SHA256[name]}",
            tip="the package files are corrupted: reinstall openai-ft",
        )
    fields = raw.split()
    decode = binascii.a2b_base64
    return {decode(tok): int(rank) for tok, rank in zip(fields[::2], fields[1::2], strict=True)}


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding built from the shipped, sha256-verified file (never downloads)."""
    import tiktoken

    ranks = _read_ranks(name)  # validates the name and the hash first
    return tiktoken.Encoding(
        name,
        pat_str=_PAT_STR[name],
        mergeable_ranks=ranks,
        special_tokens=_SPECIALS[name],
    )


def encoding_name_for_model(model: str) -> str:
    """The encoding a model uses (``o200k_base`` for gpt-4o / gpt-4.1, ``cl100k_base`` older)."""
    from openai_ft.catalog import model_info

    return model_info(model).encoding


def count_text(text: str, model: str | None = None) -> int:
    """Tokens of one string for ``model`` (default: the catalog's default model)."""
    from openai_ft.catalog import DEFAULT_MODEL

    return len(get_encoding(encoding_name_for_model(model or DEFAULT_MODEL)).encode_ordinary(text))


def token_length(encoding: tiktoken.Encoding) -> Callable[[str], int]:
    """A function giving ``len(encoding.encode_ordinary(text))`` without building the list.

    tiktoken's Rust core can return the tokens as one buffer; with no special token allowed it
    encodes exactly like ``encode_ordinary`` and skips ~300 Python ints per long string.
    """
    ordinary = encoding.encode_ordinary
    to_buffer = getattr(getattr(encoding, "_core_bpe", None), "encode_to_tiktoken_buffer", None)
    if to_buffer is None:  # another tiktoken version: the public API
        return lambda text: len(ordinary(text))
    no_special: set[str] = set()

    def length(text: str) -> int:
        try:
            return int(memoryview(to_buffer(text, no_special)).nbytes) >> 2
        except UnicodeEncodeError:  # lone surrogates: tiktoken's wrapper repairs them
            return len(ordinary(text))

    return length


class Counter:
    """Counts strings with one encoding, remembering short and repeated strings (roles, system
    prompts, labels) so that nothing common is encoded twice."""

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self.encoding = encoding
        self.length = token_length(encoding)
        self._cache: dict[str, int] = {}

    def text(self, text: str, remember: bool = False) -> int:
        """Tokens of ``text``; ``remember`` caches long strings too (e.g. system prompts)."""
        if not remember and len(text) > _CACHE_MAX_CHARS:
            return self.length(text)  # unique long text: looking it up would hash it for nothing
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        n = self.length(text)
        if remember or len(text) <= _CACHE_MAX_CHARS:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[text] = n
        return n

    def content(self, content: Any) -> int:
        """Tokens of a message's content: a string, or the text and images of a parts list."""
        if isinstance(content, str):
            return self.text(content)
        n = 0
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                kind = part.get("type")
                if kind == "text" and isinstance(part.get("text"), str):
                    n += self.text(part["text"])
                elif kind == "image_url":
                    image = part.get("image_url")
                    low = isinstance(image, dict) and image.get("detail") == "low"
                    n += IMAGE_TOKENS_LOW if low else IMAGE_TOKENS_HIGH
        return n

    def tool_calls(self, calls: Any) -> int:
        """Estimated tokens of an assistant turn's ``tool_calls``."""
        n = 0
        if isinstance(calls, list):
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict):
                    for key in ("name", "arguments"):
                        if isinstance(fn.get(key), str):
                            n += self.text(fn[key])
                n += TOOL_CALL_OVERHEAD
        return n

    def json_value(self, value: Any) -> int:
        """Estimated tokens of a JSON definition (``tools``, ``functions``)."""
        if value is None:
            return 0
        return self.text(json.dumps(value, separators=(",", ":"), ensure_ascii=False), True)

    def messages(self, messages: Any) -> ExampleTokens:
        """Tokens of a list of messages (without the per-example 3)."""
        total = assistant = 0
        if not isinstance(messages, list):
            return ExampleTokens(0, 0)
        for msg in messages:
            if not isinstance(msg, dict):
                continue
            role = msg.get("role")
            n = TOKENS_PER_MESSAGE
            if isinstance(role, str):
                n += self.text(role)
            content = msg.get("content")
            if role == "system" and isinstance(content, str):
                body = self.text(content, remember=True)
            else:
                body = self.content(content)
            body += self.tool_calls(msg.get("tool_calls"))
            fc = msg.get("function_call")
            if fc is not None:
                body += self.tool_calls([{"function": fc}])
            name = msg.get("name")
            if isinstance(name, str):
                n += self.text(name) + TOKENS_PER_NAME
            call_id = msg.get("tool_call_id")  # a string field of the message, read like the others
            if isinstance(call_id, str):
                n += self.text(call_id)
            total += n + body
            if role == "assistant" and msg.get("weight", 1) != 0:
                assistant += body
        return ExampleTokens(total, assistant)

    def example(self, example: Any, method: str = "supervised") -> ExampleTokens:
        """Tokens of one training example of ``method`` (supervised, dpo, reinforcement)."""
        if not isinstance(example, dict):
            return ExampleTokens(0, 0)
        if method == "dpo":
            inp = example.get("input")
            inp = inp if isinstance(inp, dict) else {}
            base = self.messages(inp.get("messages"))
            extra = self.json_value(inp.get("tools"))
            total, assistant = base.total + extra, 0
            for key in ("preferred_output", "non_preferred_output"):
                out = self.messages(example.get(key))
                total += out.total
                assistant += out.assistant
            return ExampleTokens(total + TOKENS_PER_EXAMPLE, assistant)
        base = self.messages(example.get("messages"))
        extra = self.json_value(example.get("tools")) + self.json_value(example.get("functions"))
        if method == "reinforcement":
            return ExampleTokens(base.total + extra + TOKENS_PER_EXAMPLE, 0)
        return ExampleTokens(base.total + extra + TOKENS_PER_EXAMPLE, base.assistant)


@lru_cache(maxsize=4)
def _counter(name: str) -> Counter:
    return Counter(get_encoding(name))


def counter_for_model(model: str) -> Counter:
    """A shared :class:`Counter` for ``model``'s encoding."""
    return _counter(encoding_name_for_model(model))


def count_messages(messages: list[dict[str, Any]], encoding: tiktoken.Encoding) -> ExampleTokens:
    """Tokens of a list of chat messages, including the per-example 3."""
    counted = Counter(encoding).messages(messages)
    return ExampleTokens(counted.total + TOKENS_PER_EXAMPLE, counted.assistant)


def count_example(
    example: dict[str, Any], method: str = "supervised", encoding: tiktoken.Encoding | None = None
) -> ExampleTokens:
    """Total and assistant tokens of one example (default encoding: the default model's)."""
    if encoding is None:
        from openai_ft.catalog import DEFAULT_MODEL

        return counter_for_model(DEFAULT_MODEL).example(example, method)
    return Counter(encoding).example(example, method)
