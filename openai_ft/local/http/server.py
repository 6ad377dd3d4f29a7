"""A stdlib threaded HTTP server around the service core, for ``openai-ft serve``.

It is written for hostile clients: the API key and the declared body size are checked before the
body is read, bodies are read only up to the size the endpoint accepts (chunked ones too), each
request must arrive within a deadline, at most ``max_connections`` connections hold a thread
(others get a 503 at once), and every answer, even to a malformed request line or an unknown
method, is OpenAI's JSON error envelope with an ``x-request-id``.
"""

from __future__ import annotations

import io
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from openai_ft.local.http.core import ApiError, Request, Response
from openai_ft.local.http.gate import too_large
from openai_ft.local.http.io import DeadlineSocket, drain, read_chunked, read_exact

if TYPE_CHECKING:
    from openai_ft.local import LocalService
    from openai_ft.local.http.app import Service


@dataclass(frozen=True)
class ServerLimits:
    """How long one request may take to arrive, how many connections hold a thread at once."""

    request_timeout: float = 30.0  # seconds for a request's line, headers and body; idle keep-alive
    min_body_rate: float = 2**20  # bytes/s: each body byte adds 1/rate seconds to the deadline
    max_connections: int = 128
    drain_bytes: int = 4 * 2**20  # unread body discarded after an early answer, at most
    drain_seconds: float = 1.0


def _wire(response: Response, method: str) -> bytes:
    """Status line and headers (and the body unless HEAD) of a non-streamed response."""
    head = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
    head += [f"{k}: {v}" for k, v in response.headers.items()]
    head.append(f"content-length: {len(response.body)}")
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
    return raw if method == "HEAD" else raw + response.body


def _reason(status: int) -> str:
    return BaseHTTPRequestHandler.responses.get(status, ("",))[0]


def make_handler(
    local: LocalService,
    log: IO[str] | None,
    sleep: Callable[[float], None],
    limits: ServerLimits = ServerLimits(),
) -> type[BaseHTTPRequestHandler]:
    """A request-handler class bound to one service."""
    service: Service = local.service

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes
        server_version = "openai-ft-local"
        timeout = limits.request_timeout  # socket timeout for writes (reads use the deadline)
        _reader: DeadlineSocket
        _linger = False

        def setup(self) -> None:
            super().setup()
            self._reader = DeadlineSocket(self.connection)
            self.rfile = io.BufferedReader(self._reader, 65536)

        def handle_one_request(self) -> None:
            """Read one request before the deadline and answer it; all methods go to the service."""
            self._reader.deadline = time.monotonic() + limits.request_timeout
            self._started = time.perf_counter()
            try:
                self.raw_requestline = self.rfile.readline(65537)
                if len(self.raw_requestline) > 65536:
                    self.requestline, self.command = "", "GET"
                    self.send_error(414, "The request line is too long.")
                    return
                if not self.raw_requestline:
                    self.close_connection = True
                    return
                if self.parse_request():
                    self._serve()
            except TimeoutError:
                self.close_connection = True  # too slow to send its headers: no answer owed

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            lengths = self.headers.get_all("content-length") or []
            early = service.admit(self.command, path, headers, lengths)
            if early is not None:
                self._linger = bool(lengths or "transfer-encoding" in headers)
                self._send(early, path)
                return
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # only once it is admitted
            try:
                body = self._read_body(headers, service.body_limit(self.command.upper(), path))
            except ApiError as exc:
                self._linger = True
                self._send(service.answer_error(exc), path)
                return
            except TimeoutError:
                self._linger = True
                error = ApiError(
                    408, "The request body did not arrive within the server's timeout."
                )
                self._send(service.answer_error(error), path)
                return
            request = Request.build(self.command, path, parts.query, headers.items(), body)
            response = service.handle(request)
            if response.delay > 0:
                sleep(response.delay)
            self._send(response, path)

        def handle_expect_100(self) -> bool:
            """Say "100 Continue" only after the key and size checks (see ``_serve``)."""
            return True

        def _read_body(self, headers: dict[str, str], limit: int) -> bytes:
            if headers.get("transfer-encoding") is not None:
                return read_chunked(
                    self.rfile, limit, lambda n: too_large(n, limit, self.path), self._allow
                )
            size = int(headers.get("content-length") or 0)  # checked by admit()
            self._allow(size)
            return read_exact(self.rfile, size) if size else b""

        def _allow(self, size: int) -> None:
            """More time for ``size`` more body bytes: a big upload is not a slow client."""
            self._reader.deadline += size / limits.min_body_rate

        def _send(self, response: Response, path: str) -> None:
            self.connection.settimeout(limits.request_timeout)
            if response.drop:
                self.close_connection = True
                self._log(path, 0)
                return
            if self._linger:
                self.close_connection = True
                response.headers["connection"] = "close"
            # The log line goes first: once a client has its answer the server may be stopped,
            # and a daemon thread writing to stderr at interpreter exit aborts the process.
            self._log(path, response.status)
            if response.chunks is None or self.command == "HEAD":
                if response.chunks is not None:
                    response.body = b"".join(response.chunks)
                self.wfile.write(_wire(response, self.command))
            else:
                self._send_chunks(response)
            self.wfile.flush()

        def _send_chunks(self, response: Response) -> None:
            self.send_response_only(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for chunk in response.chunks or []:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            """Malformed request lines and headers get the JSON envelope, not an HTML page."""
            self.close_connection = True
            self._linger = True
            if not getattr(self, "command", None):
                self.command = "GET"
            text = message or _reason(code) or "Bad request"
            response = service.answer_error(ApiError(code, f"{text}."))
            response.headers["connection"] = "close"
            self._log(self.path if getattr(self, "path", None) else "-", code)
            self.wfile.write(_wire(response, self.command))
            self.wfile.flush()

        def finish(self) -> None:
            super().finish()
            if self._linger:
                drain(self.connection, limits.drain_bytes, limits.drain_seconds)

        def _log(self, path: str, status: int) -> None:
            if log is not None:
                took = (time.perf_counter() - self._started) * 1000
                log.write(f"{self.command} {path} {status} {took:.1f}\n")
                log.flush()

        def log_message(self, format: str, *args: object) -> None:
            """Silence the default log: we write one access line per request ourselves."""

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64+ concurrent clients connect at once; the default backlog is 5

    def __init__(
        self, address: tuple[str, int], handler: Any, service: Service, slots: int
    ) -> None:
        self.service = service
        self._slots = threading.BoundedSemaphore(slots)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve in a new thread if one of the slots is free, else answer 503 at once."""
        if not self._slots.acquire(blocking=False):
            self._busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except RuntimeError:  # "can't start new thread": the slot was never used
            self._slots.release()
            raise
        # Not on KeyboardInterrupt: Ctrl-C can land while start() waits for a thread that has
        # already served and freed its slot; releasing again would raise instead of stopping.

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _busy(self, request: socket.socket) -> None:
        error = ApiError(
            503,
            "The server is busy: every connection slot is taken. Retry shortly.",
            code="server_busy",
            headers={"retry-after": "1", "connection": "close"},
        )
        try:
            request.settimeout(1.0)
            request.sendall(_wire(self.service.answer_error(error), "GET"))
        except OSError:
            return

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
        limits: ServerLimits = ServerLimits(),
    ) -> None:
        self.local = local
        handler = make_handler(local, log, sleep, limits)
        self.httpd = _Server((host, port), handler, local.service, limits.max_connections)
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


__all__ = ["LocalServer", "ServerLimits", "make_handler"]
