"""Views of dataset results: the validation report, on stdout (a result a person may save)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openai_ft.console import emit, plural
from openai_ft.dataset.validate_types import Issue, ValidationReport

if TYPE_CHECKING:
    from rich.console import Console

MAX_LINES_SHOWN = 12


def _lines(issues: list[Issue]) -> str:
    lines = [str(i.line) for i in issues if i.line is not None]
    shown = ", ".join(lines[:MAX_LINES_SHOWN])
    if len(lines) > MAX_LINES_SHOWN:
        shown += f", ... (+{len(lines) - MAX_LINES_SHOWN})"
    return shown or "file"


def _issue_table(title: str, issues: Sequence[Issue], style: str) -> Any:
    from rich.table import Table

    groups: dict[str, list[Issue]] = defaultdict(list)
    for issue in issues:
        groups[issue.code].append(issue)
    table = Table(title=title, title_style=style, show_lines=False, expand=False)
    table.add_column("code", style=style)
    table.add_column("count", justify="right")
    table.add_column("lines")
    table.add_column("example")
    for code, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        first = items[0]
        where = f" ({first.field})" if first.field else ""
        table.add_row(code, str(len(items)), _lines(items), first.message + where)
    return table


def _histogram(report: ValidationReport) -> str:
    hist = report.tokens.histogram
    peak = max((n for _, n in hist), default=0)
    rows = []
    lower = 0
    for upper, n in hist:
        if n:  # an empty bin says nothing; its range shows as the gap between its neighbours
            bar = "#" * (round(30 * n / peak) if peak else 0)
            rows.append(f"  {lower:>7}-{upper:<7} {bar} {n}")
        lower = upper + 1
    return "\n".join(rows)


def render_validation(reports: Sequence[ValidationReport], console: Console | None = None) -> None:
    """Print each report: a summary, issues grouped by code with their lines, tokens and cost."""
    if console is None:
        from openai_ft.console import stdout_console

        console = stdout_console()
    for report in reports:
        status = "[green]valid[/]" if report.valid else "[red]invalid[/]"
        emit(
            console,
            f"[bold]{report.path}[/] - {plural(report.examples, 'example')}, {report.method}, "
            f"{report.model}: {status} ({plural(len(report.errors), 'error')},"
            f" {plural(len(report.warnings), 'warning')})",
            highlight=False,
        )
        if report.errors:
            emit(console, _issue_table("errors", report.errors, "red"))
        if report.warnings:
            emit(console, _issue_table("warnings", report.warnings, "yellow"))
        t = report.tokens
        emit(
            console,
            f"tokens: {t.total:,} total, {t.assistant:,} assistant; per example "
            f"min {t.min}, p50 {t.p50}, mean {t.mean:.1f}, p95 {t.p95}, max {t.max}",
            highlight=False,
        )
        if t.histogram:
            emit(console, _histogram(report), highlight=False, markup=False)
        e = report.estimate
        emit(
            console,
            f"estimate: {plural(e.n_epochs, 'epoch')} x {t.total:,} tokens = {e.trained_tokens:,} trained tokens "
            f"~ ${e.usd:,.2f} ({e.price_source})",
            highlight=False,
            markup=False,
        )
