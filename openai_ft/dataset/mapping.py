"""Turn table rows into training examples: chat (supervised) or preference (DPO) format.

A row is mapped by column options (``--user/--assistant``, a ``{column}`` template, or
``--prompt/--chosen/--rejected``), or passed through when it is already in the training format
(a ``messages`` column, or ``input``/``preferred_output``/``non_preferred_output``).
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openai_ft._jsonl import loads
from openai_ft.errors import DataError, InputError, UsageError

Example = dict[str, Any]
_CHAT_KEYS = ("messages", "tools", "parallel_tool_calls", "functions")
_DPO_KEYS = ("input", "preferred_output", "non_preferred_output")
# The shapes the split reads from a row already in training format (validation checks the rest).
_SHAPES: dict[str, type] = {
    "messages": list,
    "input": dict,
    "preferred_output": list,
    "non_preferred_output": list,
}


@dataclass(frozen=True)
class Mapping:
    """Which columns become which parts of an example (all optional; see :func:`make_mapping`)."""

    user: str | None = None
    assistant: str | None = None
    system: str | None = None
    system_col: str | None = None
    template: str | None = None
    prompt: str | None = None
    chosen: str | None = None
    rejected: str | None = None

    @property
    def method(self) -> str:
        """``dpo`` when preference columns are mapped, else ``supervised``."""
        return "dpo" if self.chosen else "supervised"

    @property
    def passthrough(self) -> bool:
        """True when no column is mapped: rows must already be training examples."""
        return not (
            self.user
            or self.assistant
            or self.template
            or self.prompt
            or self.chosen
            or self.rejected
        )

    @property
    def template_fields(self) -> tuple[str, ...]:
        """The column names a template refers to, in order, without repeats."""
        if not self.template:
            return ()
        names: list[str] = []
        for _, name, _, _ in string.Formatter().parse(self.template):
            if name is not None and name not in names:
                names.append(name)
        return tuple(names)

    def content_columns(self) -> tuple[str, ...]:
        """Columns whose cells make up the example (a row with all of them empty is dropped)."""
        prompt_cols = (
            self.template_fields
            if self.template
            else tuple(c for c in (self.user, self.prompt) if c)
        )
        others = tuple(c for c in (self.assistant, self.chosen, self.rejected) if c)
        return prompt_cols + others

    def to_dict(self) -> dict[str, str]:
        """The options that are set (for the manifest)."""
        return {k: v for k, v in vars(self).items() if v is not None}


def make_mapping(**options: str | None) -> Mapping:
    """Check that the column options fit together and return the :class:`Mapping`."""
    m = Mapping(**options)
    if m.system and m.system_col:
        raise UsageError("--system and --system-col are both set", tip="use one of them")
    if m.template is not None:
        if not m.template.strip():
            raise UsageError("--template is empty", tip='write it like "Order {order_id}: {text}"')
        try:
            fields = m.template_fields
        except ValueError as exc:
            raise UsageError(
                f"--template is not a valid template: {exc}",
                tip="escape literal braces as {{ and }}",
            ) from None
        if not fields or any(f == "" or f.isdigit() or "." in f or "[" in f for f in fields):
            raise UsageError(
                "--template needs named {column} placeholders",
                tip='write it like "Order {order_id}: {text}"',
            )
        try:  # a bad !conversion or :format (or a {field} nested in one) fails on every row
            m.template.format_map(dict.fromkeys(fields, ""))
        except (KeyError, ValueError, IndexError) as exc:
            raise UsageError(
                f"--template cannot be filled in: {type(exc).__name__}: {exc}",
                tip='use plain {column} placeholders, like "Order {order_id}: {text}"',
            ) from None
    dpo = (m.prompt, m.chosen, m.rejected)
    if any(dpo):
        if m.user or m.assistant:
            raise UsageError(
                "--prompt/--chosen/--rejected (DPO) cannot be combined with --user/--assistant"
            )
        if not (m.chosen and m.rejected and (m.prompt or m.template)):
            raise UsageError(
                "DPO needs --prompt (or --template), --chosen and --rejected",
                tip="pass all three columns",
            )
        if m.prompt and m.template:
            raise UsageError(
                "--prompt and --template are both set", tip="use one of them for the prompt"
            )
        return m
    if m.user and m.template:
        raise UsageError(
            "--user and --template are both set", tip="use one of them for the user message"
        )
    if (m.user or m.template) and not m.assistant:
        raise UsageError(
            "--assistant is missing", tip="name the column that holds the reply: --assistant COL"
        )
    if m.assistant and not (m.user or m.template):
        raise UsageError(
            "--user is missing",
            tip="name the column with the user message (--user COL) or pass --template",
        )
    if m.passthrough and (m.system or m.system_col):
        raise UsageError(
            "--system/--system-col need --user/--assistant (or --prompt/--chosen/--rejected)"
        )
    return m


def check_columns(mapping: Mapping, columns: Sequence[str], path: str) -> None:
    """Fail with one line when a mapped column is not in the header (or rows are not examples)."""
    have = list(columns)
    listing = ", ".join(repr(c) for c in have[:30])
    if mapping.passthrough:
        if "messages" in have or all(k in have for k in _DPO_KEYS):
            return
        raise InputError(
            f"{path}: no column mapping given and no 'messages' column (columns: {listing})",
            tip="map columns with --user COL --assistant COL, or --prompt/--chosen/--rejected",
        )
    wanted = [c for c in (mapping.system_col, *mapping.content_columns()) if c]
    for col in wanted:
        if col not in have:
            raise InputError(
                f"{path}: header: no column {col!r} (columns: {listing})",
                tip="check the column name (case matters)",
            )


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return not value.strip()
    return type(value).__name__ in ("NAType", "NaTType")


def _text(value: Any, where: str, col: str) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | int | float):
        return str(value)
    raise InputError(
        f"{where}, column {col!r}: expected text, found {type(value).__name__}",
        tip="put plain text in this column",
    )


def _missing_obj(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _strip_contents(value: Any) -> Any:
    """Strip surrounding whitespace of every string ``content`` in nested messages."""
    if isinstance(value, list):
        return [_strip_contents(v) for v in value]
    if isinstance(value, dict):
        return {
            k: (v.strip() if k == "content" and isinstance(v, str) else _strip_contents(v))
            for k, v in value.items()
        }
    return value


def passthrough_method(columns: Sequence[str]) -> str:
    """The method of a table already in training format: ``supervised`` (messages) or ``dpo``."""
    return "supervised" if "messages" in columns else "dpo"


def _cell_json(value: Any, where: str, key: str) -> Any:
    """A CSV/TSV/Excel cell holds the training field as JSON text; other formats hold the value."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return loads(text)  # deep nesting is a JSONDecodeError too, not a RecursionError
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where}, column {key!r}: not valid JSON ({exc.msg} at character {exc.pos + 1})",
            tip=f"the cell must hold the JSON of '{key}', e.g. a list of messages",
        ) from None


