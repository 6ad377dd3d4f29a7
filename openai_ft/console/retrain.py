"""How retrain is shown: the data diff before training, the paired scores and the decision after."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openai_ft.retrain import Prepared, RetrainResult

WIDTH = 80


def _cut(text: str, width: int = WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def diff_lines(p: Prepared, from_run: str) -> list[str]:
    """What changed against the earlier splits, and how the new table was split."""
    d = p.diff
    lines = [f"changes against {from_run} (by prompt):"]
    for kind, n in (("added", d.added), ("removed", d.removed), ("changed", d.changed)):
        eg = f'  e.g. "{d.samples[kind][0]}"' if d.samples.get(kind) else ""
        lines.append(_cut(f"  {kind:<9} {n:>6,}{eg}"))
    lines.append(f"  {'unchanged':<9} {d.unchanged:>6,}")
    kept = d.changed_in_regression + d.removed_from_regression
    if kept:
        lines.append(
            f"  the regression set keeps {kept} of them as they were"
            f" ({d.changed_in_regression} changed, {d.removed_from_regression} removed)"
        )
    counts = ", ".join(f"{p.counts.get(n, 0):,} {n}" for n in ("train", "validation", "test"))
    lines.append(f"prepared: {counts}")
    lines.append(
        f"compared on: {p.regression:,} regression examples (the earlier test split)"
        f" + {p.new_test:,} new"
    )
    lines = [_cut(line) for line in lines]
    lines.append(f"  in {p.out_dir}")  # a path is never cut: it is copied
    return lines


def result_lines(r: RetrainResult) -> list[str]:
    """The paired scores of old and new model on each test set, then the decision."""

    def num(x: float | None, sign: str = "") -> str:
        return "-" if x is None else f"{x:{sign}.3f}"

    lines = [f"old {r.old_model}", f"new {r.new_model}"]
    lines.append(f"{'set':<14}{'n':>5}  {'old':>6}  {'new':>6}  {'new-old':>7}  95% CI")
    for s in r.sets:
        if not s.examples:
            continue
        ci = f"[{num(s.ci95[0], '+')}, {num(s.ci95[1], '+')}]"
        lines.append(
            f"{s.name:<14}{s.examples:>5}  {num(s.old):>6}  {num(s.new):>6}"
            f"  {num(s.diff, '+'):>7}  {ci}"
        )
    if r.promoted:
        lines.append(f"promoted: {r.alias} -> {r.new_model}")
    elif r.passed:
        lines.append("passed; not promoted (--no-promote)")
    return [line if line.startswith(("old ", "new ")) else _cut(line) for line in lines]
