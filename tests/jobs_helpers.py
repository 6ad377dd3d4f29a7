"""Helpers for the upload/train/watch tests: a local service, an SDK client on it, data."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from openai_ft.client import make_client
from openai_ft.config import BackendSettings
from openai_ft.local import FaultRule, LocalService
from openai_ft.store import Ledger

INTENTS = ("billing", "shipping", "refund", "login")


def chat_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` valid chat examples (a ticket and its intent)."""
    rows = []
    for i in range(n):
        intent = INTENTS[(i + seed) % len(INTENTS)]
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "Classify the ticket."},
                    {"role": "user", "content": f"ticket {i} {seed} about my {intent} problem"},
                    {"role": "assistant", "content": intent},
                ]
            }
        )
    return rows


def jsonl_text(rows: Iterable[Any]) -> str:
    """Rows as JSONL text: dicts as JSON, str rows written as-is (to test bad lines)."""
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def write_rows(path: Path, rows: Iterable[Any]) -> Path:
    """Write rows (dicts or raw lines) as JSONL."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write(jsonl_text(rows))
    return path


def train_files(folder: Path, valid_seed: int, n_valid: int = 10) -> tuple[Path, Path]:
    """``train.jsonl`` (24 examples) and ``validation.jsonl`` (``n_valid``, ``valid_seed``)."""
    return (
        write_rows(folder / "train.jsonl", chat_rows(24)),
        write_rows(folder / "validation.jsonl", chat_rows(n_valid, seed=valid_seed)),
    )


class DropAnswers(httpx2.BaseTransport):
    """A network that loses the answer of chosen requests after the service has handled them."""

    def __init__(self, inner: httpx2.BaseTransport, method: str, path: str, times: int = 1) -> None:
        self.inner, self.method, self.path, self.left = inner, method, path, times
        self.seen: list[str] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        self.seen.append(f"{request.method} {request.url.path}")
        if self.left > 0 and request.method == self.method and request.url.path.endswith(self.path):
            self.left -= 1
            response.read()
            raise httpx2.ReadTimeout("the answer was lost", request=request)
        return response


def service(home: Path, faults: list[FaultRule] | None = None, **kw: Any) -> LocalService:
    """A local service that only advances jobs when the test says so."""
    return LocalService(home, autostart=False, speed=0, faults=faults, **kw)


def client_for(
    svc: LocalService,
    home: Path,
    *,
    max_retries: int = 2,
    wrap: Callable[[httpx2.BaseTransport], httpx2.BaseTransport] | None = None,
) -> Any:
    """An SDK client talking to ``svc`` in-process (optionally through a wrapping transport)."""
    import openai

    if wrap is None:
        return make_client(
            BackendSettings("local", home=home), service=svc, max_retries=max_retries
        )
    http = httpx2.Client(transport=wrap(svc.transport()))
    return openai.OpenAI(
        api_key="local",
        base_url="http://local.openai-ft/v1",
        http_client=http,
        max_retries=max_retries,
    )


def cli_service(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    """The process-wide local service for this test's home, advanced only by the CLI's sleep."""
    from openai_ft import client as client_mod
    from openai_ft.cli import jobs as cli_jobs

    home = Path(os.environ["OPENAI_FT_HOME"]).resolve()
    svc = LocalService(home, autostart=False, speed=0)
    monkeypatch.setitem(client_mod._services, home, svc)
    monkeypatch.setattr(cli_jobs, "SLEEP", lambda _s: svc.run_jobs(max_steps=5))
    monkeypatch.delenv("OPENAI_FT_BACKEND", raising=False)
    return svc


def ledger(home: Path) -> Ledger:
    """A ledger under ``home``."""
    return Ledger(home / "runs.db")


def no_sleep(log: list[float] | None = None) -> Callable[[float], None]:
    """A sleep that only records how long it was asked to wait."""

    def sleep(seconds: float) -> None:
        if log is not None:
            log.append(seconds)

    return sleep
