"""Choose on the validation split, confirm on the test split once.

Every model the sweep produced (with ``checkpoints``, each checkpoint too) is evaluated on the
validation split; the best mean on the first scorer wins. The winner is compared, paired per
example, with every other candidate, and the p-values are Holm-corrected across those
comparisons: "distinguishable from the runner-up" means that comparison survives the
correction with its CI above 0. Then only the winner and the base model meet the test split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from openai_ft.evaluate.stats import holm
from openai_ft.evaluate.summary import ALPHA, comparison
from openai_ft.sweep.run import PointView


@dataclass(frozen=True)
class Candidate:
    """A model to select from: the point it came from, and the step for a checkpoint."""

    label: str
    model: str
    point: int
    step: int | None = None


def candidates(
    points: Sequence[PointView], checkpoints: Callable[[str], list[Any]] | None
) -> list[Candidate]:
    """The models of the finished points, in point order (each point's checkpoints first)."""
    out: list[Candidate] = []
    for p in points:
        model = p.model
        if model is None:
            continue
        if checkpoints is not None and p.job_id and p.status == "succeeded":
            for c in checkpoints(p.job_id):
                if c.model != model:
                    out.append(Candidate(f"p{p.index}@{c.step}", c.model, p.index, c.step))
        out.append(Candidate(f"p{p.index}", model, p.index))
    return out


def _entry(summary: dict[str, Any], model: str, scorer: str) -> dict[str, Any]:
    for m in summary["models"]:
        if m["model"] == model:
            score = m["scores"][scorer]
            return {"mean": score["mean"], "ci95": score["ci95"], "cost_usd": m["cost_usd"]}
    raise KeyError(model)


def choose(result: Any, cands: Sequence[Candidate], scorer_objs: Sequence[Any]) -> dict[str, Any]:
    """The selection (winner, runner-up, Holm-corrected comparisons) from a validation eval."""
    sc = scorer_objs[0]
    summary, frame = result.summary, result.results
    rows = [{**asdict(c), **_entry(summary, c.model, sc.name)} for c in cands]
    # The best mean wins; a tie goes to the earlier candidate (grid order).
    ranked = sorted(
        range(len(rows)),
        key=lambda i: (-(rows[i]["mean"] if rows[i]["mean"] is not None else -1.0), i),
    )
    win = rows[ranked[0]]
    by_model = {
        m: frame[frame["model"] == m].set_index("example").sort_index()
        for m in {c.model for c in cands}
    }
    comps: list[dict[str, Any]] = []
    for i in ranked[1:]:
        other = rows[i]
        comp = comparison(
            by_model[win["model"]], by_model[other["model"]], win["model"], other["model"], sc
        )
        if comp is not None:
            comp["vs_label"] = other["label"]
            comps.append(comp)
    adjusted = holm([c["p_value"] if c["p_value"] is not None else 1.0 for c in comps])
    for comp, p_adj in zip(comps, adjusted, strict=True):
        comp["p_holm"] = float(f"{p_adj:.4g}")
        lo = comp["ci95"][0]
        comp["distinguishable"] = bool(p_adj < ALPHA and lo is not None and lo > 0)
    runner = rows[ranked[1]] if len(ranked) > 1 else None
    first = comps[0] if comps and runner and comps[0]["vs"] == runner["model"] else None
    return {
        "scorer": sc.name,
        "eval_run": result.run_id,
        "candidates": rows,
        "winner": win,
        "runner_up": runner,
        "comparisons": comps,
        "distinguishable": first["distinguishable"] if first else None,
        "cost_usd": round(sum(m["cost_usd"] for m in summary["models"]), 6),
    }


def test_verdict(result: Any, base: str, winner: str, scorer: str) -> dict[str, Any]:
    """The test split's verdict: winner and base scores, and the paired comparison of the two."""
    summary = result.summary
    comp = next((c for c in summary["comparisons"] if c["scorer"] == scorer), None)
    return {
        "eval_run": result.run_id,
        "scorer": scorer,
        "base": {"model": base, **_entry(summary, base, scorer)},
        "winner": {"model": winner, **_entry(summary, winner, scorer)},
        "comparison": comp,
        "cost_usd": round(sum(m["cost_usd"] for m in summary["models"]), 6),
    }
