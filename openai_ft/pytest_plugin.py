"""The pytest plugin of openai-ft (entry point ``pytest11``): fixtures on the local service.

Inert unless a test asks for a fixture: nothing is imported and nothing is patched before that.

- ``openai_local``: a :class:`openai_ft.testing.LocalOpenAI` on a fresh service for this test,
  with :func:`openai_ft.testing.patch_openai` active for the test (``patch=False`` turns it off)
- ``openai_client`` / ``openai_async_client``: its SDK clients
- ``@pytest.mark.openai_local(rpm=..., tpm=..., faults=[...], ...)``: options of ``local_openai``
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import openai

    from openai_ft.testing import LocalOpenAI

MARKER = "openai_local"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker so that ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): options of the openai_local fixture's service (rpm=, tpm=, "
        "faults=, latency_ms=, fail_rate=, seed=, api_key=, steps_per_poll=, clock=, patch=)",
    )


@pytest.fixture
def openai_local(request: pytest.FixtureRequest) -> Iterator[LocalOpenAI]:
    """A fresh local service for this test, its clients and helpers; openai is patched."""
    from openai_ft.testing import local_openai, patch_openai

    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):  # the closest wins
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword options only")
        options.update(marker.kwargs)
    patch = bool(options.pop("patch", True))
    known = inspect.signature(local_openai).parameters
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}: unknown option(s) {', '.join(unknown)}; "
            f"use {', '.join([*known, 'patch'])}"
        )
    with local_openai(**options) as handle:
        if patch:
            with patch_openai(handle):
                yield handle
        else:
            yield handle


@pytest.fixture
def openai_client(openai_local: LocalOpenAI) -> openai.OpenAI:
    """The sync SDK client of ``openai_local``."""
    return openai_local.client


@pytest.fixture
def openai_async_client(openai_local: LocalOpenAI) -> openai.AsyncOpenAI:
    """The async SDK client of ``openai_local``."""
    return openai_local.async_client
