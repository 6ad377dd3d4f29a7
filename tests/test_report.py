"""report.md / report.html / results.csv / results.jsonl: complete, self-contained, atomic."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from openai_ft.cli import main
from openai_ft.evaluate.api import evaluate
from openai_ft.report import write_report
from tests.test_eval_cli import BASE, OTHER, rows

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def run(write_jsonl: Any) -> Any:
    data = write_jsonl(rows(12))
    return evaluate(data, [BASE, OTHER], scorers=["exact", "classification", "bleu"])


def test_html_is_self_contained_with_real_pngs(run: Any, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    paths = write_report(run.run_id, run.results, run.summary, out)
    assert sorted(p.name for p in paths) == sorted(
        ["report.md", "report.html", "results.csv", "results.jsonl"]
    )
    page = (out / "report.html").read_text("utf-8")
    # Nothing is fetched from elsewhere: no external src/href, no stylesheets, one inline script.
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs)
    assert "<link" not in page and re.findall(r"<script[^>]*>", page) == ["<script>"]
    # Scores plot + one confusion matrix per model, each a decodable PNG.
    assert len(refs) == 1 + 2
    for ref in refs:
        assert base64.b64decode(ref.split(",", 1)[1]).startswith(PNG_MAGIC)
    for scorer in ("exact", "classification", "bleu"):
        assert f"<h2>{scorer}</h2>" in page
    # No temporary files left behind by the atomic writes.
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)


def test_csv_and_jsonl_hold_every_example_of_every_model(run: Any, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    write_report(run.run_id, run.results, run.summary, out)
    csv = pd.read_csv(out / "results.csv")
    lines = (out / "results.jsonl").read_text("utf-8").splitlines()
    assert len(csv) == len(lines) == 24
    assert list(csv.columns) == list(run.results.columns)
    assert {json.loads(x)["model"] for x in lines} == {BASE, OTHER}
    md = (out / "report.md").read_text("utf-8")
    base_mean = run.summary["models"][0]["scores"]["exact"]["mean"]
    assert f"| {BASE} | {base_mean:.3f} |" in md
    assert "## Worst examples" in md or not run.summary["worst"]


def test_report_command_json_equals_the_saved_summary(
    run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    assert main(["report", run.run_id, "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == run.summary
    assert captured.err.splitlines()[-1] == f"report: {out / 'report.html'}"
    assert (out / "report.html").stat().st_size > 1000
