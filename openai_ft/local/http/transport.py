"""In-process httpx2 transports: requests go straight to ``Service.handle``, no sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx2

from openai_ft.local.http.core import Request, Response

if TYPE_CHECKING:
    from openai_ft.local.http.app import Service

# Cheap CPU-bound endpoints run on the event loop; everything touching SQLite/blobs runs in a thread.
_INLINE_PATHS = ("/v1/chat/completions",)


def _to_core(request: httpx2.Request, body: bytes) -> Request:
    return Request.build(
        request.method,
        request.url.path,
        request.url.query.decode("ascii")
        if isinstance(request.url.query, bytes)
        else str(request.url.query),
        request.headers.items(),
        body,
    )


def _to_httpx(request: httpx2.Request, response: Response) -> httpx2.Response:
    if response.drop:
        raise httpx2.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    content = b"".join(response.chunks) if response.chunks is not None else response.body
    return httpx2.Response(
        response.status, headers=response.headers, content=content, request=request
    )


class LocalTransport(httpx2.BaseTransport):
    """A sync transport for ``httpx2.Client(transport=...)`` that calls the service directly."""

    def __init__(self, service: Service, sleep: Callable[[float], None] = time.sleep) -> None:
        self.service = service
        self._sleep = sleep

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Hand one request to the service; added latency is slept here."""
        body = request.read()
        response = self.service.handle(_to_core(request, body))
        if response.delay > 0:
            self._sleep(response.delay)
        return _to_httpx(request, response)


class AsyncLocalTransport(httpx2.AsyncBaseTransport):
    """An async transport: latency is awaited, storage work runs in a worker thread."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Hand one request to the service without blocking the event loop."""
        import anyio

        body = await request.aread()
        core = _to_core(request, body)
        if core.path.rstrip("/") in _INLINE_PATHS:
            response = self.service.handle(core)
        else:
            response = await anyio.to_thread.run_sync(self.service.handle, core)
        if response.delay > 0:
            await anyio.sleep(response.delay)
        return _to_httpx(request, response)
