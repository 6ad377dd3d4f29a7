"""A stdlib threaded HTTP server around the service core, for ``openai-ft serve``."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from openai_ft.local.core import Request

if TYPE_CHECKING:
    from openai_ft.local import LocalService


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("transfer-encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("content-length") or 0)
    return handler.rfile.read(length) if length else b""


def make_handler(
    local: LocalService, log: IO[str] | None, sleep: Callable[[float], None]
) -> type[BaseHTTPRequestHandler]:
    """A request-handler class bound to one service."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes
        server_version = "openai-ft-local"

        def _serve(self) -> None:
            started = time.perf_counter()
            parts = urlsplit(self.path)
            request = Request.build(
                self.command,
                unquote(parts.path),
                parts.query,
                self.headers.items(),
                _read_body(self),
            )
            response = local.service.handle(request)
            if response.delay > 0:
                sleep(response.delay)
            if response.drop:
                self.close_connection = True
                self._log(request.method, request.path, 0, started)
                return
            chunks = response.chunks
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if chunks is None:
                self.send_header("content-length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
            else:
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in chunks:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            self._log(request.method, request.path, response.status, started)

        def _log(self, method: str, path: str, status: int, started: float) -> None:
            if log is not None:
                log.write(
                    f"{method} {path} {status} {(time.perf_counter() - started) * 1000:.1f}\n"
                )
                log.flush()

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Silence the default log: we write one access line per request ourselves."""

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64+ concurrent clients connect at once; the default backlog is 5

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up mid-request is normal; anything else goes to stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class LocalServer:
    """``ThreadingHTTPServer`` serving a LocalService on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        local: LocalService,
        host: str = "127.0.0.1",
        port: int = 8089,
        log: IO[str] | None = sys.stderr,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.local = local
        self.httpd = _Server((host, port), make_handler(local, log, sleep))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="openai-ft-serve", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self.httpd.serve_forever()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
        self.httpd.server_close()
