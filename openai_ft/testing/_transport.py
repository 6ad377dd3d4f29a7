"""The transports the testing clients use: the local service's, plus what tests need around it.

Around :class:`openai_ft.local.http.transport.LocalTransport` this adds, without touching the service:
the request log, canned chat replies, "fail the next job", jobs advanced when they are polled, and
Azure-style paths (``/openai/deployments/{name}/...``) mapped onto the service's ``/v1/...``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

_POLLED = re.compile(r"^/v1/(fine_tuning/jobs|batches)(/|$)")
_AZURE = re.compile(r"^/openai(/v1|/deployments/[^/]+)?(?=/)")
_JOBS = "/v1/fine_tuning/jobs"
_CHAT = "/v1/chat/completions"
_LENGTH = ("content-length", "transfer-encoding")


@dataclass(frozen=True)
class LoggedRequest:
    """One request the service answered: ``status`` is None for a dropped connection.

    ``body`` and ``response`` are the parsed JSON bodies, or None when a body is not JSON
    (file uploads, SSE streams); ``content`` is the raw request body.
    """

    method: str
    path: str
    query: str
    status: int | None
    body: Any
    response: Any
    content: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class CannedReply:
    """The assistant text to answer for ``model`` when the messages match ``prompt``."""

    model: str
    prompt: str | list[dict[str, Any]]
    text: str

    def matches(self, body: Any) -> bool:
        """True when a chat request body is for this model and prompt."""
        if not isinstance(body, dict) or body.get("model") != self.model:
            return False
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return False
        if isinstance(self.prompt, list):
            return messages == self.prompt
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        return bool(users) and users[-1].get("content") == self.prompt


@dataclass
class Hooks:
    """What the wrapping transport does besides forwarding; shared by all of one handle's clients."""

    advance: Callable[[], None]
    fail_job: Callable[[str], None]
    log: list[LoggedRequest] = field(default_factory=list)
    replies: list[CannedReply] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply_for(self, body: Any) -> CannedReply | None:
        """The newest canned reply that matches a chat body."""
        with self.lock:
            return next((r for r in reversed(self.replies) if r.matches(body)), None)


def _json(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


def _without(headers: list[tuple[str, str]], names: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in names]


def _local_path(path: str) -> str:
    """``/openai/deployments/x/chat/completions``, ``/openai/v1/files`` (Azure) -> ``/v1/...``.

    The deployment's name stays in the body's ``model``, where the service resolves it.
    """
    match = _AZURE.match(path)
    return "/v1" + path[match.end() :] if match else path


def _canned(result: dict[str, Any], reply: CannedReply, stream: bool, usage: bool) -> bytes:
    """The service's answer with each choice's text replaced by the canned one."""
    from openai_ft.dataset.tokens import count_text

    for choice in result.get("choices", []):
        message = {**choice["message"], "content": reply.text}
        message.pop("tool_calls", None)
        choice["message"] = message
        choice["finish_reason"] = "stop"
        choice["logprobs"] = None
    try:
        used = count_text(reply.text, reply.model) * len(result.get("choices", []))
    except (KeyError, ValueError):
        used = len(reply.text.split())
    tokens = result.get("usage") or {}
    tokens["completion_tokens"] = used
    tokens["total_tokens"] = tokens.get("prompt_tokens", 0) + used
    if not stream:
        return json.dumps(result).encode()
    from openai_ft.local.api.chat_format import stream_chunks

    return b"".join(stream_chunks(result, usage))


class RoutedTransport(httpx2.BaseTransport):
    """Forwards to the service's in-process transport and applies the :class:`Hooks`."""

    def __init__(
        self, inner: httpx2.BaseTransport, hooks: Hooks, advance_on_poll: bool = True
    ) -> None:
        self.inner = inner
        self.hooks = hooks
        self.advance_on_poll = advance_on_poll

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer one request through the service; log it."""
        content = request.read()
        path = _local_path(request.url.path)
        body = _json(content)
        if self.advance_on_poll and request.method == "GET" and _POLLED.match(path):
            self.hooks.advance()
        reply = self.hooks.reply_for(body) if request.method == "POST" and path == _CHAT else None
        stream = bool(reply and body.get("stream"))
        sent = content
        if reply is not None and stream:
            # The service answers the whole completion; it is streamed back below.
            plain = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
            sent = json.dumps(plain).encode()
        forwarded = request
        if path != request.url.path or sent is not content:
            forwarded = httpx2.Request(
                request.method,
                request.url.copy_with(path=path),
                headers=_without(request.headers.multi_items(), _LENGTH),
                content=sent,
            )
        try:
            response = self.inner.handle_request(forwarded)
        except httpx2.TransportError:
            self._record(request.method, path, request, None, body, None, content)
            raise
        data = response.read()
        headers = response.headers.multi_items()
        if reply is not None and response.status_code == 200:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            data = _canned(json.loads(data), reply, stream, include_usage)
            headers = _without(headers, (*_LENGTH, "content-type"))
            kind = "text/event-stream" if stream else "application/json"
            headers.append(("content-type", kind))
        answer = _json(data)
        if request.method == "POST" and path == _JOBS and response.status_code == 200:
            self.hooks.fail_job(str(answer["id"]))  # the create answer stays as it was
        self._record(request.method, path, request, response.status_code, body, answer, content)
        return httpx2.Response(response.status_code, headers=headers, content=data, request=request)

    def _record(
        self,
        method: str,
        path: str,
        request: httpx2.Request,
        status: int | None,
        body: Any,
        answer: Any,
        content: bytes,
    ) -> None:
        query = request.url.query
        text = query.decode("ascii") if isinstance(query, bytes) else str(query)
        entry = LoggedRequest(method, path, text, status, body, answer, content)
        with self.hooks.lock:
            self.hooks.log.append(entry)


class AsyncRoutedTransport(httpx2.AsyncBaseTransport):
    """The async form: the sync transport's work runs in a worker thread."""

    def __init__(self, sync: RoutedTransport) -> None:
        self.sync = sync

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer one request without blocking the event loop."""
        import anyio

        await request.aread()
        return await anyio.to_thread.run_sync(self.sync.handle_request, request)
