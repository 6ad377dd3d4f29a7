"""``openai-ft serve``'s HTTP server: uvicorn (h11) around the service core, in-process.

Requests are served concurrently: an asyncio loop holds the connections (keep-alive, timeouts,
at most ``max_connections`` of them, a 503 beyond), and ``Service.handle`` runs in a pool of
threads. The hostile-client rules (the key and the size checked before the body, bounded body
reads, a deadline per request, JSON envelopes for everything) are in :mod:`.asgi`.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from typing import IO, TYPE_CHECKING

from openai_ft.local.http.asgi import EdgeProtocol, ServerLimits, ServiceApp

if TYPE_CHECKING:
    from openai_ft.local import LocalService

BACKLOG = 2048  # many clients connect at once; the kernel queues them until accepted
STARTUP_TIMEOUT = 120.0


def listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket (OSError when the address is taken or not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say they are TCP,
    # and with it on, a response's separate writes wait 40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class LocalServer:
    """uvicorn serving a LocalService on ``host:port`` (port 0 picks a free one).

    The socket is bound here, so a taken port fails at once and ``base_url`` is known before
    :meth:`start`; a ready-made ``sock`` (``serve --workers``) may be passed instead.
    """

    def __init__(
        self,
        local: LocalService,
        host: str = "127.0.0.1",
        port: int = 8089,
        log: IO[str] | None = sys.stderr,
        limits: ServerLimits | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        import uvicorn

        limits = limits or ServerLimits()
        self.local = local
        self.sock = sock or listen(host, port)
        self.app = ServiceApp(local.service, limits, log)
        logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
        config = uvicorn.Config(
            self.app,
            http=EdgeProtocol,
            interface="asgi3",
            lifespan="on",
            log_config=None,
            log_level=logging.ERROR,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=max(1, round(limits.request_timeout)),
            timeout_graceful_shutdown=5,
            backlog=BACKLOG,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``."""
        host, port = self.sock.getsockname()[:2]
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/v1"

    def start(self) -> None:
        """Serve in a background thread; returns once the engine is warm and requests are served."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="openai-ft-serve"
        )
        self._thread.daemon = True
        self._thread.start()
        end = time.monotonic() + STARTUP_TIMEOUT
        while not self.server.started and self._thread.is_alive() and time.monotonic() < end:
            time.sleep(0.01)
        if not self.server.started:
            raise OSError(f"the HTTP server did not start on {self.base_url}")

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`close` (from another thread) or a signal."""
        self.server.run(sockets=[self.sock])

    def close(self) -> None:
        """Stop serving (requests in progress get up to 5 s to finish) and release the port."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.app.pool.shutdown(wait=False)
        self.sock.close()


__all__ = ["LocalServer", "ServerLimits", "listen"]
