"""Shared test fixtures: isolated state and a JSONL writer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own OPENAI_FT_HOME and no price override; jobs of the CLI's local
    service train in its thread, not in job processes that would outlive the test (the tests of
    job processes, tests/local/test_background*.py, turn them on)."""
    monkeypatch.setenv("OPENAI_FT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPENAI_FT_LOCAL_DETACH", "0")
    monkeypatch.delenv("OPENAI_FT_PRICES", raising=False)


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """write_jsonl(rows, name="data.jsonl") -> path; rows may be dicts or raw str lines."""

    from tests.jobs_helpers import write_rows  # imported here: it loads httpx2 and the service

    def write(rows: Iterable[Any], name: str = "data.jsonl") -> Path:
        return write_rows(tmp_path / name, rows)

    return write


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The state folder of a test's service and ledger (the same as OPENAI_FT_HOME)."""
    return tmp_path / "home"
