"""Fixtures for the hf engine tests: a tiny Qwen2-architecture model built offline, once.

The whole folder is skipped when the ``hf`` extra (torch, transformers, trl, peft) is not
installed. Every response the SDK clients receive is checked against the OpenAPI spec, as in
tests/local.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from openai_ft.local import LocalService
from tests.local.conftest import FakeClock, make_client, responses_match_the_spec

__all__ = ["responses_match_the_spec"]

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("peft")

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download: fail instead
torch.set_num_threads(2)

LABELS = ("billing", "shipping", "refund", "login")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model folder (built once per test session, from data/support_tickets.csv)."""
    from openai_ft.local.engines.hf.tiny import build

    return build(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture
def registry(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny model registered as ``tiny`` for the service under test."""
    monkeypatch.setenv("OPENAI_FT_HF_MODELS", f"tiny={tiny_model}")
    monkeypatch.delenv("HF_MODEL", raising=False)
    return tiny_model


@pytest.fixture
def svc(tmp_path: Path, registry: Path) -> Iterator[LocalService]:
    """A service whose jobs advance only through ``run_jobs``."""
    service = LocalService(tmp_path / "state", autostart=False, clock=FakeClock(), speed=0)
    yield service
    service.close()


@pytest.fixture
def client(svc: LocalService) -> openai.OpenAI:
    """The sync SDK client on the in-process transport."""
    return make_client(svc)


def sft_rows(n: int = 12, weight_first: int | None = None) -> list[dict[str, Any]]:
    """A small classification set; with ``weight_first``, each row starts with a weighted turn."""
    rows = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "Classify the ticket."},
        ]
        if weight_first is not None:
            messages += [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "noise reply", "weight": weight_first},
            ]
        messages += [
            {"role": "user", "content": f"ticket {i}: my {label} problem"},
            {"role": "assistant", "content": label},
        ]
        rows.append({"messages": messages})
    return rows


def dpo_rows(n: int = 12) -> list[dict[str, Any]]:
    """Preference pairs: the right label preferred over a wrong one."""
    return [
        {
            "input": {"messages": [{"role": "user", "content": f"ticket {i}: my {label} problem"}]},
            "preferred_output": [{"role": "assistant", "content": label}],
            "non_preferred_output": [{"role": "assistant", "content": "other"}],
        }
        for i, label in ((i, LABELS[i % len(LABELS)]) for i in range(n))
    ]


def upload(client: openai.OpenAI, rows: list[dict[str, Any]], name: str = "train.jsonl") -> str:
    """Upload rows as a fine-tune file; its id."""
    from tests.local.conftest import jsonl

    return client.files.create(file=(name, jsonl(rows)), purpose="fine-tune").id
