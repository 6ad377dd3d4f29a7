"""``patch_openai()``: SDK clients that the code under test builds itself talk to the local service.

While a block is active, ``openai.OpenAI()``, ``AsyncOpenAI()``, ``AzureOpenAI()`` and
``AsyncAzureOpenAI()`` built with no explicit ``base_url`` and no ``http_client`` get an
``http_client`` into the innermost block's service (and a placeholder key, API version and
endpoint where the environment has none). The classes' ``__init__`` are wrapped while at least
one block is active and restored when the last one exits, exception or not.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from openai_ft.testing._handle import BASE_URL, LocalOpenAI, local_openai

_CLASSES = ("OpenAI", "AsyncOpenAI", "AzureOpenAI", "AsyncAzureOpenAI")
AZURE_ENDPOINT = "http://local.openai-ft"
AZURE_API_VERSION = "2024-10-21"

_active: list[LocalOpenAI] = []
_originals: dict[type, Any] = {}
_lock = threading.RLock()


def _explicit(value: Any) -> bool:
    import openai

    return value is not None and not isinstance(value, openai.NotGiven)


def _http(handle: LocalOpenAI, cls: type) -> Any:
    import openai

    is_async = issubclass(cls, openai.AsyncOpenAI)
    return handle.async_http_client() if is_async else handle.http_client()


def _openai_init(cls: type, original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kw: Any) -> None:
        handle = _active[-1] if _active else None
        taken = any(_explicit(kw.get(k)) for k in ("base_url", "http_client", "provider"))
        if handle is not None and not taken and not _explicit(kw.get("data_residency")):
            kw["base_url"] = BASE_URL
            kw["http_client"] = _http(handle, cls)
            if kw.get("api_key") is None and not os.environ.get("OPENAI_API_KEY"):
                kw["api_key"] = handle.api_key
        original(self, *args, **kw)

    return __init__


def _azure_init(cls: type, original: Callable[..., None]) -> Callable[..., None]:
    def __init__(self: Any, *args: Any, **kw: Any) -> None:
        handle = _active[-1] if _active else None
        if handle is not None and not any(
            _explicit(kw.get(k)) for k in ("base_url", "http_client")
        ):
            kw["http_client"] = _http(handle, cls)
            credentials = ("api_key", "azure_ad_token", "azure_ad_token_provider")
            env = ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN")
            if not any(kw.get(k) for k in credentials) and not any(os.environ.get(v) for v in env):
                kw["api_key"] = handle.api_key
            if kw.get("api_version") is None and not os.environ.get("OPENAI_API_VERSION"):
                kw["api_version"] = AZURE_API_VERSION
            if kw.get("azure_endpoint") is None and not os.environ.get("AZURE_OPENAI_ENDPOINT"):
                kw["azure_endpoint"] = AZURE_ENDPOINT
        original(self, *args, **kw)

    return __init__


def _install() -> None:
    import openai

    for name in _CLASSES:
        cls = getattr(openai, name)
        original = cls.__dict__["__init__"]
        _originals[cls] = original
        wrap = _azure_init if "Azure" in name else _openai_init
        setattr(cls, "__init__", wrap(cls, original))  # noqa: B010 (mypy: no method assignment)


def _uninstall() -> None:
    for cls, original in _originals.items():
        setattr(cls, "__init__", original)  # noqa: B010
    _originals.clear()


def is_patched() -> bool:
    """True while a :func:`patch_openai` block is active."""
    return bool(_active)


@contextlib.contextmanager
def patch_openai(handle: LocalOpenAI | None = None, **options: Any) -> Iterator[LocalOpenAI]:
    """Route SDK clients built inside the block to ``handle`` (or a new :func:`local_openai`).

    A client built with an explicit ``base_url`` or ``http_client`` is left alone. Also usable
    as a decorator (``@patch_openai()``) of a sync function; blocks nest, the innermost wins.
    """
    with contextlib.ExitStack() as stack:
        target = handle if handle is not None else stack.enter_context(local_openai(**options))
        with _lock:
            if not _active:
                _install()
            _active.append(target)
        try:
            yield target
        finally:
            with _lock:
                _active.remove(target)
                if not _active:
                    _uninstall()
