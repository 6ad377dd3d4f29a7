"""The runner against the local service: cache hits, 429 pacing, injected 500s, batch, judge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from openai_ft.client import make_async_client
from openai_ft.config import BackendSettings
from openai_ft.evaluate.api import evaluate_async
from openai_ft.evaluate.cache import AnswerCache, open_ledger
from openai_ft.evaluate.judge import parse_judge_score
from openai_ft.evaluate.runner import RunOptions
from openai_ft.local import FaultRule, LocalService
from openai_ft.store import Ledger

LABELS = ["billing", "shipping", "refund", "login"]
BASE = "gpt-4.1-mini-2025-04-14"


def rows(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        lab = LABELS[i % 4]
        out.append({"messages": [
            {"role": "system", "content": "Classify the ticket as one of: " + ", ".join(LABELS)},
            {"role": "user", "content": f"my {lab} problem number {i}"},
            {"role": "assistant", "content": lab}]})  # fmt: skip
    return out


class FakeTime:
    """A clock shared by the service and the runner; sleeping advances it."""

    def __init__(self) -> None:
        self.t = 1_000_000.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds


def setup(tmp_path: Path, **svc_opts: Any) -> tuple[LocalService, Any, BackendSettings, Ledger]:
    home = tmp_path / "home"
    svc = LocalService(home, autostart=False, speed=0, **svc_opts)
    settings = BackendSettings("local", home=home)
    client = make_async_client(settings, service=svc, max_retries=0)
    return svc, client, settings, open_ledger(Ledger(home / "runs.db"))


def sends(ledger: Ledger, settings: BackendSettings) -> list[tuple[str, str, int | None]]:
    return AnswerCache(ledger, settings.name).sends()


async def test_second_identical_run_sends_zero_requests(tmp_path: Path, write_jsonl: Any) -> None:
    data = write_jsonl(rows(12))
    svc, client, settings, led = setup(tmp_path)
    first = await evaluate_async(
        data, [BASE], scorers=["exact"], settings=settings, client=client, ledger=led
    )
    assert len(sends(led, settings)) == 12
    second = await evaluate_async(
        data, [BASE], scorers=["exact"], settings=settings, client=client, ledger=led
    )
    assert len(sends(led, settings)) == 12  # all from the ledger
    assert first.results["prediction"].tolist() == second.results["prediction"].tolist()
    assert second.summary["models"][0]["answered"] == 12
    svc.close()


async def test_429s_are_paced_and_nothing_is_lost(tmp_path: Path, write_jsonl: Any) -> None:
    clock = FakeTime()
    data = write_jsonl(rows(20))
    svc, client, settings, led = setup(tmp_path, rpm=6, clock=clock)
    # Another client has spent this minute's budget: the runner's first request gets a 429.
    for _ in range(6):
        await client.chat.completions.create(
            model=BASE, messages=[{"role": "user", "content": "hi"}]
        )
    res = await evaluate_async(data, [BASE], scorers=["exact"], settings=settings, client=client,
                               ledger=led, clock=clock, sleep=clock.sleep,
                               options=RunOptions(concurrency=4))  # fmt: skip
    log = sends(led, settings)
    ok = [key for _, key, status in log if status == 200]
    assert len(ok) == 20 and len(set(ok)) == 20  # each example answered exactly once
    assert any(status == 429 for _, _, status in log)
    assert res.summary["models"][0]["failed"] == 0
    assert clock.slept >= 60  # 20 requests at 6/min need more than two windows
    svc.close()


async def test_client_side_rpm_avoids_429s(tmp_path: Path, write_jsonl: Any) -> None:
    clock = FakeTime()
    data = write_jsonl(rows(15))
    svc, client, settings, led = setup(tmp_path, rpm=10, clock=clock)
    await evaluate_async(data, [BASE], scorers=["exact"], settings=settings, client=client, ledger=led,
                         clock=clock, sleep=clock.sleep, options=RunOptions(concurrency=4, rpm=10))  # fmt: skip
    statuses = [s for _, _, s in sends(led, settings)]
    assert statuses == [200] * 15
    svc.close()


async def test_injected_500s_are_retried_without_loss(tmp_path: Path, write_jsonl: Any) -> None:
    clock = FakeTime()
    data = write_jsonl(rows(12))
    faults = [FaultRule("500", path_regex="chat/completions", every=3)]
    svc, client, settings, led = setup(tmp_path, faults=faults, clock=clock)
    res = await evaluate_async(data, [BASE], scorers=["exact"], settings=settings, client=client,
                               ledger=led, clock=clock, sleep=clock.sleep)  # fmt: skip
    log = sends(led, settings)
    assert sum(s == 500 for _, _, s in log) >= 4
    assert sorted(k for _, k, s in log if s == 200) == sorted(set(res.results["request_hash"]))
    assert res.summary["models"][0]["failed"] == 0
    svc.close()


async def test_failures_are_recorded_and_retried_with_retry_errors(
    tmp_path: Path, write_jsonl: Any
) -> None:
    clock = FakeTime()
    data = write_jsonl(rows(4))
    faults = [FaultRule("500", path_regex="chat/completions", times=6)]
    svc, client, settings, led = setup(tmp_path, faults=faults, clock=clock)
    kw: dict[str, Any] = dict(scorers=["exact"], settings=settings, client=client, ledger=led,
                              clock=clock, sleep=clock.sleep, options=RunOptions(concurrency=1))  # fmt: skip
    first = await evaluate_async(data, [BASE], **kw)
    assert first.summary["models"][0]["failed"] == 1  # six 500s exhaust one example's attempts
    again = await evaluate_async(data, [BASE], **kw)
    assert again.summary["models"][0]["failed"] == 1  # stored failure, not re-sent by default
    kw["options"] = RunOptions(concurrency=1, retry_errors=True)
    fixed = await evaluate_async(data, [BASE], **kw)
    assert fixed.summary["models"][0]["failed"] == 0
    svc.close()


async def test_batch_path_joins_by_custom_id(tmp_path: Path, write_jsonl: Any) -> None:
    data = write_jsonl(rows(10))
    svc, client, settings, led = setup(tmp_path)

    async def advance(_: float) -> None:
        svc.run_jobs()

    res = await evaluate_async(data, [BASE, "gpt-4o-mini-2024-07-18"], scorers=["exact"], settings=settings,
                               client=client, ledger=led, batch=True, sleep=advance)  # fmt: skip
    assert res.results["batch"].all() and (res.results["status"] == "ok").all()
    assert len(sends(led, settings)) == 0  # no synchronous calls
    assert res.summary["models"][0]["answered"] == 10
    batches = led.query("SELECT status FROM eval_batches")
    assert [r[0] for r in batches] == ["joined", "joined"]
    # Batch answers are cached like the others: a rerun submits nothing new.
    await evaluate_async(
        data, [BASE], scorers=["exact"], settings=settings, client=client, ledger=led, batch=True
    )
    assert len(led.query("SELECT * FROM eval_batches")) == 2
    svc.close()


def test_parse_judge_score() -> None:
    assert parse_judge_score("Score: 7") == pytest.approx(0.7)
    assert parse_judge_score("I'd say 3/5.") == pytest.approx(0.6)
    assert parse_judge_score("10") == 1.0
    assert parse_judge_score("Score: 12") is None
    assert parse_judge_score("no idea") is None


async def test_judge_runs_through_the_runner_and_custom_scorer(
    tmp_path: Path, write_jsonl: Any
) -> None:
    data = write_jsonl(rows(4))
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        seen.append(body["model"])
        if body["model"] == "judge-model":
            text = (
                "Score: 8"
                if "REFERENCE:\nbilling" in body["messages"][1]["content"]
                else "Score: 2"
            )
        else:
            text = "billing"
        return httpx2.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}})  # fmt: skip

    client = openai.AsyncOpenAI(api_key="k", base_url="http://judge.test/v1", max_retries=0,
                                http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))  # fmt: skip
    settings = BackendSettings("openai", base_url="http://judge.test/v1", home=tmp_path)
    res = await evaluate_async(data, [BASE], scorers=["judge:judge-model", lambda p, r: p[0] == r[0]],
                               settings=settings, client=client, ledger=Ledger(tmp_path / "r.db"))  # fmt: skip
    assert seen.count("judge-model") == 4
    assert res.results["score:judge:judge-model"].tolist() == [0.8, 0.2, 0.2, 0.2]
    assert res.results["score:<lambda>"].tolist() == [1.0, 0.0, 0.0, 0.0]
