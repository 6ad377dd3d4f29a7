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
    converts; it accepts a lone surrogate escape, which no UTF-8 text can hold. To a reader of a
    data file all three are just invalid JSON.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        problem = NESTED_TOO_DEEPLY
    except ValueError:
        problem = f"a number of more than {sys.get_int_max_str_digits():,} digits"
    else:
        escaped = ("\\u" if isinstance(text, str) else b"\\u") in text  # type: ignore[operator]
        lone = _lone_surrogate(value) if escaped else None
        if lone is None:
            return value
        problem = f"\\u{ord(lone):04x} is half of a UTF-16 surrogate pair, not a character"
    doc = text if isinstance(text, str) else text.decode("utf-8", "replace")
    raise json.JSONDecodeError(problem, doc, 0) from None


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in a parsed value's strings (None when there is none).

    json accepts an escape such as ``\\ud800`` alone, but it is no character: the text cannot
    be encoded as UTF-8, so sending it later fails. Only lines with ``\\u`` escapes pay this.
    """
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        return str(exc.object[exc.start])
    except RecursionError:  # nested deeper than dumps goes, but parsed: its strings are not read
        return None
    return None


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
