"""Socket reading for the HTTP server with a deadline per request, and bounded body reads.

Every read of a request (its line, headers and body) happens before one deadline: a client that
sends a byte now and then (slowloris) loses its connection when the deadline passes, whatever its
pace. Bodies are read only up to the size the service accepts, chunked ones included.
"""

from __future__ import annotations

import io
import re
import socket
import time
from collections.abc import Callable
from typing import Any

from openai_ft.local.http.core import ApiError

_CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]{1,16})(?:;[^\r\n]*)?\r?\n$")
MAX_TRAILER_LINES = 64


class DeadlineSocket(io.RawIOBase):
    """A readable raw stream over a socket whose every ``recv`` ends by ``deadline``."""

    def __init__(self, sock: socket.socket, clock: Callable[[], float] = time.monotonic) -> None:
        self._sock = sock
        self._clock = clock
        self.deadline = float("inf")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        """Receive into ``buffer``, waiting at most until the deadline (TimeoutError after)."""
        left = self.deadline - self._clock()
        if left <= 0:
            raise TimeoutError("the request took longer than the server's request timeout")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


def read_exact(rfile: io.BufferedIOBase, size: int) -> bytes:
    """``size`` bytes, or ConnectionError when the client hangs up first."""
    data = rfile.read(size)
    if len(data) < size:
        raise ConnectionError("the client closed the connection mid-body")
    return data


def read_chunked(
    rfile: io.BufferedIOBase,
    limit: int,
    too_large: Callable[[int], ApiError],
    on_chunk: Callable[[int], None] = lambda size: None,
) -> bytes:
    """A chunked body, refused (413) as soon as its announced chunks pass ``limit`` bytes.

    ``on_chunk(size)`` is told each chunk's size before it is read.
    """
    out = bytearray()
    while True:
        line = rfile.readline(1024)
        if not line:
            raise ConnectionError("the client closed the connection mid-body")
        match = _CHUNK_SIZE.match(line)
        if match is None:
            raise ApiError(400, "Malformed chunk size line in a chunked request body.")
        size = int(match.group(1), 16)
        if size == 0:
            break
        if len(out) + size > limit:
            raise too_large(len(out) + size)
        on_chunk(size)
        out += read_exact(rfile, size)
        if rfile.readline(3) not in (b"\r\n", b"\n"):
            raise ApiError(400, "A chunk of the request body is longer than its size line says.")
    for _ in range(MAX_TRAILER_LINES):
        if rfile.readline(8192) in (b"\r\n", b"\n", b""):
            return bytes(out)
    raise ApiError(400, "Too many trailer lines after a chunked request body.")


def drain(sock: socket.socket, max_bytes: int, seconds: float) -> None:
    """Discard what the client still sends (at most ``max_bytes``, ``seconds``) before closing.

    Closing a socket with unread input resets the connection, and a reset can destroy the answer
    the client has not read yet; reading a bounded amount first lets the answer arrive.
    """
    end = time.monotonic() + seconds
    try:
        sock.shutdown(socket.SHUT_WR)
        got = 0
        while got < max_bytes and time.monotonic() < end:
            sock.settimeout(max(0.001, end - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                return
            got += len(data)
    except OSError:
        return


__all__ = ["DeadlineSocket", "drain", "read_chunked", "read_exact"]
