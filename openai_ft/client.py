"""The one seam to the outside world: builds the official SDK client, maps its errors to ours.

Backends: ``local`` (the in-process local service through an httpx2 transport, no sockets),
``openai`` (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``, or
``--base-url`` for any OpenAI-compatible server) and ``azure`` (``AZURE_OPENAI_ENDPOINT``,
``AZURE_OPENAI_API_KEY``; the v1 API ``<endpoint>/openai/v1/``, or the classic one when
``OPENAI_API_VERSION`` is set).

The SDK retries (408/409/429/5xx, honouring retry-after) and paginates; we never add a second
retry layer around it. It sends no idempotency key, so calls that *create* things go through
:func:`creating`, a copy of the client with ``max_retries=0``; callers de-duplicate instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from openai_ft.config import BackendSettings, resolve_backend, state_dir
from openai_ft.errors import (
    AuthError,
    BackendError,
    NotFound,
    OpenAIFTError,
    RateLimited,
    ServiceUnavailable,
    UsageError,
    redact,
)

if TYPE_CHECKING:
    import openai

    from openai_ft.local import LocalService

LOCAL_BASE_URL = "http://local.openai-ft/v1"
DEFAULT_TIMEOUT = 60.0

_services: dict[Path, LocalService] = {}
_services_lock = threading.Lock()

C = TypeVar("C")


# Settings of the in-process local service that every command honours, for demos and chaos runs.
LOCAL_ENV_OPTIONS: tuple[tuple[str, str, type], ...] = (
    ("OPENAI_FT_LOCAL_SPEED", "speed", float),
    ("OPENAI_FT_LOCAL_LATENCY_MS", "latency_ms", float),
    ("OPENAI_FT_LOCAL_RPM", "rpm", int),
    ("OPENAI_FT_LOCAL_TPM", "tpm", int),
    ("OPENAI_FT_LOCAL_FAIL_RATE", "fail_rate", float),
)


def local_options_from_env() -> dict[str, Any]:
    """The local service settings given as ``OPENAI_FT_LOCAL_*`` environment variables."""
    options: dict[str, Any] = {}
    for var, name, kind in LOCAL_ENV_OPTIONS:
        raw = os.environ.get(var)
        if raw:
            try:
                options[name] = kind(raw)
            except ValueError:
                raise UsageError(
                    f"{var}={raw!r} is not a {kind.__name__}", tip=f"set {var} to a number"
                ) from None
    return options


def local_service(home: Path | None = None, **options: Any) -> LocalService:
    """The process-wide local service for a state folder (one worker per process and folder).

    Options default to the ``OPENAI_FT_LOCAL_*`` environment variables; explicit ones win. Jobs
    run in processes of their own that outlive the command, unless ``OPENAI_FT_LOCAL_DETACH=0``.
    """
    from openai_ft.local import LocalService
    from openai_ft.local.jobs.launch import detach_from_env

    key = (home or state_dir()).resolve()
    with _services_lock:
        svc = _services.get(key)
        if svc is None:
            defaults = {"detach": detach_from_env(), **local_options_from_env()}
            svc = LocalService(key, **{**defaults, **options})
            _services[key] = svc
        return svc


def _missing_key(var: str) -> AuthError:
    return AuthError(
        f"no API key found: set {var} in the environment",
        tip="or run `make demo` / use `--backend local` for an offline run on the local service",
    )


def make_client(
    settings: BackendSettings | None = None,
    *,
    max_retries: int = 2,
    service: LocalService | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> openai.OpenAI:
    """Build a synchronous SDK client for the chosen backend."""
    import httpx2
    import openai

    s = settings or resolve_backend()
    if s.backend == "local" and not s.base_url:
        svc = service or local_service(s.home)
        http = httpx2.Client(transport=svc.transport(), timeout=timeout)
        return openai.OpenAI(
            api_key="local", base_url=LOCAL_BASE_URL, http_client=http, max_retries=max_retries
        )
    if s.backend == "azure":
        classic, kwargs = _azure_kwargs()
        azure_cls = openai.AzureOpenAI if classic else openai.OpenAI
        return azure_cls(
            **kwargs,
            http_client=openai.DefaultHttpx2Client(timeout=timeout),
            max_retries=max_retries,
        )
    return openai.OpenAI(
        **_openai_kwargs(s),
        http_client=openai.DefaultHttpx2Client(timeout=timeout),
        max_retries=max_retries,
    )


def make_async_client(
    settings: BackendSettings | None = None,
    *,
    max_retries: int = 2,
    service: LocalService | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_connections: int = 100,
) -> openai.AsyncOpenAI:
    """Build an asynchronous SDK client for the chosen backend (used by the eval runner)."""
    import httpx2
    import openai

    s = settings or resolve_backend()
    limits = httpx2.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    if s.backend == "local" and not s.base_url:
        svc = service or local_service(s.home)
        http = httpx2.AsyncClient(transport=svc.async_transport(), timeout=timeout)
        return openai.AsyncOpenAI(
            api_key="local", base_url=LOCAL_BASE_URL, http_client=http, max_retries=max_retries
        )
    if s.backend == "azure":
        classic, kwargs = _azure_kwargs()
        async_cls = openai.AsyncAzureOpenAI if classic else openai.AsyncOpenAI
        return async_cls(
            **kwargs,
            http_client=openai.DefaultAsyncHttpx2Client(timeout=timeout, limits=limits),
            max_retries=max_retries,
        )
    return openai.AsyncOpenAI(
        **_openai_kwargs(s),
        http_client=openai.DefaultAsyncHttpx2Client(timeout=timeout, limits=limits),
        max_retries=max_retries,
    )


def _openai_kwargs(s: BackendSettings) -> dict[str, Any]:
    key = os.environ.get("OPENAI_API_KEY")
    base_url = s.base_url or os.environ.get("OPENAI_BASE_URL") or None
    if not key:
        if base_url is None:
            raise _missing_key("OPENAI_API_KEY")
        key = "none"  # many self-hosted OpenAI-compatible servers need no key
    return {
        "api_key": key,
        "base_url": base_url,
        "organization": os.environ.get("OPENAI_ORG_ID") or None,
        "project": os.environ.get("OPENAI_PROJECT_ID") or None,
    }


def azure_endpoint_root(endpoint: str) -> str:
    """``https://NAME.openai.azure.com`` from an endpoint given with or without its API path."""
    root = endpoint.strip().rstrip("/")
    for tail in ("/openai/v1", "/openai"):
        root = root.removesuffix(tail)
    return root


