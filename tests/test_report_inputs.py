"""Reports of user text: labels with ``$...$`` are drawn literally (matplotlib would read math and
crash), CSV cells cannot run as spreadsheet formulas, and an unwritable ``--out`` is one line."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from openai_ft.cli import main
from openai_ft.evaluate.api import evaluate
from openai_ft.report import confusion_plot, csv_safe, loss_plot, score_plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Each of these is bad mathtext: matplotlib raises ValueError while drawing it.
MATHY = ["$x^$", "costs $5 or $\\frac{", "$\\undefinedcommand$"]


def _chat(user: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    }


def test_report_with_math_looking_labels(
    write_jsonl: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl([_chat(f"ticket {i}", MATHY[i % 3]) for i in range(9)])
    run = evaluate(data, ["gpt-4o-mini"], scorers=["exact", "classification"])
    out = tmp_path / "rep"
    assert main(["report", run.run_id, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "ERROR" not in err, err
    page = (out / "report.html").read_text("utf-8")
    refs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(refs) == 2  # scores and the confusion matrix
    assert all(base64.b64decode(r).startswith(PNG_MAGIC) for r in refs)


def test_plots_draw_dollar_text_literally() -> None:
    rep = {"labels": MATHY, "confusion": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
    png = confusion_plot(rep, "classification: ft:gpt-4o-mini:$x^$")
    assert base64.b64decode(png).startswith(PNG_MAGIC)
    scores = {"mean": 0.5, "ci95": [0.2, 0.8]}
    summary = {"models": [{"model": "$bad^$", "scores": {"$\\frac{$": scores}}]}
    assert score_plot(summary) is not None
    metrics = pd.DataFrame({"step": [1, 2], "train_loss": [1.0, 0.5]})
    assert loss_plot(metrics, "ftjob-1 -> ft:m:$x_$") is not None


def test_csv_cells_cannot_run_as_formulas_jsonl_keeps_raw_text(
    write_jsonl: Any, tmp_path: Path
) -> None:
    risky = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    data = write_jsonl([_chat(text, text) for text in [*risky, "plain", "a=b"]])
    run = evaluate(data, ["gpt-4o-mini"], scorers=["exact"])
    out = tmp_path / "rep"
    assert main(["report", run.run_id, "--out", str(out)]) == 0
    with (out / "results.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    column = next(c for c in rows[0] if rows[0][c] == "'" + risky[0])  # the reference column
    assert [r[column] for r in rows] == ["'" + t for t in risky] + ["plain", "a=b"]
    for row in rows:  # no text cell anywhere starts a formula
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())
    raw = [json.loads(x) for x in (out / "results.jsonl").read_text("utf-8").splitlines()]
    assert [r[column] for r in raw] == [*risky, "plain", "a=b"]


def test_csv_safe_leaves_numbers_alone() -> None:
    frame = pd.DataFrame({"score": [-1.0, 0.5], "text": ["-1", None]})
    safe = csv_safe(frame)
    assert safe["score"].tolist() == [-1.0, 0.5]
    assert safe["text"].tolist()[0] == "'-1" and pd.isna(safe["text"].tolist()[1])
    assert frame["text"].tolist()[0] == "-1"  # the caller's frame is untouched


def test_report_out_that_cannot_be_written(
    write_jsonl: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = evaluate(write_jsonl([_chat("q", "a")] * 3), ["gpt-4o-mini"], scorers=["exact"])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "report"
    assert main(["report", run.run_id, "--out", str(target)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"ERROR {target}: cannot write the report there (Not a directory)"
    assert err[1] == "TIP pass --out-dir a folder you can write to"
    assert len(err) == 2


def test_checkpoints_of_one_job_give_one_loss_curve_and_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """eval --checkpoints lists each checkpoint (model:ckpt-step-N) and the final model: all of
    them are the one job's, drawn once, from the in-process service the job was made on."""
    from tests.jobs_helpers import chat_rows, cli_service, train_files, write_rows

    cli_service(monkeypatch)
    train, valid = train_files(tmp_path, valid_seed=4)
    args = [
        "train",
        "--training-file",
        str(train),
        "--validation-file",
        str(valid),
        "--n-epochs",
        "3",
        "--yes",
        "--wait",
        "--json",
    ]
    assert main(args) == 0
    job = json.loads(capsys.readouterr().out)
    data = write_rows(tmp_path / "test.jsonl", chat_rows(8, seed=9))
    assert main(["eval", "--data", str(data), "--checkpoints", job["job_id"], "--json"]) == 0
    models = [m["model"] for m in json.loads(capsys.readouterr().out)["models"]]
    assert len(models) >= 3 and any(":ckpt-step-" in m for m in models)
    out = tmp_path / "rep"
    assert main(["report", "latest", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "WARN" not in err, err
    page = (out / "report.html").read_text("utf-8")
    assert page.count("<figcaption>Loss curves: ") == 1
    assert f"Loss curves: {job['job_id']} -&gt; {job['fine_tuned_model']}" in page


def test_a_damaged_ledger_leaves_out_the_curves_not_the_report(
    write_jsonl: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = evaluate(write_jsonl([_chat("q", "a")] * 3), ["gpt-4o-mini"], scorers=["exact"])
    summary = {**run.summary, "models": [{**run.summary["models"][0], "model": "ft:m:o::j"}]}
    for extra in ("runs.db-wal", "runs.db-shm"):  # else SQLite reads the pages from the WAL
        (tmp_path / "home" / extra).unlink(missing_ok=True)
    (tmp_path / "home" / "runs.db").write_bytes(b"this is not an SQLite database" * 100)
    warnings: list[str] = []
    from openai_ft.report import write_report

    paths = write_report(
        run.run_id, run.results, summary, tmp_path / "r", on_warning=warnings.append
    )
    assert len(paths) == 4 and all(p.exists() for p in paths)
    assert len(warnings) == 1 and warnings[0].startswith("loss curves left out: ")
    assert "runs.db: the ledger is damaged" in warnings[0]
