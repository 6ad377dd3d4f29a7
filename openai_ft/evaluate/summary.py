"""From per-example results to the summary: scores with CIs, paired comparisons, cost,
classification metrics and the worst examples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openai_ft.evaluate import stats
from openai_ft.evaluate.scorers import Scorer, normalize

if TYPE_CHECKING:
    import pandas as pd

SCORE_PREFIX = "score:"
WORST = 5


def score_column(name: str) -> str:
    """The results column that holds a scorer's per-example score."""
    return SCORE_PREFIX + name


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 6)


def _p(x: float) -> float | None:
    """p-values keep 4 significant digits: rounding 2e-9 to 6 places would report 0.0."""
    return None if math.isnan(x) else float(f"{float(x):.4g}")


P_FLOOR = 0.0001


def format_p(p: float | None) -> str:
    """A p-value for people: ``0.0123``, or ``<0.0001`` rather than a misleading ``0.0000``."""
    if p is None or math.isnan(p):
        return "-"
    return f"<{P_FLOOR}" if p < P_FLOOR else f"{p:.4f}"


ALPHA = 0.05
_TESTS = {"mcnemar_exact": "McNemar", "paired_permutation": "paired permutation"}


def verdict_kind(comparison: dict[str, Any]) -> str:
    """``better``, ``worse`` or ``not different``: the 95% CI of the difference excludes 0 on
    one side and the test's p-value is under 0.05.
    """
    lo, hi = comparison["ci95"]
    p = comparison["p_value"]
    if lo is None or hi is None or p is None or p >= ALPHA:
        return "not different"
    return "better" if lo > 0 else "worse" if hi < 0 else "not different"


def verdict(comparison: dict[str, Any]) -> str:
    """One sentence: ``A is better than B on exact: +0.455 (95% CI [..], p < 0.0001, McNemar)``."""
    kind = verdict_kind(comparison)
    phrase = {"better": "is better than", "worse": "is worse than",
              "not different": "is not significantly different from"}[kind]  # fmt: skip
    diff, (lo, hi), p = comparison["diff"], comparison["ci95"], comparison["p_value"]

    def num(x: float | None, sign: str = "") -> str:
        return "-" if x is None else f"{x:{sign}.3f}"

    shown = format_p(p)
    p_text = f"p {shown[0]} {shown[1:]}" if shown.startswith("<") else f"p = {shown}"
    test = _TESTS.get(str(comparison.get("test")), str(comparison.get("test")))
    return (
        f"{comparison['model']} {phrase} {comparison['vs']} on {comparison['scorer']}: "
        f"{num(diff, '+')} (95% CI [{num(lo)}, {num(hi)}], {p_text}, {test})"
    )


FAILED = "\x00failed"  # the "prediction" of a failed request: never a label, so it counts wrong


def counted(rows: pd.DataFrame, col: str) -> pd.Series:
    """The scores that count: a failed request scores 0 (a model that answers 10 of 100 prompts
    must not score as if it answered all). A missing score of an answered example (a judge reply
    with no score) stays missing and drops out of that scorer's figures.
    """
    return rows[col].astype(float).where(rows["status"] == "ok", 0.0)


def canonical_label(prediction: str, labels: Sequence[str]) -> str:
    """Map a predicted label onto a reference label when they match after normalisation."""
    norm = {normalize(label): label for label in labels}
    return norm.get(normalize(prediction), prediction.strip())


def summarize(
    frame: pd.DataFrame, models: Sequence[str], scorers: Sequence[Scorer], run_id: str
) -> dict[str, Any]:
    """The run summary (the ``--json`` shape plus classification and worst-example details)."""
    out: dict[str, Any] = {
        "run": run_id, "models": [], "comparisons": [], "classification": {},
        "label_breakdown": {},
    }  # fmt: skip
    by_model = {m: frame[frame["model"] == m].set_index("example").sort_index() for m in models}
    labels = sorted(set(frame["reference"].astype(str)))
    for model in models:
        rows = by_model[model]
        out["models"].append(model_entry(model, rows, scorers))
        for sc in scorers:
            if sc.classification:
                report = classification(rows, labels)
                out["classification"].setdefault(sc.name, {})[model] = report
    base = models[0]
    for model in models[1:]:
        for sc in scorers:
            comp = comparison(by_model[model], by_model[base], model, base, sc)
            if comp is None:
                continue
            out["comparisons"].append(comp)
            if sc.classification:
                out["label_breakdown"].setdefault(sc.name, []).append(
                    label_breakdown(
                        by_model[model], by_model[base], score_column(sc.name), model, base
                    )
                )
    out["worst"] = worst_examples(frame, models[-1], scorers)
    return out