def _azure_kwargs(endpoint: str | None = None) -> tuple[bool, dict[str, Any]]:
    """Azure's client settings: the v1 data plane (``<endpoint>/openai/v1/``, no api-version,
    the key as a bearer token) unless ``OPENAI_API_VERSION`` asks for the classic API; returns
    (classic, keyword arguments)."""
    key = os.environ.get("AZURE_OPENAI_API_KEY")
    endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
    version = os.environ.get("OPENAI_API_VERSION")
    if not key:
        raise _missing_key("AZURE_OPENAI_API_KEY")
    if not endpoint:
        raise UsageError(
            "Azure OpenAI needs AZURE_OPENAI_ENDPOINT",
            tip="export AZURE_OPENAI_ENDPOINT=https://NAME.openai.azure.com (the v1 API is used"
            " unless OPENAI_API_VERSION is set)",
        )
    root = azure_endpoint_root(endpoint)
    if version:
        return True, {"api_key": key, "azure_endpoint": root, "api_version": version}
    return False, {"api_key": key, "base_url": f"{root}/openai/v1/"}


# What store.location() records: "<base url> org=<org> project=<project>" ('' when unknown).
_LOCATION = re.compile(r"^(?P<base>\S*) org=(?P<org>\S*) project=(?P<project>\S*)$")


def recorded_host(backend: str, where: str = "") -> str | None:
    """The base URL a recorded job was made on (None when the record does not say)."""
    found = _LOCATION.match(where or "")
    return (found["base"] if found else "") or backend.partition(":")[2] or None


