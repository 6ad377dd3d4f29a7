"""Eval views: live progress (done/total, req/s, errors, tokens, cost, ETA) and result tables."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

from openai_ft.evaluate.runner import Progress
from openai_ft.evaluate.summary import format_p


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def progress_line(p: Progress) -> str:
    """One-line text of a progress snapshot."""
    eta = f"{p.eta:.0f}s" if p.eta is not None else "-"
    return (
        f"{p.done}/{p.total} done ({p.cached} from ledger) | {p.rate:.1f} req/s | "
        f"{p.errors} errors | {p.throttled} throttled | "
        f"{p.prompt_tokens + p.completion_tokens} tokens | ${p.cost_usd:.4f} | ETA {eta}"
    )


@contextlib.contextmanager
def live_progress(console: Any = None) -> Iterator[Any]:
    """Yield a progress callback: a live line on a terminal, only the final line elsewhere."""
    from rich.text import Text

    from openai_ft.console import stderr_console

    con = console or stderr_console()
    last: list[Progress] = []

    def remember(p: Progress) -> None:
        last[:] = [p]

    if not con.is_terminal:
        # Off a terminal (CI logs, pipes) a live region cannot redraw; print the final state
        # once, as a whole line, so whatever is printed next starts on a line of its own.
        yield remember
        if last:
            con.print(Text(progress_line(last[0])))
        return
    from rich.live import Live

    with Live(Text(""), console=con, transient=False, auto_refresh=False) as live:

        def update(p: Progress) -> None:
            remember(p)
            live.update(Text(progress_line(p)), refresh=True)

        yield update
        if last:
            live.update(Text(progress_line(last[0])), refresh=True)


def render_summary(summary: dict[str, Any], console: Any = None) -> None:
    """Tables per scorer (model, score with failures as 0, the answered-only score, CI, diff,
    p-value, cost), confusion matrices, worst examples."""
    from rich.table import Table

    from openai_ft.console import stderr_console

    con = console or stderr_console()
    comps = {(c["model"], c["scorer"]): c for c in summary.get("comparisons", [])}
    scorers = list(summary["models"][0]["scores"]) if summary.get("models") else []
    for scorer in scorers:
        t = Table(title=f"{scorer}  (run {summary['run']})")
        for col in (
            "model",
            "score",
            "answered-only",
            "95% CI",
            "diff vs first",
            "diff CI",
            "p-value",
            "W/T/L",
            "failed",
            "cost $",
        ):
            t.add_column(col, justify="left" if col == "model" else "right")
        for m in summary["models"]:
            s = m["scores"][scorer]
            c = comps.get((m["model"], scorer))
            t.add_row(
                m["model"], _fmt(s["mean"]), _fmt(s.get("answered_mean")),
                f"[{_fmt(s['ci95'][0])}, {_fmt(s['ci95'][1])}]",
                _fmt(c["diff"], 3) if c else "", f"[{_fmt(c['ci95'][0])}, {_fmt(c['ci95'][1])}]" if c else "",
                format_p(c["p_value"]) if c else "", f"{c['wins']}/{c['ties']}/{c['losses']}" if c else "",
                str(m["failed"]), _fmt(m["cost_usd"], 4),
            )  # fmt: skip
        con.print(t)
    for scorer, per_model in summary.get("classification", {}).items():
        for model, rep in per_model.items():
            t = Table(
                title=f"{scorer}: {model}  accuracy {_fmt(rep['accuracy'])}  macro-F1 {_fmt(rep['macro_f1'])}"
            )
            t.add_column("reference \\ predicted")
            for label in rep["labels"]:
                t.add_column(label[:10], justify="right")
            for label, row in zip(rep["labels"], rep["confusion"], strict=True):
                t.add_row(label, *(str(v) for v in row))
            con.print(t)
    for scorer, comps_ in summary.get("label_breakdown", {}).items():
        for comp in comps_:
            t = Table(title=f"{scorer} per label: {comp['model']} vs {comp['vs']}")
            for col in ("label", "support", "baseline acc", "model acc", "diff", "p-value"):
                t.add_column(col, justify="left" if col == "label" else "right")
            for row in comp["labels"]:
                t.add_row(
                    row["label"], str(row["support"]), _fmt(row["vs_accuracy"]),
                    _fmt(row["accuracy"]), _fmt(row["diff"]), format_p(row["p_value"]),
                )  # fmt: skip
            con.print(t)
    worst = summary.get("worst") or []
    if worst:
        t = Table(title=f"worst examples of {summary['models'][-1]['model']}")
        for col in ("line", "question", "reference", "answer", "score"):
            t.add_column(col)
        for w in worst:
            answer = w["prediction"] if w["prediction"] is not None else f"ERROR {w['error']}"
            t.add_row(
                str(w["line"]),
                w["question"][:60],
                w["reference"][:30],
                str(answer)[:40],
                _fmt(w["score"], 2),
            )
        con.print(t)
    best = summary.get("best")
    if best:
        job = summary.get("checkpoints_job", "the job")
        con.print(
            f"best of {job} on held-out data: {best['model']} "
            f"({best['scorer']} {_fmt(best['score'])})",
            markup=False,
            highlight=False,
        )
