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
from openai_ft.evaluate.summary import format_p, summarize, verdict, verdict_kind
from openai_ft.report import markdown

# (reference, baseline prediction, fine-tuned prediction) per example.
CASES = (
    [("billing", "billing", "billing")] * 3
    + [("billing", "refund", "billing")] * 2
    + [("refund", "billing", "refund")] * 4
    + [("refund", "refund", "billing")] * 1
    + [("login", "login", "login")] * 2
    + [("login", "login", None)]  # the fine-tuned model failed: it counts as wrong
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
    assert by["login"]["support"] == 3  # the failed example counts, as wrong
    assert by["login"]["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert by["login"]["vs_accuracy"] == 1.0 and by["login"]["p_value"] == 1.0


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


def comparison(
    diff: float | None,
    lo: float | None,
    hi: float | None,
    p: float | None,
    test: str = "mcnemar_exact",
) -> dict[str, Any]:
    return {"model": "ft:gpt-4.1-mini-2025-04-14:demo:abc", "vs": "gpt-4.1-mini-2025-04-14",
            "scorer": "exact", "diff": diff, "ci95": [lo, hi], "p_value": p, "test": test}  # fmt: skip


def test_verdict_wording_better_not_different_worse() -> None:
    better = comparison(0.455, 0.33, 0.58, 0.0)
    assert verdict_kind(better) == "better"
    assert verdict(better) == (
        "ft:gpt-4.1-mini-2025-04-14:demo:abc is better than gpt-4.1-mini-2025-04-14 on exact: "
        "+0.455 (95% CI [0.330, 0.580], p < 0.0001, McNemar)"
    )
    same = comparison(0.01, -0.05, 0.07, 0.81, test="paired_permutation")
    assert verdict(same) == (
        "ft:gpt-4.1-mini-2025-04-14:demo:abc is not significantly different from "
        "gpt-4.1-mini-2025-04-14 on exact: +0.010 (95% CI [-0.050, 0.070], p = 0.8100, "
        "paired permutation)"
    )
    worse = comparison(-0.2, -0.3, -0.1, 0.0021)
    assert verdict(worse).startswith("ft:gpt-4.1-mini-2025-04-14:demo:abc is worse than ")
    assert verdict(worse).endswith(": -0.200 (95% CI [-0.300, -0.100], p = 0.0021, McNemar)")
    # A CI that excludes 0 with p >= 0.05 (the two methods disagree) is not called a difference.
    assert verdict_kind(comparison(0.1, 0.01, 0.2, 0.06)) == "not different"
    assert verdict_kind(comparison(0.0, None, None, None)) == "not different"


def test_summary_comparisons_carry_the_verdict(summary: dict[str, Any]) -> None:
    kinds = {c["scorer"]: c["verdict"] for c in summary["comparisons"]}
    # 7 discordant pairs, 6:1 for the fine-tune, on 12 paired examples: p = 0.125, not significant.
    assert kinds == {"exact": "not different", "classification": "not different"}
    many = pd.concat([frame().assign(example=frame()["example"] + 100 * k) for k in range(8)])
    big = summarize(many, ["base", "ft:tuned"], [get_scorer("exact")], "run-3")
    assert big["comparisons"][0]["verdict"] == "better"
    flipped = summarize(many, ["ft:tuned", "base"], [get_scorer("exact")], "run-4")
    assert flipped["comparisons"][0]["verdict"] == "worse"
    assert verdict(flipped["comparisons"][0]).startswith("base is worse than ft:tuned on exact: -")
