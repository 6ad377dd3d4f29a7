"""Eval views: live progress (done/total, req/s, errors, tokens, cost, ETA) and result tables.

Tables are laid out for the console's width (80 columns included): numbers are never cut, model
ids are shortened from the middle so that the end that tells them apart stays readable.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from openai_ft.console import emit, shorten_all
from openai_ft.evaluate.runner import Progress
from openai_ft.evaluate.summary import format_p

MIN_ID = 12  # narrower than this, a shortened model id no longer says which model it is


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _usd(x: float) -> str:
    return f"${x:.4f}"


def progress_line(p: Progress) -> str:
    """One-line text of a progress snapshot: what this run spent, and apart what the answers
    read back from the ledger cost when they were first bought."""
    eta = f"{p.eta:.0f}s" if p.eta is not None else "-"
    parts = [f"{p.done}/{p.total} done ({p.cached} from ledger)", f"{p.rate:.1f} req/s"]
    parts.append(f"{p.errors} errors")
    if p.throttled:
        parts.append(f"{p.throttled} throttled")
    parts.append(f"{p.prompt_tokens + p.completion_tokens:,} tokens")
    old = p.cost_usd - p.spent_usd
    parts.append(f"{_usd(p.spent_usd)} spent" + (f" (ledger: {_usd(old)})" if p.cached else ""))
    parts.append(f"ETA {eta}")
    return " | ".join(parts)


STARTING = "starting: reading the data, sending the first requests"


@contextlib.contextmanager
def live_progress(console: Any = None) -> Iterator[Any]:
    """Yield a progress callback: on a terminal a spinner from the first moment (before the
    first answer, while the data loads) and then the live line; elsewhere only the final line."""
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
    from rich.spinner import Spinner

    spinner = Spinner("dots", text=Text(STARTING))
    # Refreshed by rich's timer, so the spinner turns while nothing has arrived yet.
    with Live(spinner, console=con, transient=False, refresh_per_second=8) as live:

        def update(p: Progress) -> None:
            remember(p)
            spinner.update(text=Text(progress_line(p)))

        yield update
        live.update(Text(progress_line(last[0]) if last else ""), refresh=True)


@dataclass(frozen=True)
class Col:
    """A column: ``num`` is never cut or wrapped, ``id`` is shortened from the middle, ``text``
    wraps."""

    header: str
    kind: str = "num"


def _cell_len(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def fit_widths(cols: Sequence[Col], rows: Sequence[Sequence[str]], budget: int) -> list[int]:
    """Column widths within ``budget`` cells: numbers keep their natural width, ``id`` and
    ``text`` columns share what is left (at least MIN_ID each)."""
    natural = [
        max([_cell_len(c.header)] + [_cell_len(r[i]) for r in rows]) for i, c in enumerate(cols)
    ]
    widths = list(natural)
    flex = [i for i, c in enumerate(cols) if c.kind != "num"]
    # Water-filling: take a cell from the widest flexible column until the table fits.
    while sum(widths) > budget:
        i = max(flex, key=lambda k: widths[k], default=None)
        if i is None or widths[i] <= MIN_ID:
            break  # the numbers alone are wider: never cut them
        widths[i] -= 1
    return widths


def fit_table(
    title: str | None,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    compact: bool = False,
) -> Any:
    """A rich Table of ``rows`` that fits ``width`` columns when its numbers do (see fit_widths).

    ``compact`` draws no vertical rules (a confusion matrix: many narrow columns)."""
    from rich import box
    from rich.table import Table

    overhead = 2 * len(cols) if compact else 3 * len(cols) + 1
    widths = fit_widths(cols, rows, width - overhead)
    short = [
        shorten_all([r[i] for r in rows], widths[i]) if c.kind == "id" else None
        for i, c in enumerate(cols)
    ]
    t = Table(
        title=title,
        box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD,
        pad_edge=not compact,
        title_justify="left",
    )
    for c, w in zip(cols, widths, strict=True):
        t.add_column(
            c.header,
            justify="right" if c.kind == "num" else "left",
            width=w,
            no_wrap=c.kind != "text",
            overflow="fold",
        )
    for r in rows:
        t.add_row(*(s[cell] if s is not None else cell for s, cell in zip(short, r, strict=True)))
    return t


def _same_figures(summary: dict[str, Any], a: str, b: str) -> bool:
    """Whether scorers ``a`` and ``b`` gave every model the same figures (exact and
    classification do on labels): one table then shows both."""
    keys = ("diff", "ci95", "p_value", "wins", "ties", "losses")
    comps = {(c["model"], c["scorer"]): c for c in summary.get("comparisons", [])}
    for m in summary["models"]:
        if m["scores"][a] != m["scores"][b]:
            return False
        ca, cb = comps.get((m["model"], a)), comps.get((m["model"], b))
        if (ca is None) != (cb is None):
            return False
        if ca and cb and any(ca[k] != cb[k] for k in keys):
            return False
    return True


def scorer_groups(summary: dict[str, Any]) -> list[list[str]]:
    """The scorers, those with identical figures grouped so that each fact is shown once."""
    groups: list[list[str]] = []
    scorers = list(summary["models"][0]["scores"]) if summary.get("models") else []
    for scorer in scorers:
        same = next((g for g in groups if _same_figures(summary, g[0], scorer)), None)
        if same is not None:
            same.append(scorer)
        else:
            groups.append([scorer])
    return groups


def score_rows(summary: dict[str, Any], scorer: str) -> tuple[list[Col], list[list[str]]]:
    """The score table: each model's score (failures count 0) and its CI; the answered-only
    score and failures when some example failed; what this run spent (what the answers from
    the ledger cost when they were bought is a note under the table)."""
    models = summary["models"]
    failures = any(m["failed"] for m in models)
    cols = [Col("model", "id"), Col("score"), Col("95% CI")]
    if failures:
        cols += [Col("answered-only"), Col("failed")]
    cols.append(Col("spent $"))
    rows = []
    for m in models:
        s = m["scores"][scorer]
        row = [m["model"], _fmt(s["mean"]), f"[{_fmt(s['ci95'][0])}, {_fmt(s['ci95'][1])}]"]
        if failures:
            row += [_fmt(s.get("answered_mean")), str(m["failed"])]
        row.append(_fmt(m.get("spent_usd", m["cost_usd"]), 4))
        rows.append(row)
    return cols, rows


def comparison_rows(summary: dict[str, Any], scorer: str) -> tuple[list[Col], list[list[str]]]:
    """Each later model against the first, paired: difference, its CI, p-value, wins/ties/losses."""
    cols = [Col("model", "id"), Col("diff"), Col("diff 95% CI"), Col("p-value"), Col("W/T/L")]
    rows = []
    for c in summary.get("comparisons", []):
        if c["scorer"] != scorer:
            continue
        rows.append([
            c["model"], _fmt(c["diff"], 3) if c["diff"] is None else f"{c['diff']:+.3f}",
            f"[{_fmt(c['ci95'][0])}, {_fmt(c['ci95'][1])}]", format_p(c["p_value"]),
            f"{c['wins']}/{c['ties']}/{c['losses']}",
        ])  # fmt: skip
    return cols, rows


def render_summary(summary: dict[str, Any], console: Any = None) -> None:
    """Per scorer (scorers with identical figures together): the scores with CIs and cost, the
    comparison with the first model; then confusion matrices, per-label accuracy, worst
    examples, and the best checkpoint."""
    from openai_ft.console import stderr_console

    con = console or stderr_console()
    width = con.width
    models = summary.get("models") or []
    for group in scorer_groups(summary):
        names = " = ".join(group)
        cols, rows = score_rows(summary, group[0])
        emit(con, fit_table(f"{names}  (run {summary['run']})", cols, rows, width))
        cols, rows = comparison_rows(summary, group[0])
        if rows:
            first = models[0]["model"]
            emit(con, fit_table(f"{names}: each model vs {first}", cols, rows, width))
        if any(m.get("from_ledger") for m in models):
            emit(con, _ledger_note(models), markup=False, highlight=False, soft_wrap=True)
    for scorer, per_model in summary.get("classification", {}).items():
        for model, rep in per_model.items():
            for table in confusion_tables(scorer, model, rep, width):
                emit(con, table)
    for scorer, comps_ in summary.get("label_breakdown", {}).items():
        for comp in comps_:
            cols = [Col("label", "id"), Col("support"), Col("baseline acc"), Col("model acc"),
                    Col("diff"), Col("p-value")]  # fmt: skip
            rows = [
                [r["label"], str(r["support"]), _fmt(r["vs_accuracy"]), _fmt(r["accuracy"]),
                 _fmt(r["diff"]), format_p(r["p_value"])]
                for r in comp["labels"]
            ]  # fmt: skip
            title = f"{scorer} per label: {comp['model']} vs {comp['vs']}"
            emit(con, fit_table(title, cols, rows, width))
    _render_worst(summary, con, width)
    best = summary.get("best")
    if best:
        job = summary.get("checkpoints_job", "the job")
        emit(
            con,
            f"best of {job} on held-out data: {best['model']} "
            f"({best['scorer']} {_fmt(best['score'])})",
            markup=False,
            highlight=False,
            soft_wrap=True,  # a sentence naming a model: the terminal wraps it, ids stay whole
        )


def _ledger_note(models: Sequence[dict[str, Any]]) -> str:
    reused = sum(m.get("from_ledger", 0) for m in models)
    spent = sum(m.get("spent_usd", m["cost_usd"]) for m in models)
    old = sum(m["cost_usd"] for m in models) - spent
    return (
        f"cost: this run spent {_usd(spent)}; {reused} answers came from the ledger"
        f" (they cost {_usd(old)} when first answered)"
    )


def confusion_tables(scorer: str, model: str, rep: dict[str, Any], width: int) -> list[Any]:
    """The confusion matrix: reference labels by name down the side, predicted labels by number
    across; split into several tables when the columns do not fit the width."""
    labels = rep["labels"]
    numbered = [f"{i}" for i in range(1, len(labels) + 1)]
    names = [f"{n} {label}" for n, label in zip(numbered, labels, strict=True)]
    side = max(_cell_len(n) for n in names) if names else 10
    side = min(side, max(MIN_ID, width // 3))
    cell = max([len(n) for n in numbered] + [len(str(v)) for r in rep["confusion"] for v in r])
    per_table = max(1, (width - side - 2) // (cell + 2))
    title = (
        f"{scorer} confusion: {model}  (macro-F1 {_fmt(rep['macro_f1'])};"
        " predicted labels across, by number)"
    )
    tables = []
    for start in range(0, max(1, len(labels)), per_table):
        part = range(start, min(len(labels), start + per_table))
        cols = [Col("reference", "id")] + [Col(numbered[j]) for j in part]
        rows = [
            [names[i]] + [str(rep["confusion"][i][j]) for j in part] for i in range(len(labels))
        ]
        tables.append(fit_table(title if start == 0 else None, cols, rows, width, compact=True))
    return tables


def _render_worst(summary: dict[str, Any], con: Any, width: int) -> None:
    worst = summary.get("worst") or []
    if not worst:
        return
    cols = [Col("line"), Col("question", "text"), Col("reference", "text"),
            Col("answer", "text"), Col("score")]  # fmt: skip
    rows = []
    for w in worst:
        answer = w["prediction"] if w["prediction"] is not None else f"ERROR {w['error']}"
        rows.append(
            [str(w["line"]), w["question"][:60], w["reference"][:30], str(answer)[:40],
             _fmt(w["score"], 2)]
        )  # fmt: skip
    title = f"worst examples of {summary['models'][-1]['model']}"
    emit(con, fit_table(title, cols, rows, width))
