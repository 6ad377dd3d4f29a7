"""How aliases are shown: one entry as two lines (the model id in full, then its facts)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openai_ft.aliases import AliasEntry

INDENT = 4
WIDTH = 80  # the facts line is cut to fit; --json has everything
ELLIPSIS = "…"


def when(ts: float) -> str:
    """A timestamp as ``2026-11-29 13:40 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _facts(e: AliasEntry, width: int, history: bool) -> str:
    parts = [e.backend, when(e.set_at), e.set_by or "unknown"]
    if history:
        parts.append(f"was {e.previous_model}" if e.previous_model else "first value")
    if e.reason:
        parts.append(e.reason)
    line = " " * INDENT + "  ".join(parts)
    return line if len(line) <= width else line[: width - 1] + ELLIPSIS


def alias_lines(entries: Sequence[AliasEntry], width: int | None = None) -> list[str]:
    """``alias list``: each alias and its model (never shortened: it is copied into code)."""
    cols = min(width or WIDTH, WIDTH)
    lines: list[str] = []
    for e in entries:
        lines.append(f"{e.name}  {e.model}")
        lines.append(_facts(e, cols, history=False))
    return lines


def history_lines(entries: Sequence[AliasEntry], width: int | None = None) -> list[str]:
    """``alias history``: every value, oldest first, with who, when, why and the model before."""
    cols = min(width or WIDTH, WIDTH)
    lines: list[str] = []
    for e in entries:
        lines.append(e.model)
        lines.append(_facts(e, cols, history=True))
    return lines
