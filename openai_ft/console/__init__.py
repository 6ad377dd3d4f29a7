"""Everything the user sees. The only package that imports rich (lazily, to keep start-up light).

Errors are printed as ``ERROR <message>`` and, when there is a next step, ``TIP <tip>``.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

from openai_ft.config import debug_enabled
from openai_ft.errors import OpenAIFTError, redact

if TYPE_CHECKING:
    from rich.console import Console


def report_error(exc: BaseException, stream: TextIO | None = None) -> None:
    """Print one line for an error (and a TIP line); a traceback only with OPENAI_FT_DEBUG=1."""
    out = stream or sys.stderr
    if debug_enabled():
        out.write(redact("".join(traceback.format_exception(exc))))
    if isinstance(exc, OpenAIFTError):
        out.write(f"ERROR {exc.message}\n")
        if exc.tip:
            out.write(f"TIP {exc.tip}\n")
    else:
        out.write(redact(f"ERROR internal error: {type(exc).__name__}: {exc}") + "\n")
        out.write("TIP rerun with OPENAI_FT_DEBUG=1 to see the traceback, and report it\n")
    out.flush()


# Off a terminal (a pipe, a file, CI logs) there is no width to measure: $COLUMNS when set,
# else a width that a log viewer or an editor shows without wrapping, and that leaves ids whole
# enough to copy from a saved listing.
DEFAULT_WIDTH = 100
MIN_WIDTH = 40
ELLIPSIS = "…"


def output_width(stream: TextIO | None = None) -> int:
    """Columns to lay a table out in: $COLUMNS, else the terminal's width, else 100."""
    import os
    import shutil

    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit():
        return max(MIN_WIDTH, int(env))
    out = stream or sys.stdout
    if _isatty(out):
        return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)
    return DEFAULT_WIDTH


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without a terminal
        return False


def make_console(file: TextIO | None = None, width: int | None = None) -> Console:
    """A rich Console on ``file`` (default stderr), ``width`` columns wide (see output_width).

    Off a terminal, tables are laid out in that width (100) but lines of text are not wrapped (a file
    or a pipe gets each message on one line, for grep; a terminal wraps them itself).
    """
    from rich.console import Console

    stream = file or sys.stderr
    tty = _isatty(stream)
    if width is None and not tty:
        width = output_width(stream)
    console = Console(file=stream, width=width, soft_wrap=not tty)
    console.on_broken_pipe = _pipe_gone  # type: ignore[method-assign]
    return console


def _pipe_gone() -> None:
    """rich exits with status 1 when the reader of stdout has gone (``| head -1``); raise
    instead, so that cli.main ends quietly with 0, as for any other closed pipe."""
    raise BrokenPipeError(32, "the reader of the output has gone")


def emit(console: Console, *renderables: object, **kw: object) -> None:
    """Print as ``console.print`` does; off a terminal, without the spaces rich pads lines with
    (a file or a pipe gets no trailing whitespace)."""
    if console.is_terminal:
        console.print(*renderables, **kw)  # type: ignore[arg-type]
        return
    with console.capture() as capture:
        console.print(*renderables, **kw)  # type: ignore[arg-type]
    text = "\n".join(line.rstrip() for line in capture.get().split("\n"))
    console.file.write(text)
    console.file.flush()


@contextlib.contextmanager
def busy(text: str, stream: TextIO | None = None) -> Iterator[None]:
    """A spinner and ``text`` on ``stream`` (stderr) while the block runs, from its first moment;
    only on a terminal (a log gets no spinner frames), and gone when the block ends."""
    out = stream or sys.stderr
    if not _isatty(out):
        yield
        return
    from rich.live import Live
    from rich.spinner import Spinner

    # Drawn on entry (rich's status() waits for its timer's first tick), turned by the timer.
    spinner = Spinner("dots", text=text)
    with Live(spinner, console=make_console(out), transient=True, refresh_per_second=8):
        yield


def stderr_console() -> Console:
    """A rich Console on stderr (progress and status never go to stdout)."""
    return make_console(sys.stderr)


def stdout_console() -> Console:
    """A rich Console on stdout, for results a person may redirect to a file."""
    return make_console(sys.stdout)


def shorten_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: its start, ``…`` and its (longer) end, which is
    where model ids differ (``ft:gpt-4.1…:ckpt-step-88``)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = (width - 1) // 3
    return text[:head] + ELLIPSIS + text[len(text) - (width - 1 - head) :]


def shorten_all(texts: Sequence[str], width: int, *, tail_only: bool = False) -> dict[str, str]:
    """Each text shortened from the middle to ``width``, keeping distinct texts distinct: when
    two would read the same, less of the start and more of the end is kept. ``tail_only``
    keeps only the end (a path: its file name)."""
    unique = list(dict.fromkeys(texts))
    if all(len(t) <= width for t in unique):
        return {t: t for t in unique}
    head = 0 if tail_only else (width - 1) // 3
    default = {t: _cut(t, width, head) for t in unique}
    for h in range(head, -1, -1):
        shown = {t: _cut(t, width, h) for t in unique}
        if len(set(shown.values())) == len(unique):
            return shown
    return default


def _cut(text: str, width: int, head: int) -> str:
    if len(text) <= width:
        return text
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + (text[len(text) - tail :] if tail > 0 else "")


def plural(n: object, word: str, many: str | None = None) -> str:
    """``1 epoch``, ``3 epochs``, ``1,200 examples`` (``auto epochs`` for a value not a count)."""
    count = f"{n:,}" if isinstance(n, int) else str(n)
    return f"{count} {word if n == 1 else many or word + 's'}"
