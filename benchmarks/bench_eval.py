"""Our paced runner vs a naive asyncio.gather + semaphore with the SDK's default retries.

Against the local service (50 ms latency, an RPM limit): achieved requests/min / limit, 429s
received and failures for both, measured in the same run.

    .venv/bin/python benchmarks/bench_eval.py [--rpm 600] [--n 700] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import openai

from openai_ft.client import LOCAL_BASE_URL
from openai_ft.evaluate.cache import AnswerCache, open_ledger, request_hash
from openai_ft.evaluate.runner import Call, Runner, RunOptions
from openai_ft.local import LocalService
from openai_ft.store import Ledger

MODEL = "gpt-4.1-mini-2025-04-14"


class Counting(httpx2.AsyncBaseTransport):
    """Counts responses by status code."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.status: dict[int, int] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        resp = await self.inner.handle_async_request(request)
        self.status[resp.status_code] = self.status.get(resp.status_code, 0) + 1
        return resp


def bodies(n: int) -> list[dict[str, Any]]:
    return [{"messages": [{"role": "system", "content": "Classify: billing, refund"},
                          {"role": "user", "content": f"refund please {i}"}]} for i in range(n)]  # fmt: skip


def client_for(
    home: Path, rpm: int, retries: int
) -> tuple[openai.AsyncOpenAI, Counting, LocalService]:
    svc = LocalService(home, autostart=False, speed=0, rpm=rpm, latency_ms=50)
    counting = Counting(svc.async_transport())
    http = httpx2.AsyncClient(transport=counting, timeout=120)
    return (
        openai.AsyncOpenAI(
            api_key="local", base_url=LOCAL_BASE_URL, http_client=http, max_retries=retries
        ),
        counting,
        svc,
    )


async def ours(home: Path, n: int, rpm: int, conc: int) -> tuple[float, Counting, int, int]:
    client, counting, svc = client_for(home, rpm, 0)
    cache = AnswerCache(open_ledger(Ledger(home / "runs.db")), "bench")
    calls = [Call(MODEL, b, request_hash(b)) for b in bodies(n)]
    t0 = time.monotonic()
    answers = await Runner(client, cache, RunOptions(concurrency=conc, rpm=rpm)).run(calls)
    elapsed = time.monotonic() - t0
    stored = len(cache.get_many(MODEL, [c.key for c in calls]))
    svc.close()
    return elapsed, counting, sum(not a.ok for a in answers.values()), n - stored


async def naive(home: Path, n: int, rpm: int, conc: int) -> tuple[float, Counting, int, int]:
    client, counting, svc = client_for(home, rpm, 2)  # the SDK's default retries
    sem = asyncio.Semaphore(conc)
    failures = 0

    async def one(body: dict[str, Any]) -> None:
        nonlocal failures
        async with sem:
            try:
                await client.chat.completions.create(model=MODEL, **body)
            except openai.APIError:
                failures += 1

    t0 = time.monotonic()
    await asyncio.gather(*(one(b) for b in bodies(n)))
    elapsed = time.monotonic() - t0
    svc.close()
    return elapsed, counting, failures, failures  # a failed request's answer is lost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rpm", type=int, default=600)
    ap.add_argument("--n", type=int, default=700)
    ap.add_argument("--concurrency", type=int, default=16)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (("ours", ours), ("naive", naive)):
            elapsed, counting, failed, lost = asyncio.run(
                fn(Path(tmp) / name, a.n, a.rpm, a.concurrency)
            )
            ok = counting.status.get(200, 0)
            ratio = ok / (elapsed / 60) / a.rpm
            print(f"{name:5s}: {ok} ok in {elapsed:.1f}s = {ratio:.2f} of the {a.rpm} RPM limit | "
                  f"429s {counting.status.get(429, 0)} | failures {failed} | lost answers {lost}")  # fmt: skip


if __name__ == "__main__":
    main()
