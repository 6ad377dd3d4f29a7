"""Fixtures for the local service tests: a service with a manual clock, SDK clients, datasets.

Every response the test clients receive is checked against the shared OpenAPI spec; a test that
received a non-conforming response fails at teardown with the list of differences.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from openai_ft.local import LocalService
from openai_ft.testing import LocalOpenAI, ManualClock, local_openai
from tests.jobs_helpers import jsonl_text

from .spec import problems

_PROBLEMS: list[str] = []
_CHECKED: list[str] = []


def _check(request: httpx2.Request, response: httpx2.Response) -> None:
    _CHECKED.append(f"{request.method} {request.url.path}")
    _PROBLEMS.extend(
        problems(
            request.method,
            request.url.path,
            response.status_code,
            response.headers.get("content-type", ""),
            response.content,
        )
    )
    for header in ("x-request-id", "openai-processing-ms"):
        if header not in response.headers:
            _PROBLEMS.append(f"{request.method} {request.url.path}: no {header} header")


class SpecChecked(httpx2.BaseTransport):
    """A transport that checks every response of the one it wraps against the spec."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        response.read()
        _check(request, response)
        return response


class AsyncSpecChecked(httpx2.AsyncBaseTransport):
    """The async form of :class:`SpecChecked`."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        _check(request, response)
        return response


@pytest.fixture(autouse=True)
def responses_match_the_spec() -> Iterator[list[str]]:
    """Fail a test whose clients received a response that does not match the OpenAPI spec."""
    _PROBLEMS.clear()
    _CHECKED.clear()
    yield _CHECKED
    found = list(_PROBLEMS)
    _PROBLEMS.clear()
    assert not found, "responses that do not match the spec:\n" + "\n".join(found)


# A clock tests move by hand: the public one of openai_ft.testing.
FakeClock = ManualClock


def chat_rows(n: int = 12) -> list[dict[str, Any]]:
    """A small, learnable classification dataset."""
    labels = ["positive", "negative", "neutral"]
    words = {"positive": "great lovely", "negative": "awful broken", "neutral": "plain okay"}
    rows = []
    for i in range(n):
        label = labels[i % 3]
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "Classify the sentiment."},
                    {"role": "user", "content": f"review {i}: {words[label]} product"},
                    {"role": "assistant", "content": label},
                ]
            }
        )
    return rows


def jsonl(rows: list[Any]) -> bytes:
    """Rows as JSONL bytes (str rows are written as-is)."""
    return jsonl_text(rows).encode()


@pytest.fixture
def clock() -> FakeClock:
    """A manual clock."""
    return FakeClock()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The state folder of the service under test."""
    return tmp_path / "state"


@pytest.fixture
def local(home: Path, clock: FakeClock) -> Iterator[LocalOpenAI]:
    """The service under test through the public testing API; jobs move only through ``run_jobs``."""
    with local_openai(home=home, clock=clock, steps_per_poll=0) as handle:
        yield handle


@pytest.fixture
def svc(local: LocalOpenAI) -> LocalService:
    """A service whose jobs advance only through ``run_jobs``."""
    return local.service


def make_client(service: LocalService, **kw: Any) -> openai.OpenAI:
    """An SDK client on the in-process transport (no retries unless asked)."""
    kw.setdefault("max_retries", 0)
    return openai.OpenAI(
        api_key="local",
        base_url="http://localhost/v1",
        http_client=httpx2.Client(transport=SpecChecked(service.transport())),
        **kw,
    )


@pytest.fixture
def client(local: LocalOpenAI) -> openai.OpenAI:
    """The sync SDK client (no retries)."""
    return local.make_client(wrap=SpecChecked, max_retries=0)


@pytest.fixture
def aclient(local: LocalOpenAI) -> openai.AsyncOpenAI:
    """The async SDK client (no retries)."""
    return local.make_async_client(wrap=AsyncSpecChecked, max_retries=0)
