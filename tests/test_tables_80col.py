"""Tables at 80 columns (issue 10): nothing wider than the terminal, numbers whole, model ids
shortened from the middle so that checkpoints stay apart, each fact shown once; off a terminal
the width is $COLUMNS or 100."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.cells import cell_len

from openai_ft.cli import main
from openai_ft.console import make_console, output_width, shorten_all, shorten_middle
from openai_ft.console.evaluate import render_summary
from openai_ft.console.jobs import table
from openai_ft.evaluate.scorers import get_scorer
from openai_ft.evaluate.summary import format_p, summarize
from openai_ft.local import LocalService
from tests.jobs_helpers import chat_rows, cli_service, train_files

FT = "ft:gpt-4.1-mini-2025-04-14:local:demo:fkz8AfNu65avf4LMuPpDOq1x"
MODELS = ["gpt-4.1-mini-2025-04-14", *(f"{FT}:ckpt-step-{s}" for s in (88, 176, 264)), FT]
LABELS = [f"label_{name}" for name in "abcdefghijklm"]  # 13 labels, as in the demo data


def _frame() -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for k, model in enumerate(MODELS):
        for i in range(52):
            ref = LABELS[i % len(LABELS)]
            right = (i * 7 + k * 11) % 10 < 2 + 2 * k  # later checkpoints are better
            pred = ref if right else LABELS[(i + 1) % len(LABELS)]
            rows.append({
                "example": i, "line": i + 1, "model": model, "question": f"question {i}",
                "reference": ref, "prediction": pred, "status": "ok", "error": None,
                "prompt_tokens": 20, "completion_tokens": 2, "batch": False, "cost_usd": 0.0001,
                "score:exact": float(right), "score:classification": float(right),
            })  # fmt: skip
    return pd.DataFrame(rows)


# A line of a table: rich's box drawing, or a matrix row (indented) or rule.
TABLE_LINE = re.compile(r"^[┏┃┡│└╇─ ]")


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    scorers = [get_scorer("exact"), get_scorer("classification")]
    return summarize(_frame(), MODELS, scorers, "eval-20250601-120000-ab12")


def _render(summary: dict[str, Any], width: int = 80) -> str:
    buf = io.StringIO()
    render_summary(summary, console=make_console(buf, width=width))
    return buf.getvalue()


def _first_cells(text: str, title: str) -> list[str]:
    """The first column of the table under ``title``."""
    block = text.split(title, 1)[1].split("└", 1)[0]
    return [line.split("│")[1].strip() for line in block.splitlines() if line.startswith("│")]


def test_the_eval_tables_fit_80_columns_with_numbers_whole(summary: dict[str, Any]) -> None:
    text = _render(summary)
    lines = text.splitlines()
    # The tables fit; titles and sentences are single lines (a terminal wraps them, a file keeps
    # each one whole for grep).
    assert max(cell_len(line) for line in lines if TABLE_LINE.match(line)) <= 80
    assert "classification confusion: ft:gpt-4.1-mini-2025-04-14:local:demo:" in text
    assert all(line == line.rstrip() for line in lines)  # no padding after the titles
    for m in summary["models"]:
        s = m["scores"]["exact"]
        assert f"{s['mean']:.3f}" in text
        assert f"[{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]" in text
    for c in summary["comparisons"]:
        assert f"{c['diff']:+.3f}" in text and format_p(c["p_value"]) in text
        assert f"{c['wins']}/{c['ties']}/{c['losses']}" in text


def test_checkpoint_ids_stay_distinct_and_keep_their_tail(summary: dict[str, Any]) -> None:
    text = _render(summary)
    cells = _first_cells(text, "(run eval-20250601-120000-ab12)")
    assert len(cells) == len(MODELS) and len(set(cells)) == len(MODELS)
    for step in (88, 176, 264):
        assert sum(c.endswith(f"ckpt-step-{step}") for c in cells) == 1
    assert cells[0] == MODELS[0]  # short enough to be shown whole
    assert cells[-1].endswith("q1x") and cells[-1].startswith("ft:")


def test_each_fact_once_and_the_confusion_matrix_keeps_its_labels(
    summary: dict[str, Any],
) -> None:
    text = _render(summary)
    # exact and classification agree on every figure: one score table and one comparison table.
    assert text.count("(run eval-") == 1 and "exact = classification  (run" in text
    assert text.count("each model vs") == 1
    matrix = text.split("classification confusion:", 1)[1].split("classification confusion:")[0]
    for n, label in enumerate(LABELS, 1):
        assert f"{n} {label}" in matrix  # full names down the side, numbers across


def test_plain_tables_shorten_ids_from_the_middle_to_the_width() -> None:
    rows = [(s, f"{FT}:ckpt-step-{s}", "0.1234", "1.0000") for s in (88, 176, 264)]
    text = table(("STEP", "CHECKPOINT", "TRAIN", "VALID"), rows, width=40, shorten=(1,))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 40
    cells = [line.split()[1] for line in lines[1:]]
    assert len(set(cells)) == 3 and all("…" in c for c in cells)
    assert [c.rsplit("-", 1)[1] for c in cells] == ["88", "176", "264"]
    assert all("0.1234" in line and "1.0000" in line for line in lines[1:])


def test_shortening_keeps_distinct_ids_distinct() -> None:
    a, b = "x" * 30 + "-alpha-end", "x" * 30 + "-bravo-end"
    assert shorten_middle(a, 12) == "xxx…alpha-end"[:3] + "…" + a[-8:]
    short = shorten_all([a, b], 12)
    assert short[a] != short[b] and all(len(s) == 12 for s in short.values())


def test_off_a_terminal_the_width_is_columns_or_100(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert output_width(io.StringIO()) == 100
    assert make_console(io.StringIO()).width == 100
    monkeypatch.setenv("COLUMNS", "80")
    assert output_width(io.StringIO()) == 80 and make_console(io.StringIO()).width == 80


def test_every_command_table_fits_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    svc: LocalService = cli_service(monkeypatch)
    monkeypatch.setenv("COLUMNS", "80")
    folder = tmp_path / "out" / "data"
    folder.mkdir(parents=True)
    train, valid = train_files(folder, valid_seed=2)
    test = folder / "test.jsonl"
    test.write_text("".join(json.dumps(r) + "\n" for r in chat_rows(8, seed=5)))
    assert main(["train", "--training-file", str(train), "--validation-file", str(valid),
                 "--suffix", "demo", "--seed", "3", "--yes", "--wait"]) == 0  # fmt: skip
    capsys.readouterr()
    job_id = svc.service.state.all("job")[0]["id"]
    outputs = {}
    for args in (["jobs"], ["checkpoints", job_id], ["runs"], ["status", job_id],
                 ["eval", "--data", str(test), "--model", "gpt-4.1-mini-2025-04-14",
                  "--checkpoints", job_id, "--scorer", "exact", "--scorer", "classification"],
                 ["runs"]):  # fmt: skip
        assert main(args) == 0, args
        outputs[args[0]] = capsys.readouterr().out
    for name, out in outputs.items():
        # Verdicts, titles and file paths are sentences, not tables: a terminal wraps them.
        lines = [ln for ln in out.splitlines() if name != "eval" or TABLE_LINE.match(ln)]
        assert lines and max(cell_len(ln) for ln in lines) <= 80, (name, out)
        assert all(ln == ln.rstrip() for ln in lines), name
    ckpt_cells = [ln.split()[1] for ln in outputs["checkpoints"].splitlines()[1:]]
    assert len(set(ckpt_cells)) == len(ckpt_cells) >= 2
    assert all(re.search(r"step-\d+$", c) for c in ckpt_cells)
    assert outputs["runs"].count("eval-") == 1 and "test.jsonl" in outputs["runs"]