def _passthrough(record: dict[str, Any], method: str, where: str) -> Example | None:
    keys = _CHAT_KEYS if method == "supervised" else _DPO_KEYS
    out = {}
    for k in keys:
        if k in record and not _missing_obj(record[k]):
            value = _cell_json(record[k], where, k)
            if value is not None:
                out[k] = _strip_contents(_plain(value))
    if not out or (method == "supervised" and not out.get("messages")):
        return None
    for k, value in out.items():
        want = _SHAPES.get(k)
        if want is not None and not isinstance(value, want):
            raise DataError(
                f"{where}: {k!r} must be a JSON {'object' if want is dict else 'array'},"
                f" not {type(value).__name__}",
                tip="fix the row (see `openai-ft validate --help` for the training formats)",
            )
    return out


def _plain(value: Any) -> Any:
    """numpy scalars/arrays (from Parquet) -> plain Python values that json can write."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        return _plain(value.tolist())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def map_row(mapping: Mapping, record: dict[str, Any], where: str, method: str) -> Example | None:
    """The example for one row, or None when the row is empty. ``where`` is "FILE: row N"."""
    if mapping.passthrough:
        return _passthrough(record, method, where)
    content = mapping.content_columns()
    if all(_missing(record.get(c)) for c in content):
        return None
    for col in (*content, *((mapping.system_col,) if mapping.system_col else ())):
        if _missing(record.get(col)):
            raise InputError(
                f"{where}, column {col!r}: empty cell", tip="fill it in or delete the row"
            )
    messages: list[dict[str, Any]] = []
    system = mapping.system.strip() if mapping.system else None
    if mapping.system_col:
        system = _text(record[mapping.system_col], where, mapping.system_col)
    if system:
        messages.append({"role": "system", "content": system})
    if mapping.template:
        values = {f: _text(record[f], where, f) for f in mapping.template_fields}
        user = mapping.template.format_map(values).strip()
    else:
        col = mapping.user or mapping.prompt
        assert col is not None
        user = _text(record[col], where, col)
    messages.append({"role": "user", "content": user})
    if mapping.method == "dpo":
        assert mapping.chosen and mapping.rejected
        return {
            "input": {"messages": messages},
            "preferred_output": [
                {
                    "role": "assistant",
                    "content": _text(record[mapping.chosen], where, mapping.chosen),
                }
            ],
            "non_preferred_output": [
                {
                    "role": "assistant",
                    "content": _text(record[mapping.rejected], where, mapping.rejected),
                }
            ],
        }
    assert mapping.assistant
    messages.append(
        {"role": "assistant", "content": _text(record[mapping.assistant], where, mapping.assistant)}
    )
    return {"messages": messages}
