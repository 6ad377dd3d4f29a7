"""eval --batch never pays twice: a lost answer to the batch create, a crash before the ledger
row, a crash while the answers are stored, or a lost ledger all end with one batch and one input
file on the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from openai_ft.config import BackendSettings
from openai_ft.evaluate import cache as cache_mod
from openai_ft.evaluate.api import evaluate_async
from openai_ft.evaluate.cache import open_ledger
from openai_ft.local import LocalService
from openai_ft.store import Ledger

BASE = "gpt-4.1-mini-2025-04-14"
LABELS = ("billing", "shipping", "refund", "login")


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {"messages": [{"role": "user", "content": f"my {LABELS[i % 4]} problem {i}"},
                      {"role": "assistant", "content": LABELS[i % 4]}]}
        for i in range(n)
    ]  # fmt: skip


class Killed(BaseException):
    """The process dies here (a BaseException, like KeyboardInterrupt: no handler catches it)."""


class LoseAnswer(httpx2.AsyncBaseTransport):
    """The service handles ``POST /v1/batches``; its answer then never arrives: a timeout, a 503
    (a proxy's), or the process dies."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, how: str) -> None:
        self.inner, self.how, self.armed = inner, how, True

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if self.armed and request.method == "POST" and request.url.path.endswith("/batches"):
            self.armed = False
            await response.aread()
            if self.how == "timeout":
                raise httpx2.ReadTimeout("the answer was lost", request=request)
            if self.how == "503":
                body = {"error": {"message": "upstream timed out", "type": "server_error"}}
                return httpx2.Response(503, json=body, request=request)
            raise Killed
        return response


class World:
    """One local service, the ledger, and a way to run ``eval --batch`` against them."""

    def __init__(self, home: Path, data: Path) -> None:
        self.home, self.data = home, data
        self.svc = LocalService(home, autostart=False, speed=0)
        self.settings = BackendSettings("local", home=home)

    def client(self, how: str | None = None) -> Any:
        inner = self.svc.async_transport()
        transport = LoseAnswer(inner, how) if how else inner
        return openai.AsyncOpenAI(
            api_key="local", base_url="http://local.openai-ft/v1", max_retries=0,
            http_client=httpx2.AsyncClient(transport=transport),
        )  # fmt: skip

    async def run(self, client: Any, ledger: Ledger) -> Any:
        async def advance(_: float) -> None:
            self.svc.run_jobs()

        return await evaluate_async(
            self.data, [BASE], scorers=["exact"], settings=self.settings, client=client,
            ledger=ledger, batch=True, sleep=advance,
        )  # fmt: skip

    def count(self, kind: str, purpose: str | None = None) -> int:
        objs = self.svc.service.state.all(kind)
        return sum(1 for o in objs if purpose is None or o.get("purpose") == purpose)


@pytest.fixture
def world(home: Path, write_jsonl: Any) -> Any:
    w = World(home, write_jsonl(_rows(6)))
    yield w
    w.svc.close()


@pytest.mark.parametrize("how", ["timeout", "503", "crash"])
async def test_a_lost_batch_create_answer_submits_one_batch(world: World, how: str) -> None:
    ledger = open_ledger(Ledger(world.home / "runs.db"))
    try:
        res = await world.run(world.client(how), ledger)
    except Killed:
        assert how == "crash"  # the process died; the batch exists on the service
        res = await world.run(world.client(), ledger)
    assert (res.results["status"] == "ok").all() and len(res.results) == 6
    assert world.count("batch") == 1
    assert world.count("file", "batch") == 1  # the input file was sent once


async def test_a_crash_while_storing_answers_rejoins_the_same_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = open_ledger(Ledger(world.home / "runs.db"))
    real_put = cache_mod.AnswerCache.put
    stored: list[str] = []

    def put_then_die(self: Any, model: str, key: str, answer: Any) -> None:
        if len(stored) == 3:
            raise Killed  # half-way through storing the batch's answers
        stored.append(key)
        real_put(self, model, key, answer)

    monkeypatch.setattr(cache_mod.AnswerCache, "put", put_then_die)
    with pytest.raises(Killed):
        await world.run(world.client(), ledger)
    [row] = ledger.query("SELECT status FROM eval_batches")
    assert row["status"] != "joined"  # not all answers were stored
    monkeypatch.setattr(cache_mod.AnswerCache, "put", real_put)
    res = await world.run(world.client(), ledger)
    assert (res.results["status"] == "ok").all() and len(res.results) == 6
    assert world.count("batch") == 1 and world.count("file", "batch") == 1
    assert [r["status"] for r in ledger.query("SELECT status FROM eval_batches")] == ["joined"]


async def test_a_lost_ledger_finds_the_batch_by_its_metadata(world: World, tmp_path: Path) -> None:
    first = await world.run(world.client(), open_ledger(Ledger(world.home / "runs.db")))
    assert (first.results["status"] == "ok").all()
    other = open_ledger(Ledger(tmp_path / "another-machine" / "runs.db"))
    again = await world.run(world.client(), other)
    assert (again.results["status"] == "ok").all() and len(again.results) == 6
    assert world.count("batch") == 1 and world.count("file", "batch") == 1


async def test_retry_errors_after_a_joined_batch_submits_a_new_one(world: World) -> None:
    """A batch already joined is not reused: --retry-errors must be able to send again."""
    ledger = open_ledger(Ledger(world.home / "runs.db"))
    await world.run(world.client(), ledger)
    ledger.execute("UPDATE eval_answers SET status = 'error', error = 'batch: HTTP 500: x'")
    from openai_ft.evaluate.runner import RunOptions

    async def advance(_: float) -> None:
        world.svc.run_jobs()

    res = await evaluate_async(
        world.data, [BASE], scorers=["exact"], settings=world.settings, client=world.client(),
        ledger=ledger, batch=True, sleep=advance, options=RunOptions(retry_errors=True),
    )  # fmt: skip
    assert (res.results["status"] == "ok").all()
    assert world.count("batch") == 2


async def test_a_batch_recorded_under_another_project_is_kept_and_not_waited_for(
    home: Path, write_jsonl: Any
) -> None:
    """Two projects behind one backend name share the ledger: project b cannot see project a's
    batch (404); it submits its own, and a's row is still a's on a's next run."""
    data = write_jsonl(_rows(4))
    a, b = World(home / "a", data), World(home / "b", data)
    ledger = open_ledger(Ledger(home / "runs.db"))
    try:
        pending_a = a.client()
        await _submit_only(a, pending_a, ledger)  # a's batch is submitted, not yet joined
        res_b = await b.run(b.client(), ledger)
        assert (res_b.results["status"] == "ok").all()
        assert a.count("batch") == 1 and b.count("batch") == 1
        res_a = await a.run(a.client(), ledger)  # a's rerun joins a's batch, none new
        assert (res_a.results["status"] == "ok").all() and a.count("batch") == 1
    finally:
        a.svc.close()
        b.svc.close()


async def _submit_only(world: World, client: Any, ledger: Ledger) -> None:
    """Run eval --batch until its batch is submitted, then stop (as if the run was killed)."""

    async def killed(_: float) -> None:
        raise Killed

    with pytest.raises(Killed):
        await evaluate_async(
            world.data, [BASE], scorers=["exact"], settings=world.settings, client=client,
            ledger=ledger, batch=True, sleep=killed,
        )  # fmt: skip
