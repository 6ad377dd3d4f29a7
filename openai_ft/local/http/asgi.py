"""The service core as an ASGI application, and uvicorn's HTTP/1.1 protocol with our edge rules.

:class:`ServiceApp` turns ASGI events into a :class:`Request` and a :class:`Response` back. It
checks the API key and the declared size before it reads a byte of the body (no "100 Continue"
until then), reads bodies only up to what the endpoint accepts and before a deadline that grows
with the bytes received (a big upload is not a slow client), and runs ``Service.handle`` in a
pool of threads so the event loop keeps serving while SQLite or the engine works.

:class:`EdgeProtocol` is uvicorn's h11 protocol with what uvicorn leaves out: a deadline for a
request's line and headers (slowloris), a cap on connections answered with a 503 at once, and
OpenAI's JSON error envelope, with ``x-request-id``, for requests h11 cannot parse.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from openai_ft.local.http.core import ApiError, Request, Response
from openai_ft.local.http.gate import too_large

if TYPE_CHECKING:
    from openai_ft.local.http.app import Service

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
EDGE = "openai_ft.edge"  # scope["extensions"] key: the connection's protocol (to drop it)


@dataclass(frozen=True)
class ServerLimits:
    """Timeouts and bounds of the HTTP server."""

    request_timeout: float = 30.0  # seconds for a request's line, headers and body; idle keep-alive
    min_body_rate: float = 2**20  # bytes/s: each body byte adds 1/rate seconds to the deadline
    max_connections: int = 128  # more get a 503 with retry-after at once
    threads: int = 16  # requests handled at once (SQLite, blobs and the engine run there)
    drain_bytes: int = 4 * 2**20  # unread body discarded after an early answer, at most
    drain_seconds: float = 1.0


class _Disconnected(Exception):
    """The client went away before its request was complete."""


class ServiceApp:
    """An ASGI 3 application over one :class:`Service`."""

    def __init__(self, service: Service, limits: ServerLimits, log: IO[str] | None) -> None:
        self.service = service
        self.limits = limits
        self.log = log
        self.pool = ThreadPoolExecutor(limits.threads, thread_name_prefix="openai-ft-request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            started = time.perf_counter()
            try:
                await self._http(scope, receive, send, started)
            except _Disconnected:
                return
            except Exception as exc:  # the funnel: never uvicorn's plain-text 500
                error = ApiError(
                    500,
                    f"The server had an error while processing your request: {type(exc).__name__}",
                )
                await self._reply(scope, send, self.service.answer_error(error), started)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Load the engine and tokenizer once, before the first burst of requests.
                await asyncio.get_running_loop().run_in_executor(self.pool, self.service.warm)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send, started: float) -> None:
        method, path = scope["method"], scope["path"]
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        headers = {k: v for k, v in pairs if k != "content-length"}
        lengths = [v for k, v in pairs if k == "content-length"]
        if lengths:
            headers["content-length"] = lengths[-1]
        has_body = bool(lengths) or "transfer-encoding" in headers
        if scope.get("http_version") not in ("1.0", "1.1"):
            error = ApiError(
                505, f"HTTP/{scope.get('http_version')} is not supported; use HTTP/1.1."
            )
            await self._reply(scope, send, self.service.answer_error(error), started, close=True)
            return
        early = self.service.admit(method, path, headers, lengths)
        if early is not None:
            await self._reply(scope, send, early, started, drain=receive if has_body else None)
            return
        deadline = time.monotonic() + self.limits.request_timeout
        limit = self.service.body_limit(method, path)
        try:
            body = await self._body(receive, limit, path, deadline) if has_body else b""
        except ApiError as exc:
            await self._reply(scope, send, self.service.answer_error(exc), started, receive)
            return
        except TimeoutError:
            error = ApiError(408, "The request body did not arrive within the server's timeout.")
            await self._reply(scope, send, self.service.answer_error(error), started, close=True)
            return
        query = scope["query_string"].decode("latin-1")
        request = Request.build(method, path, query, pairs, body)
        loop = asyncio.get_running_loop()
        if self.service.quick(request):  # a thread hand-off would cost more than the work
            response = self.service.handle(request)
        else:
            response = await loop.run_in_executor(self.pool, self.service.handle, request)
        if response.drop:
            self._log(method, path, 0, started)
            scope["extensions"][EDGE].drop()
            return
        if response.delay > 0:
            await asyncio.sleep(response.delay)
        await self._reply(scope, send, response, started)

    async def _body(self, receive: Receive, limit: int, path: str, deadline: float) -> bytes:
        """The request body, refused (413) as soon as it passes ``limit`` bytes."""
        out = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            message = await asyncio.wait_for(receive(), left)  # TimeoutError: a 408
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            if len(out) + len(chunk) > limit:
                raise too_large(len(out) + len(chunk), limit, path)
            out += chunk
            deadline += len(chunk) / self.limits.min_body_rate
            if not message.get("more_body", False):
                return bytes(out)

    async def _reply(
        self,
        scope: Scope,
        send: Send,
        response: Response,
        started: float,
        drain: Receive | None = None,
        close: bool = False,
    ) -> None:
        """Send ``response``; with ``drain``, discard a bounded rest of the body, then close.

        Closing a socket with unread input resets the connection, and a reset can destroy the
        answer the client has not read yet: reading a bounded amount first lets it arrive.
        """
        method, path = scope["method"], scope["path"]
        if drain is not None or close:
            response.headers["connection"] = "close"
        self._log(method, path, response.status, started)
        head = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        if response.chunks is None:
            head.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": head})
        if response.chunks is not None:
            for chunk in response.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.body", "body": response.body, "more_body": True})
        if drain is not None:
            await self._drain(drain)
        await send({"type": "http.response.body", "body": b""})

    async def _drain(self, receive: Receive) -> None:
        end = time.monotonic() + self.limits.drain_seconds
        got = 0
        while got < self.limits.drain_bytes and (left := end - time.monotonic()) > 0:
            try:
                message = await asyncio.wait_for(receive(), left)
            except TimeoutError:
                return
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            got += len(message.get("body", b""))

    def _log(self, method: str, path: str, status: int, started: float) -> None:
        if self.log is not None:
            took = (time.perf_counter() - started) * 1000
            self.log.write(f"{method} {path} {status} {took:.1f}\n")
            self.log.flush()


class EdgeProtocol(H11Protocol):
    """uvicorn's h11 protocol plus a header deadline, a connection cap and JSON error envelopes."""

    _deadline: asyncio.TimerHandle | None = None
    _busy = False

    @property
    def _edge(self) -> ServiceApp:
        app = self.app
        assert isinstance(app, ServiceApp)
        return app

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the connection, or answer 503 at once when every slot is taken."""
        full = len(self.connections) >= self._edge.limits.max_connections
        super().connection_made(transport)  # type: ignore[arg-type]
        if full:
            self._refuse()
            return
        self._arm()

    def _arm(self) -> None:
        """A request's line and headers must be in within the request timeout."""
        self._disarm()
        self._deadline = self.loop.call_later(self._edge.limits.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()  # too slow to send its headers: no answer owed

    def _refuse(self) -> None:
        self._busy = True
        error = ApiError(
            503,
            "The server is busy: every connection slot is taken. Retry shortly.",
            code="server_busy",
            headers={"retry-after": "1"},
        )
        self._write_error(error)
        self.transport.write_eof()
        self.loop.call_later(self._edge.limits.drain_seconds, self.transport.close)

    def data_received(self, data: bytes) -> None:
        """Feed h11; a refused connection's input is discarded."""
        if self._busy:
            return
        super().data_received(data)

    def handle_events(self) -> None:
        """As uvicorn does; a new request stops the header clock and learns its connection."""
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle and self.cycle is not None:
            self._disarm()
            extensions: dict[str, Any] = self.cycle.scope.setdefault("extensions", {})
            extensions[EDGE] = self

    def on_response_complete(self) -> None:
        """Keep-alive: the next request's headers get their own deadline."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock of a connection that is gone."""
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse gets OpenAI's JSON envelope, not a plain-text page."""
        self._write_error(ApiError(400, f"Invalid HTTP request: {msg.rstrip('.')}."))
        self.transport.close()

    def _write_error(self, error: ApiError) -> None:
        response = self._edge.service.answer_error(error)
        response.headers["connection"] = "close"
        response.headers["content-length"] = str(len(response.body))
        head = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        status = f"HTTP/1.1 {response.status} {h11_reason(response.status)}\r\n".encode()
        lines = b"".join(k + b": " + v + b"\r\n" for k, v in head)
        self.transport.write(status + lines + b"\r\n" + response.body)
        self._edge._log("-", "-", response.status, time.perf_counter())

    def drop(self) -> None:
        """End the connection without an answer (the ``drop`` fault)."""
        if self.cycle is not None:
            self.cycle.disconnected = True  # uvicorn must not answer for us
        self.transport.close()


def h11_reason(status: int) -> str:
    """The reason phrase of ``status``."""
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


__all__ = ["EDGE", "EdgeProtocol", "ServerLimits", "ServiceApp"]
