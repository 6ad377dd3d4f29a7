"""The eval runner at a rate limit, against `openai-ft serve --rpm 600 --latency-ms 50`.

Scenarios (each a fresh server process whose capacity starts full):

- bucket, window: N prompts under each limiter model; time against the burst optimum (spend the
  full capacity at once, then the refill: ``(N - RPM) / RPM`` minutes on a bucket, a whole
  minute per further RPM requests on a window), 429s and failures.
- shared: a bucket shared with a second client that spends half the budget (RPM/2 a minute).
- noheaders: the rate-limit headers stripped on their way to us, and ``--rpm`` given: achieved
  requests a minute against the limit.
- naive: asyncio.gather + a semaphore with the SDK's default retries (the baseline of the issue).

    .venv/bin/python benchmarks/bench_eval.py [--rpm 600] [--n 900] [--concurrency 32]
        [--scenarios bucket,window,shared,noheaders,naive]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from bench_local_service import served

from openai_ft.evaluate.cache import AnswerCache, open_ledger, request_hash
from openai_ft.evaluate.runner import Call, Runner, RunOptions
from openai_ft.store import Ledger

MODEL = "gpt-4.1-mini-2025-04-14"
LATENCY_MS = 50


class Counting(httpx2.AsyncBaseTransport):
    """Counts responses by status code; optionally strips the rate-limit headers."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, strip: bool = False) -> None:
        self.inner = inner
        self.strip = strip
        self.status: dict[int, int] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        resp = await self.inner.handle_async_request(request)
        self.status[resp.status_code] = self.status.get(resp.status_code, 0) + 1
        if self.strip:
            for name in [k for k in resp.headers if k.lower().startswith("x-ratelimit-")]:
                del resp.headers[name]
        return resp


def bodies(n: int) -> list[dict[str, Any]]:
    return [{"messages": [{"role": "system", "content": "Classify: billing, refund"},
                          {"role": "user", "content": f"refund please {i}"}]} for i in range(n)]  # fmt: skip


def client_for(url: str, retries: int, strip: bool = False) -> tuple[openai.AsyncOpenAI, Counting]:
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
    counting = Counting(httpx2.AsyncHTTPTransport(limits=limits), strip)
    http = httpx2.AsyncClient(transport=counting, timeout=120)
    client = openai.AsyncOpenAI(
        api_key="local", base_url=url, http_client=http, max_retries=retries
    )
    return client, counting


async def ours(
    url: str, home: Path, n: int, conc: int, rpm: float | None, strip: bool
) -> tuple[float, Counting, int]:
    client, counting = client_for(url, 0, strip)
    cache = AnswerCache(open_ledger(Ledger(home / "runs.db")), "bench")
    calls = [Call(MODEL, b, request_hash(b)) for b in bodies(n)]
    t0 = time.monotonic()
    answers = await Runner(client, cache, RunOptions(concurrency=conc, rpm=rpm)).run(calls)
    elapsed = time.monotonic() - t0
    await client.close()
    return elapsed, counting, sum(not a.ok for a in answers.values())


async def other_client(url: str, per_minute: float, stop: asyncio.Event) -> tuple[int, int]:
    """A second user of the key: one request every 60/per_minute s, a 429 simply skipped."""
    client, counting = client_for(url, 0)
    body = bodies(1)[0]
    while not stop.is_set():
        with contextlib.suppress(openai.RateLimitError):
            await client.chat.completions.create(model=MODEL, **body)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 60 / per_minute)
    await client.close()
    return counting.status.get(200, 0), counting.status.get(429, 0)


async def shared(
    url: str, home: Path, n: int, conc: int, rpm: int
) -> tuple[float, Counting, int, str]:
    stop = asyncio.Event()
    other = asyncio.ensure_future(other_client(url, rpm / 2, stop))
    elapsed, counting, failed = await ours(url, home, n, conc, None, False)
    stop.set()
    ok, throttled = await other
    return elapsed, counting, failed, f"the other client: {ok} ok, {throttled} x 429"


async def naive(url: str, n: int, conc: int) -> tuple[float, Counting, int]:
    client, counting = client_for(url, 2)  # the SDK's default retries
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
    await client.close()
    return elapsed, counting, failures


def optimum(model: str, n: int, rpm: int) -> float:
    """Seconds of the burst optimum: all capacity at once, then as it comes back."""
    if model == "window":
        return (n - 1) // rpm * 60.0 + LATENCY_MS / 1000
    return max(0, n - rpm) * 60.0 / rpm + LATENCY_MS / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rpm", type=int, default=600)
    ap.add_argument("--n", type=int, default=900)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--scenarios", default="bucket,window,shared,noheaders,naive")
    a = ap.parse_args()
    for name in a.scenarios.split(","):
        limiter = "window" if name == "window" else "bucket"
        args = ["--rpm", str(a.rpm), "--latency-ms", str(LATENCY_MS), "--limiter", limiter]
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp, served(*args) as (url, _):
            note = ""
            if name in ("bucket", "window"):
                elapsed, counting, failed = asyncio.run(
                    ours(url, Path(tmp), a.n, a.concurrency, None, False)
                )
                best = optimum(limiter, a.n, a.rpm)
                note = f"optimum {best:.1f}s, {elapsed / best:.3f}x of it"
            elif name == "shared":
                elapsed, counting, failed, note = asyncio.run(
                    shared(url, Path(tmp), a.n, a.concurrency, a.rpm)
                )
            elif name == "noheaders":
                elapsed, counting, failed = asyncio.run(
                    ours(url, Path(tmp), a.n, a.concurrency, a.rpm, True)
                )
                rate = counting.status.get(200, 0) / (elapsed / 60)
                note = f"{rate:.0f} a minute = {rate / a.rpm:.3f} of --rpm {a.rpm}"
            else:
                elapsed, counting, failed = asyncio.run(naive(url, a.n, a.concurrency))
        sent = sum(counting.status.values())
        throttled = counting.status.get(429, 0)
        print(
            f"{name:9s} {limiter:6s} {a.n} prompts in {elapsed:6.1f}s | failures {failed} | "
            f"429s {throttled} ({throttled / max(1, sent):.1%} of {sent}) | {note} | "
            f"load {load:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