def model_entry(model: str, rows: pd.DataFrame, scorers: Sequence[Scorer]) -> dict[str, Any]:
    """One model's counts, cost and scores: over every example (failures 0), and answered-only.

    ``cost_usd`` is what the answers cost when they were bought; ``spent_usd`` what this run
    paid for them (0 when every answer came from the ledger)."""
    answered = int((rows["status"] == "ok").sum())
    entry: dict[str, Any] = {
        "model": model,
        "examples": len(rows),
        "answered": answered,
        "failed": len(rows) - answered,
        "scores": {},
        "cost_usd": round(float(rows["cost_usd"].sum()), 6),
        "prompt_tokens": int(rows["prompt_tokens"].sum()),
        "completion_tokens": int(rows["completion_tokens"].sum()),
    }
    # What this run paid: answers read back from the ledger were paid for by an earlier run.
    old = rows["from_ledger"].fillna(False).astype(bool) if "from_ledger" in rows else None
    entry["from_ledger"] = int(old.sum()) if old is not None else 0
    spent = rows.loc[~old, "cost_usd"].sum() if old is not None else rows["cost_usd"].sum()
    entry["spent_usd"] = round(float(spent), 6)
    failed = rows[rows["status"] != "ok"]
    if len(failed):  # what went wrong, so a run where every request failed says why
        entry["first_error"] = str(failed["error"].iloc[0])[:300]
    for sc in scorers:
        col = score_column(sc.name)
        mean, lo, hi = stats.bootstrap_ci(counted(rows, col).dropna().to_numpy(float))
        answered_only = rows.loc[rows["status"] == "ok", col].dropna()
        entry["scores"][sc.name] = {
            "mean": _num(mean),
            "ci95": [_num(lo), _num(hi)],
            "answered_mean": _num(float(answered_only.mean())) if len(answered_only) else None,
        }
    return entry


def classification(rows: pd.DataFrame, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class figures and the confusion matrix; a failure is wrong."""
    refs = [str(r) for r in rows["reference"]]
    preds = [
        canonical_label(str(p), labels) if status == "ok" else FAILED
        for p, status in zip(rows["prediction"], rows["status"], strict=True)
    ]
    rep = stats.classification_report(preds, refs, labels)
    return {
        "labels": list(rep.labels),
        "accuracy": _num(rep.accuracy),
        "macro_f1": _num(rep.macro_f1),
        "per_class": {
            label: {
                "precision": round(rep.precision[label], 6),
                "recall": round(rep.recall[label], 6),
                "f1": round(rep.f1[label], 6),
                "support": rep.support[label],
            }
            for label in rep.labels
        },
        "confusion": [list(r) for r in rep.confusion],
    }


def comparison(
    rows: pd.DataFrame, base_rows: pd.DataFrame, model: str, base: str, sc: Scorer
) -> dict[str, Any] | None:
    """``model`` against ``base`` on one scorer, paired per example (failures score 0); None
    when no example has a score from both."""
    col = score_column(sc.name)
    pair = (
        counted(rows, col)
        .to_frame()
        .merge(
            counted(base_rows, col).to_frame(),
            left_index=True,
            right_index=True,
            suffixes=("", "_base"),
        )
        .dropna()
    )
    if pair.empty:
        return None
    c = stats.compare(
        model, base, sc.name, pair[col].to_numpy(float), pair[col + "_base"].to_numpy(float),
        binary=sc.binary,
    )  # fmt: skip
    out = {
        "model": model,
        "vs": base,
        "scorer": sc.name,
        "diff": _num(c.diff),
        "ci95": [_num(c.ci95[0]), _num(c.ci95[1])],
        "p_value": _p(c.p_value),
        "wins": c.wins,
        "ties": c.ties,
        "losses": c.losses,
        "test": c.test,
        "examples": len(pair),
    }
    out["verdict"] = verdict_kind(out)
    return out


def label_breakdown(
    rows: pd.DataFrame, base_rows: pd.DataFrame, col: str, model: str, base: str
) -> dict[str, Any]:
    """Per reference label, failures counted as wrong: support, each model's accuracy
    on that label (its recall), the difference and McNemar's exact p-value.
    """
    pair = (
        rows[["reference"]]
        .join(counted(rows, col))
        .merge(
            counted(base_rows, col).to_frame(),
            left_index=True,
            right_index=True,
            suffixes=("", "_base"),
        )
        .dropna()
    )
    labels: list[dict[str, Any]] = []
    for label, group in sorted(pair.groupby(pair["reference"].astype(str)), key=lambda g: g[0]):
        a, b = group[col].to_numpy(float) >= 0.5, group[col + "_base"].to_numpy(float) >= 0.5
        n = len(group)
        labels.append({
            "label": label, "support": n, "accuracy": _num(a.mean()), "vs_accuracy": _num(b.mean()),
            "diff": _num(a.mean() - b.mean()),
            "p_value": _p(stats.mcnemar_exact(int((a & ~b).sum()), int((~a & b).sum()))),
        })  # fmt: skip
    return {"model": model, "vs": base, "labels": labels}


def _score(value: Any) -> float | None:
    """A per-example score cell as a float; None for a missing score (None or NaN)."""
    return None if value is None or value != value else float(value)


def worst_examples(
    frame: pd.DataFrame, model: str, scorers: Sequence[Scorer], k: int = WORST
) -> list[dict[str, Any]]:
    """The ``k`` lowest-scoring examples of ``model`` on the first scorer (failures first)."""
    if not scorers:
        return []
    col = score_column(scorers[0].name)
    rows = frame[frame["model"] == model].copy()
    rows["_key"] = rows[col].fillna(-1.0)
    rows = rows.sort_values(["_key", "example"]).head(k)
    rows = rows[rows["_key"] < 1.0]
    return [
        {
            "example": int(r["example"]),
            "line": int(r["line"]),
            "question": str(r["question"])[:300],
            "reference": str(r["reference"])[:300],
            "prediction": str(r["prediction"])[:300] if r["status"] == "ok" else None,
            "error": r["error"] if r["status"] != "ok" else None,
            "score": _score(r[col]),
        }
        for _, r in rows.iterrows()
    ]
