"""The eval set loader reads what the table loader reads: BOM, CRLF, U+2028 inside strings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openai_ft.errors import InputError
from openai_ft.evaluate.data import load_examples


def _row(user: str, label: str) -> dict[str, object]:
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": label},
        ]
    }


def test_bom_crlf_and_line_separator_inside_a_string(tmp_path: Path) -> None:
    rows = [_row("first\u2028still the first message", "a"), _row("second", "b")]
    text = "\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\r\n"
    path = tmp_path / "test.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    examples = load_examples(path)
    assert [e.reference for e in examples] == ["a", "b"]
    assert [e.line for e in examples] == [1, 2]
    assert examples[0].prompt[0]["content"] == "first\u2028still the first message"


def test_bad_json_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(_row("ok", "a")) + "\n\n{broken\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"test.jsonl:3: not valid JSON"):
        load_examples(path)
