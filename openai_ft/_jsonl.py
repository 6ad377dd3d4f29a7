"""Walk JSON Lines: the parsed value of each non-blank line, with the line number a user sees."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from openai_ft.errors import InputError

NESTED_TOO_DEEPLY = "arrays/objects nested too deeply"


def loads(text: str | bytes) -> Any:
    """``json.loads``, where what the parser refuses for its own limits is a ``JSONDecodeError``.

    The standard parser recurses once per ``[`` or ``{`` and raises ``RecursionError`` on a
    line of many thousand brackets, and ``ValueError`` on an integer of more digits than Python
    converts; to a reader of a data file both are just invalid JSON.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        problem = NESTED_TOO_DEEPLY
    except ValueError:
        problem = f"a number of more than {sys.get_int_max_str_digits():,} digits"
    doc = text if isinstance(text, str) else text.decode("utf-8", "replace")
    raise json.JSONDecodeError(problem, doc, 0) from None


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
