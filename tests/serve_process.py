"""``openai-ft serve`` as a real process for tests: started on a free loopback port, its stderr
(the banner, then the access log) read as it comes by a thread, and stopped with a signal.

Reading as it comes matters: a test that talks to the server for a while would otherwise fill
the stderr pipe (64 KiB, about a thousand access-log lines) and stall the server.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_LOGS: dict[int, tuple[threading.Thread, list[str]]] = {}


def start_serve(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start ``openai-ft serve --port 0 --home HOME ARGS``; returns it and its ``.../v1`` URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "openai_ft", "serve", "--port", "0", "--home", str(home), *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    stderr = proc.stderr
    assert stderr is not None
    banner = stderr.readline()  # blocks until the socket is listening
    match = re.search(r"on (http://\S+/v1) ", banner)
    if not match:
        proc.kill()
        proc.wait(timeout=30)
        raise AssertionError(f"serve did not start: {banner}{stderr.read()}")
    lines: list[str] = []

    def drain() -> None:
        for line in stderr:
            lines.append(line.rstrip("\n"))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    _LOGS[proc.pid] = (reader, lines)
    return proc, match.group(1)


def stop_serve(proc: subprocess.Popen[str], signum: int = signal.SIGINT) -> list[str]:
    """Signal the server (SIGINT is what Ctrl-C sends), wait for it to exit 0, and return what
    it wrote after its banner; a server that ignores the signal is killed, then it fails."""
    reader, lines = _LOGS.pop(proc.pid)
    proc.send_signal(signum)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()  # leave no server behind, then fail
        proc.wait(timeout=30)
        reader.join(timeout=30)
        raise AssertionError(f"serve ignored signal {signum}:\n" + "\n".join(lines)) from None
    reader.join(timeout=30)
    assert proc.returncode == 0, "\n".join(lines)
    return lines
