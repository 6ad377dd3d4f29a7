"""Shared test fixtures: isolated state and a JSONL writer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own OPENAI_FT_HOME and no price override."""
    monkeypatch.setenv("OPENAI_FT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OPENAI_FT_PRICES", raising=False)


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """write_jsonl(rows, name="data.jsonl") -> path; rows may be dicts or raw str lines."""

    def write(rows: Iterable[Any], name: str = "data.jsonl") -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
        return path

    return write
