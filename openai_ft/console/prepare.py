"""Views of ``prepare``: a progress bar for big inputs (stderr) and the summary (stdout)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from openai_ft.console import emit, plural
from openai_ft.dataset.prepare import PrepareResult, ProgressEvent

if TYPE_CHECKING:
    from rich.console import Console

PROGRESS_MIN_ROWS = 2_000  # below this the work is instant and a bar would only flicker
_STAGES = {"read": "reading rows", "validate": "validating splits", "write": "writing files"}


def _stderr(console: Console | None) -> Console:
    if console is not None:
        return console
    from openai_ft.console import make_console

    return make_console()


@contextmanager
def prepare_progress(console: Console | None = None) -> Iterator[Callable[[ProgressEvent], None]]:
    """Yield a progress callback; a bar appears once an input is known to exceed a few thousand rows."""
    state: dict[str, Any] = {"progress": None, "tasks": {}}

    def on_event(event: ProgressEvent) -> None:
        progress = state["progress"]
        if progress is None:
            big = max(event.total or 0, event.done) >= PROGRESS_MIN_ROWS
            if not (event.stage == "read" and big):
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=_stderr(console),
                transient=False,
            )
            progress.start()
            state["progress"] = progress
        tasks: dict[str, Any] = state["tasks"]
        if event.stage not in tasks:
            tasks[event.stage] = progress.add_task(
                _STAGES.get(event.stage, event.stage), total=event.total
            )
        progress.update(tasks[event.stage], completed=event.done, total=event.total)

    try:
        yield on_event
    finally:
        if state["progress"] is not None:
            state["progress"].stop()


def render_notes(result: PrepareResult, stream: TextIO | None = None) -> None:
    """Print each note about the splits (an empty split has no file, a small one is noisy)."""
    out = stream or sys.stderr
    for note in result.notes:
        out.write(f"NOTE {note}\n")
    out.flush()


def render_prepare(result: PrepareResult, console: Console | None = None) -> None:
    """Print what prepare did: rows kept and dropped, rows and tokens per split, the cost estimate."""
    from rich.table import Table

    if console is None:
        from openai_ft.console import stdout_console

        console = stdout_console()
    out = console
    m = result.manifest
    counts = m["counts"]
    emit(
        out,
        f"[bold]{m['source']['path']}[/] - {counts['rows']:,} rows read ({m['source']['format']}), "
        f"{counts['dropped_empty']:,} empty dropped, {result.dropped_duplicates:,} duplicates dropped "
        f"({counts['duplicates_exact']:,} exact, {counts['duplicates_normalized']:,} normalised)",
        highlight=False,
    )
    split_how = "stratified by label" if m["stratified"] else "random"
    emit(
        out,
        f"method {m['method']}, split {split_how}, seed {m['seed']}, no prompt in two splits",
        highlight=False,
    )
    table = Table(title=f"written to {result.out_dir}", title_justify="left")
    for col in ("split", "rows", "tokens", "tokens/example", "warnings"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for name, count in result.counts.items():
        report = result.reports.get(name)
        tokens = report.tokens if report else None
        table.add_row(
            name if count else f"{name} (no file)",
            f"{count:,}",
            f"{tokens.total:,}" if tokens else "-",
            f"{tokens.mean:.1f}" if tokens else "-",
            str(len(report.warnings)) if report else "-",
        )
    emit(out, table)  # no trailing spaces after the title in a file
    train = result.reports.get("train")
    if train and train.warnings:
        codes = Counter(w.code for w in train.warnings)
        listing = ", ".join(f"{code} x{n}" for code, n in codes.most_common())
        emit(out, f"[yellow]train warnings:[/] {listing}", highlight=False)
    est = m.get("estimate")
    if est:
        emit(
            out,
            f"estimate for {m['model']}: {plural(est['n_epochs'], 'epoch')}, {est['trained_tokens']:,} trained tokens "
            f"~ ${est['usd']:,.2f} ({est['price_source']})",
            highlight=False,
            markup=False,
        )
