"""Old and new model compared, paired, on the regression set and the new test examples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openai_ft.errors import UsageError
from openai_ft.retrain.data import Prepared, example_key, read_examples

if TYPE_CHECKING:
    from openai_ft.store import Ledger


@dataclass(frozen=True)
class SetScore:
    """Old and new model on one set of test examples, paired: means and new - old with its CI."""

    name: str
    examples: int
    old: float | None
    new: float | None
    diff: float | None
    ci95: tuple[float | None, float | None]


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 6)


def _score(name: str, frame: Any, rows: Sequence[int], old: str, new: str, col: str) -> SetScore:
    """The paired comparison of two models on the examples ``rows`` of an eval frame."""
    from openai_ft.evaluate.stats import paired_bootstrap_diff
    from openai_ft.evaluate.summary import counted

    if not rows:
        return SetScore(name, 0, None, None, None, (None, None))
    picked = frame[frame["example"].isin(list(rows))]
    by = {m: counted(picked[picked["model"] == m].sort_values("example"), col) for m in (old, new)}
    a, b = by[new].fillna(0.0).to_numpy(), by[old].fillna(0.0).to_numpy()
    diff, lo, hi = paired_bootstrap_diff(a, b)
    return SetScore(
        name, len(rows), _num(b.mean()), _num(a.mean()), _num(diff), (_num(lo), _num(hi))
    )


def compare(
    prepared: Prepared, old: str, new: str, scorer: str, settings: Any, ledger: Ledger, **kw: Any
) -> tuple[str, list[SetScore]]:
    """Evaluate both models on the regression set and the new test examples (one run)."""
    from openai_ft.evaluate.api import evaluate
    from openai_ft.evaluate.data import parse_example
    from openai_ft.evaluate.summary import score_column

    regression = read_examples(prepared.files.get("regression"))
    keys = {example_key(e) for e in regression}
    fresh = [e for e in read_examples(prepared.files.get("test")) if example_key(e) not in keys]
    if not regression and not fresh:
        raise UsageError(
            "no test examples to compare the models on (the earlier and the new test splits are"
            " empty)",
            tip="prepare with --test-size above 0 (a new `openai-ft prepare` and `train`)",
        )
    where = str(prepared.out_dir / "compare")
    examples = [parse_example(e, where, i + 1) for i, e in enumerate([*regression, *fresh])]
    res = evaluate(
        examples,
        [old, new],
        scorers=[scorer],
        settings=settings,
        ledger=ledger,
        temperature=0,
        **kw,
    )
    col = score_column(next(iter(res.summary["models"][0]["scores"])))
    n = len(regression)
    sets = [
        _score("regression", res.results, range(n), old, new, col),
        _score("new examples", res.results, range(n, len(examples)), old, new, col),
    ]
    return res.run_id, sets


def _fmt(x: float | None, sign: str = "") -> str:
    return "-" if x is None else f"{x:{sign}.3f}"


def decide(
    sets: Sequence[SetScore], scorer: str, margin: float, fail_under: float | None
) -> tuple[bool, str]:
    """Promote or not, and why in one line with the numbers.

    Non-inferiority on the regression set (on the new test examples when there is no earlier
    test split): the lower bound of the 95% CI of new - old must be above -margin. And, with
    --fail-under, the new model's mean over every test example must reach it.
    """
    gate = next((s for s in sets if s.examples), None)
    assert gate is not None  # _compare refuses an empty test set
    lo = gate.ci95[0]
    text = (
        f"{gate.name} set ({gate.examples} examples) {scorer}: new {_fmt(gate.new)} vs old"
        f" {_fmt(gate.old)}, new - old {_fmt(gate.diff, '+')} (95% CI [{_fmt(lo)},"
        f" {_fmt(gate.ci95[1])}])"
    )
    if lo is None or lo <= -margin:
        return False, f"{text}: the lower bound is not above -{margin:g} (--margin)"
    if fail_under is not None:
        total = sum(s.examples for s in sets)
        mean = sum((s.new or 0.0) * s.examples for s in sets) / total
        if mean < fail_under:
            return False, (
                f"{text}; but the new model scores {mean:.3f} on all {total} test examples,"
                f" under --fail-under {fail_under:g}"
            )
    return True, f"{text}: not worse than -{margin:g} (--margin)"
