"""The ``[eval]`` table of a run config (``eval --config run.toml``): known keys and their types.

A typo must not silently evaluate with a default (``scorer = ["json_schema:s.json"]`` would
otherwise score with ``exact``), so unknown keys and wrong types are refused in one line.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from openai_ft.errors import UsageError

_STR_LIST = "a list of strings"
# key -> (accepted Python types, what to write, lower bound or None)
EVAL_KEYS: dict[str, tuple[tuple[type, ...], str, float | None]] = {
    "data": ((str,), "a path string", None),
    "models": ((list,), _STR_LIST, None),
    "scorers": ((list,), _STR_LIST, None),
    "checkpoints": ((str,), "a job id string", None),
    "limit": ((int,), "a whole number >= 1", 1),
    "temperature": ((int, float), "a number from 0 to 2", 0),
    "max_completion_tokens": ((int,), "a whole number >= 1", 1),
    "seed": ((int,), "a whole number >= 0", 0),
    "n": ((int,), "a whole number >= 1", 1),
    "concurrency": ((int,), "a whole number >= 1", 1),
    "rpm": ((int, float), "a number > 0", 0),
    "tpm": ((int, float), "a number > 0", 0),
    "retry_errors": ((bool,), "true or false", None),
    "batch": ((bool,), "true or false", None),
    "rubric": ((str,), "a path string", None),
    "fail_under": ((int, float), "a number from 0 to 1", 0),
    "max_failures": ((int,), "a whole number >= 0", 0),
    "require_better": ((bool,), "true or false", None),
}


def _has_type(value: Any, types: tuple[type, ...]) -> bool:
    # bool is an int in Python; a number key must not accept true/false
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def _bad(where: str, key: str, what: str) -> UsageError:
    return UsageError(f"{where} [eval]: {key!r} must be {what}", tip="fix the run config file")


def eval_settings(cfg: Mapping[str, Any], where: str = "run config") -> dict[str, Any]:
    """The checked ``[eval]`` table of a run config (empty when there is none)."""
    table: Any = cfg.get("eval", {})
    if not isinstance(table, Mapping):
        raise UsageError(f"{where}: 'eval' must be a table", tip="write it as [eval]")
    out: dict[str, Any] = {}
    value: Any
    for key, value in table.items():
        if key not in EVAL_KEYS:
            close = difflib.get_close_matches(key, list(EVAL_KEYS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"{where} [eval]: unknown key {key!r}",
                tip=f"{hint}known keys: {', '.join(EVAL_KEYS)}",
            )
        types, what, low = EVAL_KEYS[key]
        if not _has_type(value, types):
            raise _bad(where, key, what)
        if types == (list,) and not all(isinstance(x, str) for x in value):
            raise _bad(where, key, what)
        if low is not None and (value < low or (key in ("rpm", "tpm") and value <= 0)):
            raise _bad(where, key, what)
        if isinstance(value, float) and not math.isfinite(value):  # TOML allows nan and inf
            raise _bad(where, key, what)
        if (key == "temperature" and value > 2) or (key == "fail_under" and value > 1):
            raise _bad(where, key, what)
        out[key] = value
    return out
