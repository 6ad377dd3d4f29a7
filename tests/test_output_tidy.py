"""Output a person reads in a file (issue 10): no trailing spaces (prepare's "written to"
table, the validation report), no empty histogram bins, counts pluralized (1 example)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from openai_ft.cli import main
from openai_ft.console import plural
from tests.jobs_helpers import chat_rows, write_rows

DATA = Path(__file__).resolve().parents[1] / "data" / "support_tickets.csv"


def test_prepare_writes_no_trailing_spaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    args = [
        "prepare",
        str(DATA),
        "--user",
        "text",
        "--assistant",
        "intent",
        "--out-dir",
        "out/data",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "written to out/data\n" in text
    assert all(line == line.rstrip() for line in text.splitlines())


def test_the_histogram_leaves_out_empty_bins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    rows = chat_rows(11)
    long = {"messages": [{"role": "user", "content": "word " * 700},
                         {"role": "assistant", "content": "billing"}]}  # fmt: skip
    path = write_rows(tmp_path / "train.jsonl", [*rows, long])
    assert main(["validate", str(path)]) == 0
    text = capsys.readouterr().out
    bins = [line for line in text.splitlines() if re.match(r"^\s+\d+-\d+\s", line)]
    assert len(bins) == 2  # the short examples and the long one, nothing in between
    assert [int(line.split()[-1]) for line in bins] == [11, 1]
    assert all(line == line.rstrip() for line in text.splitlines())
    flat = " ".join(text.split())  # lines wrap at 80 columns
    assert "12 examples, supervised" in flat and "(0 errors, " in flat


def test_counts_are_pluralized() -> None:
    assert [plural(n, "epoch") for n in (1, 2, 1000)] == ["1 epoch", "2 epochs", "1,000 epochs"]
    assert (
        plural(1, "entry", "entries") == "1 entry" and plural(0, "entry", "entries") == "0 entries"
    )
