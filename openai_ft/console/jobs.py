"""Views of upload, train and watch: rich on a terminal, plain lines off one (CI, pipes)."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO, cast

from openai_ft.watch_types import EarlyStopped, JobEvent, Retrying, Snapshot, WatchEvent

if TYPE_CHECKING:
    from rich.console import Console

BLOCKS = "▁▂▃▄▅▆▇█"


def downsample(values: Sequence[float], width: int) -> list[float]:
    """The whole curve in ``width`` points: the mean of each of ``width`` equal spans of steps
    (a span holding a nan or infinite value stays nan: a diverged loss is not averaged away)."""
    vals = list(values)
    n = len(vals)
    if n <= width or width < 1:
        return vals
    out = []
    for i in range(width):
        chunk = vals[i * n // width : (i + 1) * n // width]
        finite = all(math.isfinite(v) for v in chunk)
        # Halves, as in sparkline: the mean of two huge finite floats must not overflow.
        out.append(sum(v / 2 for v in chunk) / len(chunk) * 2 if finite else math.nan)
    return out


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """A one-line chart of the whole curve in at most ``width`` characters (downsampled, so a
    falling loss is seen falling); ``!`` marks a nan or infinite value (a diverged loss),
    which would otherwise stop the chart and the command with it."""
    vals = downsample(values, width)
    finite = [v for v in vals if math.isfinite(v)]
    if not finite:
        return "!" * len(vals)
    # Halves, so that the span of any two finite floats is finite too.
    lo, hi = min(finite) / 2, max(finite) / 2
    span = hi - lo or 1.0
    return "".join(
        BLOCKS[min(7, int((v / 2 - lo) / span * 7.999))] if math.isfinite(v) else "!" for v in vals
    )


def fmt_duration(seconds: float | None) -> str:
    """``1h02m03s`` / ``4m05s`` / ``12s``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def _loss(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def status_line(snap: Snapshot, now: float | None = None) -> str:
    """One plain line: status, step/total, losses, tokens, elapsed and ETA."""
    parts = [f"{snap.job_id} {snap.status}"]
    if snap.step is not None:
        parts.append(f"step {snap.step}/{snap.total_steps or '?'}")
    parts.append(f"train {_loss(snap.train_loss)} valid {_loss(snap.valid_loss)}")
    if snap.trained_tokens:
        parts.append(f"{snap.trained_tokens:,} tokens")
    parts.append(f"elapsed {fmt_duration(snap.elapsed)}")
    if snap.estimated_finish:
        parts.append(f"ETA {fmt_duration(snap.estimated_finish - (now or time.time()))}")
    return "  ".join(parts)


class WatchView:
    """An ``on_event`` callback that renders watch events (use as a context manager).

    On a terminal a rich Live region shows status, progress, losses and charts, and each event
    is printed once above it (a rolling window would lose the older ones); off a terminal it
    prints plain lines. Metrics events only move the numbers: one line per step would drown
    the log. ``console`` and ``clock`` (for the ETA) are injectable for tests.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        live: bool | None = None,
        *,
        console: Console | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stream: TextIO = stream or (cast(TextIO, console.file) if console else sys.stderr)
        self.live = self.stream.isatty() if live is None else live
        self._console = console
        self._clock = clock
        self._last_status: str | None = None
        self._snap: Snapshot | None = None
        self._live: Any = None

    def __enter__(self) -> WatchView:
        if self.live:
            from rich.live import Live

            from openai_ft.console import make_console

            console = self._console or make_console(self.stream)
            # Redrawn on each event, not by a timer thread: nothing changes between events.
            self._live = Live(self._render(), console=console, auto_refresh=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.stop()
            if not self._live.console.is_terminal:
                self._live.console.line()  # off a terminal the final render ends no line
            self._live = None

    def __call__(self, event: WatchEvent) -> None:
        if isinstance(event, JobEvent):
            if event.type != "metrics":
                stamp = time.strftime("%H:%M:%S", time.localtime(event.created_at))
                self._write(f"[{stamp}] {event.message}")
        elif isinstance(event, Snapshot):
            self._snap = event
            if self._live is None and event.status != self._last_status:
                self._write(status_line(event, self._clock()))
            self._last_status = event.status
        elif isinstance(event, Retrying):
            self._write(f"connection problem ({event.error}); retrying in {event.wait:.0f}s")
        elif isinstance(event, EarlyStopped):
            self._write(early_stop_text(event))
        if self._live is not None:
            self._live.update(self._render(), refresh=True)

    def _write(self, text: str) -> None:
        if self._live is not None:  # above the live region, printed once
            self._live.console.print(text, markup=False, highlight=False, soft_wrap=True)
            return
        self.stream.write(text + "\n")
        self.stream.flush()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        snap = self._snap
        if snap is None:
            return Text("waiting for the job...")
        # The job and its status, then the numbers: one line of both would wrap at 80 columns.
        head, _, numbers = status_line(snap, self._clock()).partition("  ")
        rows: list[Any] = [Text(head, style="bold"), Text(numbers)]
        if snap.step is not None and snap.total_steps:
            # In a grid: a bare ProgressBar ends no line, so the next row would run into it.
            bar = Table.grid(padding=(0, 1))
            bar.add_row(
                ProgressBar(total=snap.total_steps, completed=snap.step, width=50),
                Text(f"{100 * snap.step // snap.total_steps}%"),
            )
            rows.append(bar)
        # The whole curve, as wide as the terminal allows after the label.
        chart = max(10, (self._live.console.width if self._live is not None else 80) - 7)
        if snap.train_curve:
            rows.append(Text("train " + sparkline([v for _, v in snap.train_curve], chart)))
        if snap.valid_curve:
            rows.append(Text("valid " + sparkline([v for _, v in snap.valid_curve], chart)))
        return Group(*rows)


def early_stop_text(e: EarlyStopped) -> str:
    """What early stopping did, and which checkpoint to use."""
    head = (
        f"early stop: no validation improvement for {e.patience} validation steps"
        f" (best {_loss(e.best_valid_loss)} at step {e.best_step}); job cancelled"
    )
    if e.checkpoint:
        return f"{head}; best usable checkpoint: {e.checkpoint} (step {e.checkpoint_step}, valid {_loss(e.checkpoint_valid_loss)})"
    return f"{head}; no usable checkpoint with a validation loss"


def upload_progress(
    stream: TextIO | None = None,
) -> tuple[Callable[[Any], None], Callable[[], None]]:
    """A byte-level progress callback for upload and a function that closes the view."""
    out = stream or sys.stderr
    if not out.isatty():
        return (lambda _p: None), (lambda: None)
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    from openai_ft.console import make_console

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=make_console(out), transient=True,
    )  # fmt: skip
    progress.start()
    tasks: dict[str, Any] = {}

    def on_progress(p: Any) -> None:
        if p.path not in tasks:
            tasks[p.path] = progress.add_task(p.path, total=p.total)
        progress.update(tasks[p.path], completed=p.sent)

    return on_progress, progress.stop


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    width: int | None = None,
    shorten: Sequence[int] = (),
    paths: Sequence[int] = (),
) -> str:
    """A plain aligned text table (the same on a terminal and in a log) in ``width`` columns
    (default: see ``output_width``): the columns in ``shorten`` (model ids) give up their middle,
    the widest first, and those also in ``paths`` keep their end only (the file name); the
    others (ids to copy, numbers) are never cut."""
    from openai_ft.console import output_width, shorten_all

    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    budget = (width or output_width()) - 2 * (len(headers) - 1)
    floor = {i: max(MIN_SHORT, len(cells[0][i])) for i in shorten}
    while sum(widths) > budget:
        can = [i for i in shorten if widths[i] > floor[i]]
        if not can:
            break  # what is left must not be cut
        widths[max(can, key=lambda k: widths[k])] -= 1
    for i in shorten:
        short = shorten_all([r[i] for r in cells[1:]], widths[i], tail_only=i in paths)
        for r in cells[1:]:
            r[i] = short[r[i]]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


MIN_SHORT = 12  # a model id shortened below this no longer says which model it is