def recorded_client(
    backend: str, where: str = "", *, timeout: float = DEFAULT_TIMEOUT
) -> openai.OpenAI:
    """The client a recorded job was made with, rebuilt from its ledger row: the backend name
    and where the job lives (base URL or Azure endpoint, organisation, project).

    Never another host: when the record does not say where the job lives, a UsageError says so
    instead of falling back to the environment's host (the key would go where it never went).
    """
    import openai

    kind = backend.partition(":")[0]
    found = _LOCATION.match(where or "")
    org = (found["org"] if found else "") or None
    project = (found["project"] if found else "") or None
    host = recorded_host(backend, where)
    if kind == "local" and (host is None or host.rstrip("/") == LOCAL_BASE_URL):
        return make_client(BackendSettings("local", home=state_dir()), timeout=timeout)
    if host is None:
        raise UsageError(
            f"the ledger does not say which {kind} host (base URL or endpoint) this job was"
            " made on",
            tip="see the job's curves with `openai-ft metrics JOB --base-url URL` instead",
        )
    # As recorded, as headers: the SDK reads OPENAI_ORG_ID/OPENAI_PROJECT_ID for a None argument
    # (again on every with_options copy), and Omit() is its way of sending none.
    headers: dict[str, Any] = {
        "OpenAI-Organization": org or openai.Omit(),
        "OpenAI-Project": project or openai.Omit(),
    }
    http = openai.DefaultHttpx2Client(timeout=timeout)
    if kind == "azure":
        classic, kwargs = _azure_kwargs(azure_endpoint_root(host))
        azure_cls = openai.AzureOpenAI if classic else openai.OpenAI
        return azure_cls(**kwargs, default_headers=headers, http_client=http)
    if "api.openai.com" in host and not os.environ.get("OPENAI_API_KEY"):
        raise _missing_key("OPENAI_API_KEY")  # not the "none" key of a self-hosted server
    kwargs = _openai_kwargs(BackendSettings(kind, base_url=host))
    kwargs.update(organization=org, project=project)
    return openai.OpenAI(**kwargs, default_headers=headers, http_client=http)


def creating(client: C) -> C:
    """The client to use for calls that create something: no SDK retries (we de-duplicate)."""
    return client.with_options(max_retries=0)  # type: ignore[attr-defined, no-any-return]


def is_openai_platform(client: Any) -> bool:
    """True when the client talks to api.openai.com (where OpenAI's platform calendar applies)."""
    return "api.openai.com" in str(getattr(client, "base_url", ""))


def map_error(exc: BaseException, action: str = "request") -> OpenAIFTError:
    """Turn an SDK exception into one of ours, keeping the status, code and request id."""
    import openai

    if isinstance(exc, OpenAIFTError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error", body) if isinstance(body, dict) else {}
        message = (err.get("message") if isinstance(err, dict) else None) or exc.message
        code = err.get("code") if isinstance(err, dict) else None
        kw: dict[str, Any] = {"status": exc.status_code, "request_id": exc.request_id, "code": code}
        # Status and code in the text too: they are what a user quotes when reporting a problem.
        status = f"{exc.status_code} {code}" if code else str(exc.status_code)
        text = f"{action} failed ({status}): {message}"
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return AuthError(text, tip="check the API key and that it may use this endpoint", **kw)
        if isinstance(exc, openai.NotFoundError):
            return NotFound(text, tip="check the id and the backend (--backend/--base-url)", **kw)
        if isinstance(exc, openai.RateLimitError):
            return RateLimited(text, tip="slow down (--rpm/--concurrency) or try again later", **kw)
        if exc.status_code >= 500:
            return ServiceUnavailable(text, tip="the service had a problem; try again", **kw)
        return BackendError(text, **kw)
    if isinstance(exc, openai.APIConnectionError):
        return ServiceUnavailable(
            f"{action} failed: could not reach the service ({redact(str(exc))})",
            tip="check the network and the base URL",
        )
    return BackendError(f"{action} failed: {type(exc).__name__}: {redact(str(exc))}")


@contextlib.contextmanager
def translate_errors(action: str = "request") -> Iterator[None]:
    """Run a block of SDK calls; any SDK exception leaves it as one of ours."""
    import openai

    try:
        yield
    except openai.OpenAIError as exc:
        raise map_error(exc, action) from exc
