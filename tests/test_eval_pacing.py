"""The runner paced by the service's rate-limit headers (the pacer's own logic: test_pacer_capacity)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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
    assert clock.slept >= 84  # 5 at once (the bucket starts full), then one every 12 s
    svc.close()
