"""The per-chunk work of validation: parse, check, count tokens, fingerprint - each line once.

A chunk is a byte range of the file that starts and ends on line boundaries. Workers return
compact arrays and the issues they found with chunk-relative line numbers; the parent shifts them.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from openai_ft._jsonl import loads
from openai_ft.dataset import quality
from openai_ft.dataset.tokens import _counter
from openai_ft.dataset.validate_fast import SimpleCounter, fast_loads, simple_messages
from openai_ft.dataset.validate_rules import check_example
from openai_ft.dataset.validate_types import Issue


@dataclass(frozen=True)
class ChunkTask:
    """A byte range of a file to scan."""

    path: str
    start: int
    end: int
    method: str
    encoding: str
    context_limit: int
    local_hash: bool = True


@dataclass
class ChunkResult:
    """What a worker found in one chunk (line numbers relative to the chunk's first line)."""

    lines: int = 0
    examples: int = 0
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    line_no: array[int] = field(default_factory=lambda: array("q"))
    totals: array[int] = field(default_factory=lambda: array("q"))
    assistant: array[int] = field(default_factory=lambda: array("q"))
    exact: array[int] = field(default_factory=lambda: array("q"))
    near: array[int] = field(default_factory=lambda: array("q"))
    system: array[int] = field(default_factory=lambda: array("Q"))
    replies: Counter[str] = field(default_factory=Counter)
    long_replies: int = 0
    short: list[tuple[int, str]] = field(default_factory=list)


def _final_reply(obj: dict[str, Any], method: str) -> str | None:
    if method == "reinforcement":
        return None
    out = obj.get("preferred_output" if method == "dpo" else "messages")
    msgs: list[Any] = out if isinstance(out, list) else []
    for msg in reversed(msgs):
        if isinstance(msg, dict) and msg.get("role") == "assistant":
            content = msg.get("content")
            return content.strip() if isinstance(content, str) else None
    return None


def _system_prompt(obj: dict[str, Any], method: str) -> int:
    msgs = obj.get("messages")
    if method == "dpo" and isinstance(obj.get("input"), dict):
        msgs = obj["input"].get("messages")
    if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict):
        first = msgs[0]
        if first.get("role") in ("system", "developer") and isinstance(first.get("content"), str):
            return quality.text_hash(first["content"])
    return 0


def _all_zero_weight(obj: dict[str, Any]) -> bool:
    msgs = obj.get("messages")
    turns = (
        [m for m in msgs if isinstance(m, dict) and m.get("role") == "assistant"]
        if isinstance(msgs, list)
        else []
    )
    return bool(turns) and all(m.get("weight", 1) == 0 for m in turns)


