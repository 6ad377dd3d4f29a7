"""Walk JSON Lines: the parsed value of each non-blank line, with the line number a user sees."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from openai_ft.errors import InputError


def jsonl_values(
    lines: Iterable[str], bad_json: Callable[[int, json.JSONDecodeError], InputError]
) -> Iterator[tuple[int, Any]]:
    """``(1-based line number, value)`` per non-blank line; a line that is not JSON raises
    ``bad_json(number, error)`` (each reader words its own one-line message)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise bad_json(number, exc) from None
        yield number, value
