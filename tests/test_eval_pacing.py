"""Pacing logic on a fake clock: even spacing, header gating, 429 backoff."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from openai_ft.evaluate.pacing import Pacer, parse_duration, retry_after


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_parse_duration_and_retry_after() -> None:
    assert parse_duration("1m2.5s") == pytest.approx(62.5)
    assert parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("6s") == 6.0 and parse_duration("3") == 3.0
    assert parse_duration(None) is None and parse_duration("soon") is None
    assert retry_after({"Retry-After-Ms": "250", "retry-after": "9"}, 1) == pytest.approx(0.25)
    assert retry_after({"retry-after": "2"}, 1) == 2.0
    assert retry_after({}, 3) == pytest.approx(4.0)  # 0.5 * 2**3


def test_rpm_spaces_requests_evenly_below_the_limit() -> None:
    clock = Clock()
    pacer = Pacer(rpm=60, clock=clock)
    sends = []
    for _ in range(61):
        clock.t += pacer.reserve()
        sends.append(clock.t)
    assert sends[0] == 1000.0
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(sends)}
    assert gaps == {round(60 / (60 * 0.97), 6)}
    assert sends[-1] - sends[0] > 60  # never 61 requests inside one minute


def test_tpm_paces_by_tokens() -> None:
    clock = Clock()
    pacer = Pacer(tpm=6000, clock=clock, safety=1.0)
    assert pacer.reserve(1000) == 0.0
    assert pacer.reserve(1000) == pytest.approx(10.0)  # 1000 tokens at 100 tokens/s


def test_headers_hold_back_when_budget_spent_and_429_pauses_everyone() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock)
    pacer.observe({"x-ratelimit-remaining-requests": "2", "x-ratelimit-reset-requests": "5s"})
    assert pacer.reserve() == 0.0 and pacer.reserve() == 0.0
    assert pacer.reserve() == pytest.approx(5.0)  # budget spent: wait for the reset
    clock.t += 5.0
    pacer.observe({"x-ratelimit-remaining-requests": "100", "x-ratelimit-reset-requests": "1s"})
    assert pacer.reserve() == 0.0
    assert pacer.throttle({"retry-after-ms": "1500"}, 1) == pytest.approx(1.5)
    assert pacer.reserve() == pytest.approx(1.5) and pacer.throttled == 1


def test_token_headers_hold_back_a_request_that_does_not_fit() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock)
    pacer.observe({"x-ratelimit-remaining-tokens": "1000", "x-ratelimit-reset-tokens": "1m30s"})
    assert pacer.reserve(600) == 0.0
    assert pacer.reserve(600) == pytest.approx(90.0)  # 400 tokens left: wait for the reset
    assert pacer.reserve(0) == 0.0  # a request of no tokens is not held back by them


async def test_runner_follows_the_services_rate_limit_headers(
    tmp_path: Path, write_jsonl: Any
) -> None:
    """No --rpm given: the x-ratelimit-* headers alone keep the runner from hitting 429s."""
    from openai_ft.evaluate.api import evaluate_async
    from openai_ft.evaluate.runner import RunOptions
    from tests.test_eval_runner import BASE, FakeTime, rows, sends, setup

    clock = FakeTime()
    data = write_jsonl(rows(12))
    svc, client, settings, led = setup(tmp_path, rpm=5, clock=clock)
    res = await evaluate_async(data, [BASE], scorers=["exact"], settings=settings, client=client,
                               ledger=led, clock=clock, sleep=clock.sleep,
                               options=RunOptions(concurrency=1))  # fmt: skip
    statuses = [s for _, _, s in sends(led, settings)]
    assert statuses == [200] * 12  # without the headers the 6th request would be a 429
    assert res.summary["models"][0]["answered"] == 12
    assert clock.slept >= 120  # 12 requests at 5 a minute span two resets
    svc.close()
