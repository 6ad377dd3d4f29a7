"""Fault scripts from a JSON or TOML file, for ``openai-ft serve --faults FILE``.

JSON: a list of rules (or ``{"faults": [...]}``); TOML: ``[[faults]]`` tables. Each rule::

    {"kind": "503", "path": "/v1/files$", "method": "POST", "every": 3}

``kind`` is one of 500, 503, 429, drop, slow; ``path`` is a regex searched in the request path;
``method``, ``times``, ``every``, ``nth`` and ``delay_ms`` (for ``slow``) are optional. The
meaning of each key is that of :class:`openai_ft.local.faults.FaultRule`.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from openai_ft.errors import InputError
from openai_ft.local.faults import FAULT_KINDS, FaultRule

_INT_KEYS = ("times", "every", "nth")
_KEYS = ("kind", "path", "method", "delay_ms", *_INT_KEYS)
_EXAMPLE = '[{"kind": "503", "path": "/v1/files$", "every": 3}]'


def load_fault_rules(path: Path) -> list[FaultRule]:
    """The rules of a JSON or TOML fault script; InputError naming the file and rule otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such fault script", tip=f"write one, e.g. {_EXAMPLE}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the fault script: {exc}") from None
    data: Any
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text).get("faults")
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{path}: not valid TOML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}:{exc.lineno}: not valid JSON: {exc.msg}",
                tip=f"a fault script is a JSON list of rules, e.g. {_EXAMPLE}",
            ) from None
        if isinstance(data, dict):
            data = data.get("faults")
    if not isinstance(data, list) or not data:
        raise InputError(
            f"{path}: expected a non-empty list of fault rules",
            tip=f"JSON: {_EXAMPLE}; TOML: [[faults]] tables",
        )
    return [_rule(path, i, item) for i, item in enumerate(data, 1)]


def _rule(path: Path, number: int, item: Any) -> FaultRule:
    where = f"{path}: fault {number}"
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected an object with a 'kind', got {type(item).__name__}")
    unknown = sorted(set(item) - set(_KEYS))
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(unknown)}", tip=f"known keys: {', '.join(_KEYS)}"
        )
    kind = str(item.get("kind", ""))
    if kind not in FAULT_KINDS:
        raise InputError(
            f"{where}: 'kind' is {item.get('kind')!r}", tip=f"use one of {', '.join(FAULT_KINDS)}"
        )
    regex = item.get("path", "")
    if not isinstance(regex, str):
        raise InputError(f"{where}: 'path' must be a string (a regular expression)")
    try:
        re.compile(regex)
    except re.error as exc:
        raise InputError(f"{where}: 'path' is not a valid regular expression: {exc}") from None
    method = item.get("method")
    if method is not None and not isinstance(method, str):
        raise InputError(f"{where}: 'method' must be a string such as \"POST\"")
    counts: dict[str, int | None] = {}
    for key in _INT_KEYS:
        value = item.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise InputError(f"{where}: '{key}' must be a positive integer, got {value!r}")
        counts[key] = value
    delay = item.get("delay_ms", 2000.0)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
        raise InputError(f"{where}: 'delay_ms' must be a number >= 0, got {delay!r}")
    return FaultRule(
        kind,
        regex,
        method=method.upper() if method else None,
        times=counts["times"],
        every=counts["every"],
        nth=counts["nth"],
        delay_ms=float(delay),
    )
