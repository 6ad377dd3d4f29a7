"""Quality warnings: sensitive data, duplicates, system prompts, short replies, label imbalance.

Line-local scans run inside the validation workers; the file-wide checks run on compact
per-example fingerprints (hashes), never on the examples themselves.

Definitions: an exact duplicate has the same bytes on its line; a near duplicate has the same
text once case, whitespace and punctuation are removed. Replies "look like class labels" when
at least 95% of final assistant replies are one short line and there are few distinct values.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import compress
from typing import Any

from openai_ft.dataset.validate_types import Issue

LABEL_MAX_CHARS = 40
LABEL_SHARE = 0.95
IMBALANCE_RATIO = 10.0
SHORT_REPLY_CHARS = 3
MAX_TRACKED_REPLIES = 1000

_API_KEY = re.compile(
    r"(?<![A-Za-z0-9])(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})"
)
_KEY_HINTS = ("sk-", "AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AIza")
# The pre-filter keeps digits and the rare characters every key pattern contains: '@' (e-mail),
# '-' (sk-, xox?-, PRIVATE KEY-----), '_' (gh?_), 'K' (AKIA), 'z' (AIza).
_HINTS = b"@-_Kz"
_NOT_KEPT = bytes(b for b in range(256) if not (48 <= b <= 57 or b in _HINTS))
# Near-duplicate normalisation as one bytes.translate: ASCII lower-case, drop ASCII non-word bytes.
LOWER = bytes.maketrans(bytes(range(65, 91)), bytes(range(97, 123)))
NOT_WORD = bytes(b for b in range(128) if not chr(b).isalnum()) + b"_"
MIN_DIGITS = 9  # a phone or card number has at least this many digits
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_DIGIT_RUN = re.compile(r"\d[\d ().+-]{8,}\d")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{3}[ .-])\d{3,4}[ .-]\d{4}(?!\w)"
    r"|(?<![\w+])\+\d{1,3}(?:[ .-]?\d{2,5}){2,4}(?!\w)"
    # mainland China mobile numbers, usually written as 11 digits in a row
    r"|(?<![\d+])1[3-9]\d{9}(?!\d)"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_KINDS = (
    ("sensitive_api_key", "an API key or token"),
    ("sensitive_private_key", "a private key"),
    ("sensitive_email", "an e-mail address"),
    ("sensitive_phone", "a phone number"),
    ("sensitive_card_number", "a payment card number (passes the Luhn check)"),
)


def luhn_ok(digits: str) -> bool:
    """True when a 13-19 digit string passes the Luhn checksum of payment cards."""
    if not 13 <= len(digits) <= 19 or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _kinds_in(text: str) -> list[str]:
    found = []
    if any(hint in text for hint in _KEY_HINTS) and _API_KEY.search(text):
        found.append("sensitive_api_key")
    if "PRIVATE KEY-----" in text and _PRIVATE_KEY.search(text):
        found.append("sensitive_private_key")
    if "@" in text and _EMAIL.search(text):
        found.append("sensitive_email")
    if _DIGIT_RUN.search(text):
        if _PHONE.search(text):
            found.append("sensitive_phone")
        for m in _CARD.finditer(text):
            if luhn_ok(m.group().replace(" ", "").replace("-", "")):
                found.append("sensitive_card_number")
                break
    return found


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def maybe_sensitive(raw: bytes) -> bool:
    """A cheap pre-filter on a raw line: one translate keeps digits and hint characters, and the
    substring tests run only when their hint character is present."""
    kept = raw.translate(None, _NOT_KEPT)
    if b"@" in kept:
        return True
    hints = 0
    if b"-" in kept:
        if b"sk-" in raw or b"xox" in raw or b"PRIVATE KEY" in raw:
            return True
        hints += kept.count(b"-")
    if b"_" in kept:
        if b"gh" in raw and any(h in raw for h in (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_")):
            return True
        hints += kept.count(b"_")
    if b"K" in kept:
        if b"AKIA" in raw:
            return True
        hints += kept.count(b"K")
    if b"z" in kept:
        if b"AIza" in raw:
            return True
        hints += kept.count(b"z")
    return len(kept) - hints >= MIN_DIGITS


def scan_sensitive(raw: bytes, example: Any, line: int | None, out: list[Issue]) -> None:
    """Warn about secrets and personal data in one example; the value itself is never repeated."""
    if not maybe_sensitive(raw):  # precise per-field scans only when the line may hold some
        return
    seen: set[tuple[str, str]] = set()
    labels = dict(_KINDS)
    for field, text in _strings(example, ""):
        for code in _kinds_in(text):
            if (code, field) not in seen:
                seen.add((code, field))
                out.append(
                    Issue(
                        line,
                        code,
                        f"looks like {labels[code]}: remove or mask it before uploading to a third party",
                        field,
                        "warning",
                    )
                )


def fingerprints(raw: bytes) -> tuple[int, int]:
    """(exact, near) signed 64-bit hashes of one line: its bytes, and its text without case, ASCII
    whitespace or punctuation (bytes.translate: far cheaper than a regex per line). Portable
    across processes; the scanner uses the seeded built-in ``hash`` when its workers are forked."""
    exact = hashlib.blake2b(raw, digest_size=8).digest()
    near = hashlib.blake2b(raw.translate(LOWER, NOT_WORD), digest_size=8).digest()
    return (
        int.from_bytes(exact, "little", signed=True) | 1,
        int.from_bytes(near, "little", signed=True) | 1,
    )


def text_hash(text: str) -> int:
    """A non-zero 64-bit hash of a string (0 means 'none' in the fingerprint arrays)."""
    return (
        int.from_bytes(
            hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
        )
        | 1
    )


class FileQuality:
    """Accumulates per-example fingerprints of one file and produces its file-wide warnings."""

    def __init__(self) -> None:
        self.exact: dict[int, int] = {}
        self.near: dict[int, int] = {}
        self.system: Counter[int] = Counter()
        self.system_preview: dict[int, str] = {}
        self.no_system = array("q")
        self.sys_lines = array("q")
        self.sys_hashes = array("Q")
        self.replies: Counter[str] = Counter()
        self.long_replies = 0
        self.overflow = False
        self.short: list[tuple[int, str]] = []
        self.warnings: list[Issue] = []

    def add(self, line: int, exact: int, near: int, system: int) -> None:
        """Record one example; warns at once about exact and near duplicates of earlier lines."""
        first = self.exact.setdefault(exact, line)
        if first != line:
            self.warnings.append(
                Issue(line, "duplicate", f"exact duplicate of line {first}", None, "warning")
            )
        else:
            first = self.near.setdefault(near, line)
            if first != line:
                self.warnings.append(
                    Issue(
                        line,
                        "near_duplicate",
                        f"same text as line {first} apart from case, spaces or punctuation",
                        None,
                        "warning",
                    )
                )
        if system:
            self.system[system] += 1
            self.sys_lines.append(line)
            self.sys_hashes.append(system)
        else:
            self.no_system.append(line)

    def add_many(
        self,
        lines: Sequence[int],
        exact: Sequence[int],
        near: Sequence[int],
        system: Sequence[int],
    ) -> None:
        """Record a chunk of examples in line order; same result as :meth:`add` one by one.

        A chunk with no repeat among its fingerprints or with earlier ones (the usual case) is
        merged with dict/Counter operations in C; any repeat falls back to the per-line path."""
        exact_new = dict(zip(exact, lines, strict=True))
        near_new = dict(zip(near, lines, strict=True))
        if (
            len(exact_new) == len(lines) == len(near_new)
            and self.exact.keys().isdisjoint(exact_new)
            and self.near.keys().isdisjoint(near_new)
        ):
            self.exact.update(exact_new)
            self.near.update(near_new)
            with_sys = [bool(h) for h in system]
            self.system.update(compress(system, with_sys))
            self.sys_lines.extend(compress(lines, with_sys))
            self.sys_hashes.extend(compress(system, with_sys))
            self.no_system.extend(compress(lines, [not w for w in with_sys]))
            return
        for line, e, n, h in zip(lines, exact, near, system, strict=True):
            self.add(line, e, n, h)

    def add_replies(
        self, replies: Counter[str], long_replies: int, short: list[tuple[int, str]]
    ) -> None:
        """Merge the reply statistics of a chunk."""
        self.long_replies += long_replies
        self.short.extend(short)
        if not self.overflow:
            self.replies.update(replies)
            self.overflow = len(self.replies) > MAX_TRACKED_REPLIES

    def looks_like_labels(self) -> bool:
        """True when the final replies look like class labels."""
        n = sum(self.replies.values())
        if self.overflow or n < 10 or n < LABEL_SHARE * (n + self.long_replies):
            return False
        return len(self.replies) <= max(2, min(50, n // 10))

    def finish(self) -> list[Issue]:
        """All warnings of the file (duplicates first, then file-wide checks)."""
        out = list(self.warnings)
        labels = self.looks_like_labels()
        for line, text in self.short:
            if not text or not labels:
                shown = "empty" if not text else f"only {len(text)} character(s)"
                out.append(
                    Issue(
                        line,
                        "short_reply",
                        f"assistant reply is {shown}: it teaches little",
                        None,
                        "warning",
                    )
                )
        out.extend(self._system_prompts())
        if labels and len(self.replies) >= 2:
            (top, most), *_, (low, least) = self.replies.most_common()
            if most / least >= IMBALANCE_RATIO:
                counts = ", ".join(f"{k!r}: {v}" for k, v in self.replies.most_common(10))
                out.append(
                    Issue(
                        None,
                        "label_imbalance",
                        f"replies look like labels and are imbalanced ({counts}); {top!r} is {most / least:.0f}x {low!r}: add examples of rare labels",
                        None,
                        "warning",
                    )
                )
        return out

    def _system_prompts(self) -> list[Issue]:
        out: list[Issue] = []
        with_sys = sum(self.system.values())
        total = with_sys + len(self.no_system)
        if with_sys and self.no_system and with_sys >= total / 2:
            for line in self.no_system:
                out.append(
                    Issue(
                        line,
                        "missing_system_prompt",
                        f"no system prompt, while {with_sys} of {total} examples have one",
                        "messages[0]",
                        "warning",
                    )
                )
        if len(self.system) > 1:
            top, count = self.system.most_common(1)[0]
            if count >= 0.8 * with_sys:
                for line, h in zip(self.sys_lines, self.sys_hashes, strict=True):
                    if h != top:
                        out.append(
                            Issue(
                                line,
                                "inconsistent_system_prompt",
                                f"system prompt differs from the one {count} of {with_sys} examples use",
                                "messages[0].content",
                                "warning",
                            )
                        )
        return out
