"""The sweep's views: one live table of every job on a terminal, plain status lines off one;
the plan before anything is created; the result table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from openai_ft.console.jobs import table

if TYPE_CHECKING:
    from rich.console import Console

    from openai_ft.evaluate.runner import Progress
    from openai_ft.sweep import SweepPlan, SweepResult
    from openai_ft.sweep.run import PointView, SweepUpdate

HP_WIDTH = 30  # the hyperparameters column; the whole table fits 80 columns


def _loss(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _hp(hp: dict[str, Any], width: int = HP_WIDTH) -> str:
    short = {"learning_rate_multiplier": "lr", "n_epochs": "ep", "batch_size": "bs"}
    text = " ".join(f"{short.get(k, k)}={v}" for k, v in hp.items())
    return text if len(text) <= width else text[: width - 1] + "~"


def _step(p: PointView) -> str:
    if p.step is None:
        return "-"
    return f"{p.step}/{p.total_steps or '?'}"


def point_cells(p: PointView) -> list[str]:
    """One row of the live table: point, hyperparameters, status, step, train and valid loss."""
    return [
        f"p{p.index}",
        _hp(p.hyperparameters),
        p.status[:16],
        _step(p),
        _loss(p.train_loss),
        _loss(p.valid_loss),
    ]


HEADERS = ("point", "hyperparameters", "status", "step", "train", "valid")


class SweepView:
    """An ``on_event`` callback for :func:`openai_ft.sweep.sweep` (use as a context manager).

    On a terminal a rich Live table shows every job, redrawn on each update, with notes (a job
    created, a wait, a job ended) printed once above it; off a terminal the notes and the other
    changes of a point's status (queued, running...) are plain lines.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        live: bool | None = None,
        *,
        console: Console | None = None,
    ) -> None:
        self.stream: TextIO = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._console = console
        self._live: Any = None
        self._points: tuple[PointView, ...] = ()
        self._status: dict[int, str] = {}
        self._progress: Progress | None = None

    def __enter__(self) -> SweepView:
        if self.live:
            from rich.live import Live

            from openai_ft.console import make_console

            console = self._console or make_console(self.stream)
            self._live = Live(self._render(), console=console, auto_refresh=False)
            self._live.start()
        return self

    def eval_progress(self, progress: Progress) -> None:
        """An ``on_eval_progress`` callback: the evaluation's line under the table (on a
        terminal), or once when it is done (off one)."""
        self._progress = progress
        if self._live is not None:
            self._live.update(self._render(), refresh=True)

    def _flush_progress(self) -> None:
        """Off a terminal, the last evaluation progress line, once."""
        from openai_ft.console.evaluate import progress_line

        if self._live is None and self._progress is not None:
            self._write(progress_line(self._progress))
            self._progress = None

    def __exit__(self, *exc: object) -> None:
        self._flush_progress()
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.stop()
            self._live = None

    def __call__(self, update: SweepUpdate) -> None:
        self._points = update.points
        self._flush_progress()
        if update.note:
            self._write(update.note)
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            return
        for p in update.points if not update.note else ():  # a note already says what changed
            if self._status.get(p.index) != p.status and p.status != "pending":
                self._write(
                    f"p{p.index} {_hp(p.hyperparameters, 60)}: {p.status}"
                    + (f" ({p.job_id})" if p.job_id else "")
                )
        self._status = {p.index: p.status for p in update.points}

    def _write(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False, soft_wrap=True)
            return
        self.stream.write(text + "\n")
        self.stream.flush()

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        if not self._points:
            return Text("planning the sweep...")
        grid = Table(box=None, padding=(0, 1), show_edge=False)
        for h in HEADERS:
            grid.add_column(h, no_wrap=True)
        for p in self._points:
            grid.add_row(*point_cells(p))
        if self._progress is None:
            return grid
        from rich.console import Group

        from openai_ft.console.evaluate import progress_line

        return Group(grid, Text(progress_line(self._progress)))


def plan_text(plan: SweepPlan) -> str:
    """What the sweep will create and what it is estimated to cost (shown before anything)."""
    cost = (
        "unknown (training file given by id)"
        if plan.total_usd is None
        else f"~${plan.total_usd:.2f}"
    )
    attached = len(plan.points) - plan.to_create
    extra = f"; {attached} attach to jobs created before" if attached else ""
    return (
        f"sweep {plan.sweep_id}: {len(plan.points)} points on {plan.model}, {plan.to_create} new"
        f" job(s){extra}; estimated training cost of the sweep {cost}"
    )


def result_table(result: SweepResult) -> str:
    """The points with their validation score (human results, for stdout; fits 80 columns)."""
    scores = {
        c["point"]: c
        for c in (result.selection or {}).get("candidates", [])
        if c.get("step") is None
    }
    rows: list[Sequence[Any]] = []
    for p in result.points:
        s = scores.get(p.index, {})
        mean = s.get("mean")
        lo, hi = s.get("ci95") or (None, None)
        ci = f"[{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else "-"
        rows.append(
            [
                f"p{p.index}",
                _hp(p.hyperparameters, 26),
                p.status[:12],
                "-" if mean is None else f"{mean:.3f}",
                ci,
            ]
        )
    return table(["point", "hyperparameters", "status", "val", "95% CI"], rows)
