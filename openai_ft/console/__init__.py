"""Everything the user sees. The only package that imports rich (lazily, to keep start-up light).

Errors are printed as ``ERROR <message>`` and, when there is a next step, ``TIP <tip>``.
"""

from __future__ import annotations

import sys
import traceback
from typing import TextIO

from openai_ft.config import debug_enabled
from openai_ft.errors import OpenAIFTError, redact


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


def stderr_console():  # type: ignore[no-untyped-def]
    """A rich Console on stderr (progress and status never go to stdout)."""
    from rich.console import Console

    return Console(stderr=True)
