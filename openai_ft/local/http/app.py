"""The pure core of the local service: ``Service.handle(Request) -> Response``.

Routing, the API-key check, fault injection, rate limits and the error envelope live here; the
endpoints live in :mod:`openai_ft.local.api` modules as plain functions ``(service, request, **path_args)``.
The transports and the HTTP server only convert to and from :class:`Request`/:class:`Response`.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.local.faults import FaultScript, RandomFaults, RateLimiter
from openai_ft.local.http.core import ApiError, Request, Response, new_id
from openai_ft.local.http.gate import (
    MAX_PART_BYTES,
    body_limit,
    check_key,
    declared_length,
    too_large,
)
from openai_ft.local.state import State

if TYPE_CHECKING:
    from openai_ft.local.azure import AzureOptions
    from openai_ft.local.engines import Engine
    from openai_ft.local.engines.ngram.model import TrainedModel

Handler = Callable[..., Response]
_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')
DEFAULT_COMPLETION_TOKENS = 256


@dataclass(frozen=True)
class Settings:
    """Knobs of one service instance."""

    speed: float = 0.02
    latency_ms: float = 0.0
    api_key: str | None = None
    max_file_bytes: int = 512 * 2**20
    seed: int = 0
    lease_stale_after: float = 10.0
    azure: AzureOptions | None = None  # play Azure OpenAI (openai_ft.local.azure)


class Service:
    """One local OpenAI-compatible service over a state folder (thread-safe)."""

    def __init__(
        self,
        root: Path,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
        faults: FaultScript | None = None,
        random_faults: RandomFaults | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.state = State(root)
        self.settings = settings
        self.clock = clock
        self.limiter = limiter or RateLimiter(None, None, clock)
        self.faults = faults or FaultScript()
        self.random_faults = random_faults or RandomFaults(0.0, settings.seed)
        self.owner = uuid.uuid4().hex
        self.wake = threading.Event()
        self._engine = engine
        self._models: dict[str, TrainedModel] = {}
        self._models_lock = threading.Lock()
        self._warm_lock = threading.Lock()
        self._warmed = False
        from openai_ft.local.http import routes

        self._routes = routes.ROUTES

    # -- shared helpers for the endpoint modules ------------------------------------------------

    def now(self) -> int:
        """The service clock in whole seconds (API timestamps)."""
        return int(self.clock())

    @property
    def engine(self) -> Engine:
        """The learning engine (imported on first use)."""
        if self._engine is None:
            from openai_ft.local.engines import get_engine

            self._engine = get_engine()
        return self._engine

    def warm(self) -> None:
        """Load what a chat needs (engine, tokenizer, base model) once; concurrent callers wait.

        Without it, a burst of first requests loads them once per request thread, at once.
        """
        if self._warmed:
            return
        with self._warm_lock:
            if self._warmed:
                return
            from openai_ft.local.api.chat import prompt_tokens
            from openai_ft.local.engines.ngram.base import base_complete

            _ = self.engine
            hello = [{"role": "user", "content": "hello"}]
            prompt_tokens(hello)
            base_complete("gpt-4o-mini", hello, n=1, temperature=1.0, seed=0, top_logprobs=0)
            self._warmed = True

    def quick(self, request: Request) -> bool:
        """Whether ``request`` is a chat the built-in base models answer in well under a
        millisecond, once warm: the HTTP server then answers it on its event loop rather than
        pay a thread hand-off (and the GIL's) that costs more than the answer.
        """
        if not self._warmed or request.method != "POST" or len(request.body) > 65536:
            return False  # a big body takes a while to parse: not on the event loop
        if not request.path.rstrip("/").endswith("/chat/completions"):
            return False
        match = _MODEL.search(request.body)
        if match is None or match[1].startswith(b"ft:"):
            return False  # a fine-tuned model may need loading from the state folder first
        from openai_ft.local.engines import hf_alias

        return hf_alias(self, match[1].decode("utf-8", "replace")) is None

    def load_model(self, model_id: str) -> TrainedModel | None:
        """A fine-tuned or checkpoint model by id (cached), or None if unknown."""
        with self._models_lock:
            cached = self._models.get(model_id)
        if cached is not None:
            return cached
        obj = self.state.get("model", model_id)
        if obj is None:
            return None
        from openai_ft.local.engines import load_trained

        model = load_trained(self.state.read_blob(obj["x_blob"]))
        with self._models_lock:
            if len(self._models) > 32:
                self._models.clear()
            self._models[model_id] = model
        return model

    def forget_model(self, model_id: str) -> None:
        """Drop a model from the cache (after DELETE)."""
        with self._models_lock:
            self._models.pop(model_id, None)

    # -- the core ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request; never raises (internal errors become a 500 envelope)."""
        started = time.perf_counter()
        extra: dict[str, str] = {}
        try:
            check_key(self.settings.api_key, request.headers, request.path)
            limit = self.body_limit(request.method, request.path)
            if len(request.body) > limit:
                raise too_large(len(request.body), limit, request.path)
            response = self._dispatch(request, extra)
        except ApiError as exc:
            response = exc.to_response()
        except Exception as exc:
            response = ApiError(
                500, f"The server had an error while processing your request: {type(exc).__name__}"
            ).to_response()
        response.headers.update(extra)
        return self._finish(response, started)

    def admit(
        self, method: str, path: str, headers: Mapping[str, str], lengths: list[str]
    ) -> Response | None:
        """Before the body is read: None to go on, or the 401/400/413 answer (body unread).

        ``lengths`` are all the Content-Length values the request carries.
        """
        started = time.perf_counter()
        try:
            check_key(self.settings.api_key, headers, path)
            size = declared_length(lengths, headers.get("transfer-encoding"))
            limit = self.body_limit(method.upper(), path)
            if size is not None and size > limit:
                raise too_large(size, limit, path)
        except ApiError as exc:
            return self._finish(exc.to_response(), started)
        return None

    def answer_error(self, error: ApiError) -> Response:
        """An error the HTTP edge decided on (timeouts, a full server), with our usual headers."""
        return self._finish(error.to_response(), time.perf_counter())

    def body_limit(self, method: str, path: str) -> int:
        """The largest body ``method path`` accepts."""
        return body_limit(self.settings.max_file_bytes, method, path)

    def _finish(self, response: Response, started: float) -> Response:
        delay = self.settings.latency_ms / 1000.0 + response.delay
        response.delay = delay
        for key, value in self.limiter.headers().items():
            response.headers.setdefault(key, value)  # counted ones (from acquire) win
        response.headers["x-request-id"] = "req_" + uuid.uuid4().hex
        response.headers["openai-processing-ms"] = str(
            round((time.perf_counter() - started) * 1000 + delay * 1000)
        )
        return response

    def _dispatch(self, request: Request, extra: dict[str, str]) -> Response:
        path = request.path.rstrip("/") or "/"
        fault = self.faults.pick(request.method, path) or self.random_faults.pick()
        slow = 0.0
        if fault is not None:
            if fault.kind == "drop":
                return Response(0, drop=True)
            if fault.kind == "slow":
                slow = fault.delay
            elif fault.kind == "429":
                raise ApiError(
                    429,
                    "Rate limit reached (injected fault).",
                    type="requests",
                    code="rate_limit_exceeded",
                    headers={"retry-after-ms": "10", "retry-after": "1"},
                )
            else:
                status = int(fault.kind)
                raise ApiError(
                    status,
                    "The server had an error while processing your request (injected fault)."
                    if status == 500
                    else "The engine is currently overloaded, please try again later (injected fault).",
                )
        handler, args = self._route(request.method, path)
        if not self._warmed and path.endswith("/chat/completions"):
            self.warm()
        if self.limiter.enabled:
            extra.update(self.limiter.acquire(_token_cost(request, path)))
        response = handler(self, request, **args)
        response.delay += slow
        return response

    def _route(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed: list[str] = []
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method:
                return handler, match.groupdict()
            allowed.append(route_method)
        if allowed:
            raise ApiError(
                405,
                f"Method {method} is not allowed on {path}; use {' or '.join(allowed)}.",
                code="method_not_allowed",
                headers={"allow": ", ".join(allowed)},
            )
        raise ApiError(404, f"Invalid URL ({method} {path})", code="unknown_url")


def _token_cost(request: Request, path: str) -> int:
    """Tokens a request reserves against the TPM limit: prompt + max completion tokens."""
    if request.method != "POST" or not path.endswith("/chat/completions"):
        return 0
    from openai_ft.local.api.chat import prompt_tokens

    try:
        body = request.json()
    except ApiError:
        return 0
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_COMPLETION_TOKENS
    n = body.get("n") or 1
    return (
        prompt_tokens(body.get("messages")) + int(limit) * int(n)
        if isinstance(limit, int) and isinstance(n, int)
        else 0
    )


def compile_routes(
    table: list[tuple[str, str, Handler]],
) -> list[tuple[str, re.Pattern[str], Handler]]:
    """Compile ``(METHOD, "/v1/files/{file_id}", handler)`` rows into regexes."""
    out = []
    for method, template, handler in table:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        out.append((method, re.compile(regex), handler))
    return out


def paginate_args(request: Request, default_limit: int = 20) -> dict[str, Any]:
    """``limit``/``after``/``order`` query parameters, checked."""
    raw = request.arg("limit")
    try:
        limit = int(raw) if raw is not None else default_limit
    except ValueError:
        raise ApiError(
            400, f"Invalid 'limit': expected an integer, got {raw!r}.", param="limit"
        ) from None
    if not 1 <= limit <= 10000:
        raise ApiError(400, f"Invalid 'limit': {limit} is out of range (1-10000).", param="limit")
    order = request.arg("order", "desc") or "desc"
    if order not in ("asc", "desc"):
        raise ApiError(
            400, f"Invalid 'order': expected 'asc' or 'desc', got {order!r}.", param="order"
        )
    return {"limit": limit, "after": request.arg("after"), "order": order}


def list_body(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """OpenAI's list envelope with ``first_id``/``last_id``/``has_more``."""
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


__all__ = [
    "MAX_PART_BYTES",
    "Service",
    "Settings",
    "compile_routes",
    "list_body",
    "new_id",
    "paginate_args",
]
