"""Rows already in training format but of the wrong shape are one ERROR line naming the row
(exit 1: the data is invalid), not an internal error in the split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openai_ft.cli import main

GOOD_CHAT = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
GOOD_DPO = {
    "input": {"messages": [{"role": "user", "content": "q"}]},
    "preferred_output": [{"role": "assistant", "content": "a"}],
    "non_preferred_output": [{"role": "assistant", "content": "b"}],
}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"messages": 1}, "'messages' must be a JSON array, not int"),
        ({"messages": {"role": "user"}}, "'messages' must be a JSON array, not dict"),
        (
            {"input": 1, "preferred_output": [], "non_preferred_output": []},
            "'input' must be a JSON object, not int",
        ),
        (
            {"input": {"messages": []}, "preferred_output": 2, "non_preferred_output": []},
            "'preferred_output' must be a JSON array, not int",
        ),
    ],
)
def test_wrong_shapes_name_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], row: dict[str, object], expected: str
) -> None:
    good = GOOD_DPO if "input" in row else GOOD_CHAT
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n", "utf-8")
    assert main(["prepare", str(path), "--out-dir", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"ERROR {path}: line 2: {expected}", err
    assert len(err) == 2 and err[1].startswith("TIP ")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{text:>{width}}", "KeyError: 'width'"),
        ("{text:d}", "ValueError: Unknown format code 'd'"),
        ("{text!z}", "ValueError: Unknown conversion specifier z"),
    ],
)
def test_a_template_that_cannot_be_filled_in_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str, expected: str
) -> None:
    """These passed the placeholder check and failed on the first row (an internal error)."""
    table = tmp_path / "t.csv"
    table.write_text("text,label\n" + "".join(f"ticket {i},l{i % 2}\n" for i in range(12)))
    args = [
        "prepare",
        str(table),
        "--out-dir",
        str(tmp_path / "o"),
        "--template",
        template,
        "--assistant",
        "label",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"ERROR --template cannot be filled in: {expected}"), err


def test_a_template_with_a_valid_format_still_works(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("text,label\n" + "".join(f"ticket {i},l{i % 2}\n" for i in range(12)))
    out = tmp_path / "o"
    args = [
        "prepare",
        str(table),
        "--out-dir",
        str(out),
        "--template",
        "T:{text:>10}|{text!r}",
        "--assistant",
        "label",
    ]
    assert main(args) == 0
    first = json.loads((out / "train.jsonl").read_text("utf-8").splitlines()[0])
    assert first["messages"][0]["content"].startswith("T:")
