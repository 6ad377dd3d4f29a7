"""The summary's per-label breakdown, p-value formatting and verdicts, and how they are shown."""

from __future__ import annotations

import io
import math
import re
from typing import Any

import pandas as pd
import pytest

from openai_ft.console import make_console
from openai_ft.console.evaluate import render_summary
from openai_ft.evaluate.scorers import get_scorer
from openai_ft.evaluate.stats import mcnemar_exact
from openai_ft.evaluate.summary import format_p, summarize
from openai_ft.report import markdown

# (reference, baseline prediction, fine-tuned prediction) per example.
CASES = (
    [("billing", "billing", "billing")] * 3
    + [("billing", "refund", "billing")] * 2
    + [("refund", "billing", "refund")] * 4
    + [("refund", "refund", "billing")] * 1
    + [("login", "login", "login")] * 2
    + [("login", "login", None)]  # the fine-tuned model failed: not paired
)


def frame() -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for model, pos in (("base", 1), ("ft:tuned", 2)):
        for i, case in enumerate(CASES):
            pred = case[pos]
            rows.append({
                "example": i, "line": i + 1, "model": model, "question": f"q{i}",
                "reference": case[0], "prediction": pred, "status": "ok" if pred else "error",
                "error": None if pred else "boom", "prompt_tokens": 10, "completion_tokens": 1,
                "batch": False, "cost_usd": 0.0,
                "score:exact": None if pred is None else float(pred == case[0]),
                "score:classification": None if pred is None else float(pred == case[0]),
            })  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    scorers = [get_scorer("exact"), get_scorer("classification")]
    return summarize(frame(), ["base", "ft:tuned"], scorers, "run-1")


def test_per_label_breakdown_against_counted_values(summary: dict[str, Any]) -> None:
    assert {"run", "models", "comparisons", "classification", "worst"} <= set(summary)
    assert "exact" not in summary["label_breakdown"]  # classification scorers only
    [comp] = summary["label_breakdown"]["classification"]
    assert (comp["model"], comp["vs"]) == ("ft:tuned", "base")
    by = {r["label"]: r for r in comp["labels"]}
    assert list(by) == ["billing", "login", "refund"]
    assert by["billing"] == {"label": "billing", "support": 5, "accuracy": 1.0,
                             "vs_accuracy": 0.6, "diff": 0.4,
                             "p_value": round(mcnemar_exact(2, 0), 6)}  # fmt: skip
    assert by["refund"]["support"] == 5 and by["refund"]["accuracy"] == 0.8
    assert by["refund"]["vs_accuracy"] == 0.2 and by["refund"]["diff"] == pytest.approx(0.6)
    assert by["refund"]["p_value"] == pytest.approx(mcnemar_exact(4, 1), abs=1e-6)
    assert by["login"]["support"] == 2  # the failed example is not paired
    assert by["login"]["diff"] == 0.0 and by["login"]["p_value"] == 1.0


def test_breakdown_in_terminal_and_report(summary: dict[str, Any]) -> None:
    buf = io.StringIO()
    render_summary(summary, console=make_console(buf))
    text = buf.getvalue()
    assert "classification per label: ft:tuned vs base" in text
    table = text.split("classification per label")[1]
    billing = next(line for line in table.splitlines() if line.strip("│ ").startswith("billing"))
    assert "0.600" in billing and "1.000" in billing and "0.400" in billing
    md = markdown("run-1", summary)
    assert "### classification per label: ft:tuned vs base" in md
    assert "| refund | 5 | 0.200 | 0.800 | 0.600 |" in md


def test_format_p() -> None:
    assert format_p(0.0) == "<0.0001"
    assert format_p(0.00009) == "<0.0001"
    assert format_p(0.0001) == "0.0001"
    assert format_p(0.04321) == "0.0432"
    assert format_p(None) == "-" and format_p(math.nan) == "-"


def test_tiny_p_values_print_as_below_floor() -> None:
    rows = [{"example": i, "line": i + 1, "model": m, "question": "q", "reference": "a",
             "prediction": "a" if m == "ft:x" else "b", "status": "ok", "error": None,
             "prompt_tokens": 1, "completion_tokens": 1, "batch": False, "cost_usd": 0.5,
             "score:exact": float(m == "ft:x")}
            for m in ("base", "ft:x") for i in range(40)]  # fmt: skip
    summary = summarize(pd.DataFrame(rows), ["base", "ft:x"], [get_scorer("exact")], "run-2")
    assert summary["comparisons"][0]["p_value"] < 0.0001  # 2 * 0.5**40
    buf = io.StringIO()
    render_summary(summary, console=make_console(buf))
    md = markdown("run-2", summary)
    for text in (buf.getvalue(), md):
        assert "<0.0001" in text and not re.search(r"(?<![\d.])0\.0000", text)
