"""Everything the user sees. The only package that imports rich (lazily, to keep start-up light).

Errors are printed as ``ERROR <message>`` and, when there is a next step, ``TIP <tip>``.
"""

from __future__ import annotations

import sys
import traceback
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


# Off a terminal (CI logs, pipes) rich would wrap at 80 columns and truncate table cells.
PLAIN_WIDTH = 160


def make_console(file: TextIO | None = None) -> Console:
    """A rich Console on ``file`` (default stderr); wide when not writing to a terminal."""
    import os

    from rich.console import Console

    stream = file or sys.stderr
    width = None
    if not stream.isatty() and not os.environ.get("COLUMNS"):
        width = PLAIN_WIDTH
    console = Console(file=stream, width=width)
    console.on_broken_pipe = _pipe_gone  # type: ignore[method-assign]
    return console


def _pipe_gone() -> None:
    """rich exits with status 1 when the reader of stdout has gone (``| head -1``); raise
    instead, so that cli.main ends quietly with 0, as for any other closed pipe."""
    raise BrokenPipeError(32, "the reader of the output has gone")


def stderr_console() -> Console:
    """A rich Console on stderr (progress and status never go to stdout)."""
    return make_console(sys.stderr)


def stdout_console() -> Console:
    """A rich Console on stdout, for results a person may redirect to a file."""
    return make_console(sys.stdout)
