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