class Scanner:
    """Scans examples one at a time into a :class:`ChunkResult`.

    ``local_hash`` fingerprints lines with Python's seeded ``hash`` (several times cheaper than
    blake2b), valid only among processes forked from one parent; otherwise blake2b is used.
    """

    def __init__(
        self,
        method: str,
        encoding: str,
        context_limit: int,
        *,
        full: bool = True,
        local_hash: bool = True,
    ) -> None:
        self.method = method
        self.full = full  # False: format rules only (no tokens, no quality scans)
        self.counter = _counter(encoding) if full else None
        self.limit = context_limit
        self.local_hash = local_hash
        self.result = ChunkResult()
        simple = self.counter is not None and method == "supervised"
        self.fast = SimpleCounter(self.counter) if simple else None  # type: ignore[arg-type]
        self.fast_loads = fast_loads if simple else None
        self._misses = 0

    def feed_bytes(self, line: int, raw: bytes) -> None:
        """Decode, parse and scan one physical line."""
        res = self.result
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if self.fast_loads is not None:
            try:
                obj = self.fast_loads(raw)
            except ValueError:
                pass  # the standard path below reports it exactly
            else:
                msgs = simple_messages(obj)
                if msgs is not None and self.fast is not None:
                    res.examples += 1
                    total, assistant, system, reply = self.fast.count(msgs)
                    self._record(line, obj, raw, total, assistant, system, reply, False)
                    return
                self._misses += 1
                if self._misses > 64 and 4 * self._misses > res.examples:
                    self.fast_loads = None  # mostly other shapes: stop parsing twice
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            res.errors.append(
                Issue(
                    line,
                    "invalid_utf8",
                    f"invalid UTF-8 byte 0x{raw[exc.start]:02x} at byte {exc.start + 1}: save the file as UTF-8",
                    None,
                    "error",
                )
            )
            res.examples += 1
            return
        try:
            obj = loads(text)
        except ValueError as exc:
            if not text.strip():  # checked only on failure: a blank line is never valid JSON
                res.errors.append(
                    Issue(
                        line,
                        "empty_line",
                        "empty line: remove it (one JSON object per line)",
                        None,
                        "error",
                    )
                )
                return
            msg = getattr(exc, "msg", str(exc))
            col = getattr(exc, "colno", None)
            where = f" at column {col}" if col else ""
            res.errors.append(
                Issue(line, "invalid_json", f"not valid JSON: {msg}{where}", None, "error")
            )
            res.examples += 1
            return
        self.feed_obj(line, obj, raw)

    def feed_obj(self, line: int, obj: Any, raw: bytes) -> None:
        """Check, count and fingerprint one parsed example (``raw`` is its UTF-8 JSON line)."""
        res = self.result
        res.examples += 1
        if self.fast is not None:
            msgs = simple_messages(obj)
            if msgs is not None:
                counts = self.fast.count(msgs)
                self._record(line, obj, raw, *counts, False)
                return
        check_example(obj, self.method, line, res.errors)
        if self.counter is None:
            return
        counted = self.counter.example(obj, self.method)
        is_dict = isinstance(obj, dict)
        system = _system_prompt(obj, self.method) if is_dict else 0
        reply = _final_reply(obj, self.method) if is_dict else None
        zero = is_dict and self.method == "supervised" and _all_zero_weight(obj)
        self._record(line, obj, raw, counted.total, counted.assistant, system, reply, zero)

    def _record(
        self,
        line: int,
        obj: Any,
        raw: bytes,
        total: int,
        assistant: int,
        system: int,
        reply: str | None,
        zero_weight: bool,
    ) -> None:
        res = self.result
        if self.local_hash:
            exact = hash(raw) | 1
            near = hash(raw.translate(quality.LOWER, quality.NOT_WORD)) | 1
        else:
            exact, near = quality.fingerprints(raw)
        res.line_no.append(line)
        res.totals.append(total)
        res.assistant.append(assistant)
        res.exact.append(exact)
        res.near.append(near)
        res.system.append(system)
        warn = res.warnings
        if total > self.limit:
            warn.append(
                Issue(
                    line,
                    "over_token_limit",
                    f"{total} tokens, over the model's {self.limit}: the service truncates it",
                    None,
                    "warning",
                )
            )
        if not isinstance(obj, dict):
            return
        if zero_weight:
            warn.append(
                Issue(
                    line,
                    "zero_weight_example",
                    "every assistant turn has weight 0: this example trains nothing",
                    "messages",
                    "warning",
                )
            )
        if reply is not None:
            if len(reply) <= quality.LABEL_MAX_CHARS and "\n" not in reply:
                if len(res.replies) <= quality.MAX_TRACKED_REPLIES:
                    res.replies[reply] += 1
                if len(reply) < quality.SHORT_REPLY_CHARS:
                    res.short.append((line, reply))
            else:
                res.long_replies += 1
        quality.scan_sensitive(raw, obj, line, warn)


def scan_chunk(task: ChunkTask) -> ChunkResult:
    """Scan one byte range of a file (runs in a worker process for big files)."""
    scanner = Scanner(task.method, task.encoding, task.context_limit, local_hash=task.local_hash)
    with open(task.path, "rb") as fh:
        fh.seek(task.start)
        data = fh.read(task.end - task.start)
    if task.start == 0 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        scanner.result.errors.append(
            Issue(
                1,
                "utf8_bom",
                "the file starts with a byte-order mark: save it as UTF-8 without BOM",
                None,
                "error",
            )
        )
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    line = 0
    for line, raw in enumerate(parts, 1):
        scanner.feed_bytes(line, raw)
    scanner.result.lines = line
    return scanner.result


def chunk_bounds(path: str, size: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Split a file into byte ranges of about ``chunk_bytes`` that end just after a newline."""
    bounds = []
    with open(path, "rb") as fh:
        start = 0
        while start < size:
            end = start + chunk_bytes
            if end >= size:
                end = size
            else:
                fh.seek(end)
                fh.readline()
                end = min(fh.tell(), size)
            bounds.append((start, end))
            start = end
    return bounds
