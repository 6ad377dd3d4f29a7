"""Walk JSON Lines: the parsed value of each non-blank line, with the line number a user sees."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from openai_ft.errors import InputError

NESTED_TOO_DEEPLY = "arrays/objects nested too deeply"


def loads(text: str | bytes) -> Any:
    """``json.loads``, where nesting too deep for the parser is a ``JSONDecodeError`` too.

    The standard parser recurses once per ``[`` or ``{`` and raises ``RecursionError`` on a
    line of many thousand brackets; to a reader of a data file that is just invalid JSON.
    """
    try:
        return json.loads(text)
    except RecursionError:
        doc = text if isinstance(text, str) else text.decode("utf-8", "replace")
        raise json.JSONDecodeError(NESTED_TOO_DEEPLY, doc, 0) from None


def jsonl_values(
    lines: Iterable[str], bad_json: Callable[[int, json.JSONDecodeError], InputError]
) -> Iterator[tuple[int, Any]]:
    """``(1-based line number, value)`` per non-blank line; a line that is not JSON raises
    ``bad_json(number, error)`` (each reader words its own one-line message)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = loads(line)
        except json.JSONDecodeError as exc:
            raise bad_json(number, exc) from None
        yield number, value
