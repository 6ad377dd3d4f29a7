"""Issue 10: an eval whose answers all came from the ledger shows that it spent nothing, and
apart what those answers cost when first bought; on a terminal eval and validate show a spinner
from their first moment (off one, nothing)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from openai_ft.cli import main
from openai_ft.console import busy
from openai_ft.console.evaluate import STARTING, live_progress, progress_line
from openai_ft.evaluate.runner import Progress
from tests.jobs_helpers import chat_rows, write_rows

BASE = "gpt-4.1-mini-2025-04-14"


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_rerun_from_the_ledger_spent_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    data = write_rows(tmp_path / "test.jsonl", chat_rows(6))
    args = ["eval", "--data", str(data), "--model", BASE]
    assert main([*args, "--json"]) == 0
    [first] = json.loads(capsys.readouterr().out)["models"]
    assert first["from_ledger"] == 0 and first["spent_usd"] == first["cost_usd"] > 0
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "6/6 done (6 from ledger)" in err and "$0.0000 spent" in err
    assert f"(ledger: ${first['cost_usd']:.4f})" in err
    row = next(line for line in out.splitlines() if line.startswith(f"│ {BASE}"))
    assert row.rstrip("│ ").endswith("0.0000")  # the spent $ column: this run paid nothing
    assert (
        f"cost: this run spent $0.0000; 6 answers came from the ledger (they cost"
        f" ${first['cost_usd']:.4f} when first answered)"
    ) in " ".join(out.split())  # the note wraps at 80 columns
    assert main(["report", "latest", "--json"]) == 0
    [again] = json.loads(capsys.readouterr().out)["models"]
    assert again["spent_usd"] == 0 and again["cost_usd"] == first["cost_usd"]
    assert again["from_ledger"] == 6


def _snap(done: int, cached: int, cost: float, spent: float) -> Progress:
    return Progress(6, done, cached, 0, done - cached, 0, 10 * done, done, cost, 1.0, spent)


def test_the_progress_line_tells_spent_from_ledger_cost() -> None:
    fresh = progress_line(_snap(6, 0, 0.012, 0.012))
    assert "$0.0120 spent" in fresh and "ledger:" not in fresh
    mixed = progress_line(_snap(6, 4, 0.012, 0.004))
    assert "(4 from ledger)" in mixed and "$0.0040 spent (ledger: $0.0080)" in mixed


def test_a_spinner_shows_before_the_first_answer_on_a_terminal() -> None:
    from rich.console import Console

    buf = Terminal()
    con = Console(file=buf, force_terminal=True, width=80)
    with live_progress(con) as update:
        started = buf.getvalue()  # nothing has answered yet
        update(_snap(6, 0, 0.01, 0.01))
    assert STARTING in started
    assert "6/6 done" in buf.getvalue()


def test_validate_shows_a_spinner_on_a_terminal_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_rows(tmp_path / "train.jsonl", chat_rows(12))
    term = Terminal()
    with busy("validating x", stream=term):
        assert "validating x" in term.getvalue()  # from the first moment of the block
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main(["validate", str(data)]) == 0
    assert "validating" in term.getvalue() and data.name in term.getvalue()
    monkeypatch.undo()
    assert main(["validate", str(data)]) == 0
    assert "validating" not in capsys.readouterr().err  # a log gets no spinner frames
