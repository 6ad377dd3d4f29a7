"""Chat completions per second through the local service: in-process and over loopback, at
concurrency 1 and 64, against a baseline of the SDK alone (a canned answer from httpx2.MockTransport);
then the latency of 40 concurrent chats, and of 16 concurrent first requests to a server just started.

    .venv/bin/python benchmarks/bench_local_service.py [--seconds 3] [--workers N]

The loopback server is `openai-ft serve` in a process of its own (as a user runs it), so the
client's work does not share its GIL. Not part of the test suite. Prints requests/s, the ratio to
the SDK-alone baseline of this run, latencies, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2
import openai

from openai_ft.local import LocalService

ROOT = Path(__file__).resolve().parents[1]

MSG = [{"role": "user", "content": "Classify: the product arrived broken."}]
CANNED = {
    "id": "chatcmpl-x",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "negative"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
}


def _canned(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json=CANNED)


def sync_rate(client: openai.OpenAI, seconds: float) -> float:
    """Requests/s of one thread calling create() in a loop."""
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSG, max_tokens=5)  # type: ignore[arg-type]
        n += 1
    return n / (time.perf_counter() - start)


def async_rate(make: Callable[[], openai.AsyncOpenAI], seconds: float, concurrency: int) -> float:
    """Requests/s of ``concurrency`` coroutines sharing one async client."""

    async def run() -> float:
        client = make()
        count = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal count
            while time.perf_counter() < deadline:
                await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MSG, max_tokens=5
                )  # type: ignore[arg-type]
                count += 1

        start = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - start
        await client.close()
        return count / elapsed

    return asyncio.run(run())


@contextmanager
def served(*args: str) -> Iterator[tuple[str, float]]:
    """``openai-ft serve`` on a free port: (base URL, seconds until its banner)."""
    home = tempfile.mkdtemp(prefix="bench-serve-")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "openai_ft", "serve", "--port", "0", "--home", home, *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    ready = time.perf_counter() - started
    match = re.search(r"on (http://\S+/v1) ", banner)
    assert match, banner
    try:
        yield match.group(1), ready
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def latencies(url: str, concurrency: int, rounds: int) -> list[float]:
    """Seconds each of ``concurrency`` chats sent at once took, over ``rounds`` rounds."""

    async def run() -> list[float]:
        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = openai.AsyncOpenAI(
            api_key="local",
            base_url=url,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpx2Client(limits=limits),
        )

        async def one() -> float:
            start = time.perf_counter()
            await client.chat.completions.create(model="gpt-4o-mini", messages=MSG, max_tokens=5)  # type: ignore[arg-type]
            return time.perf_counter() - start

        await asyncio.gather(*[one() for _ in range(concurrency)])  # connections opened
        out: list[float] = []
        for _ in range(rounds):
            out += await asyncio.gather(*[one() for _ in range(concurrency)])
        await client.close()
        return out

    return asyncio.run(run())


def first_burst(url: str, n: int) -> list[float]:
    """Seconds each of ``n`` concurrent first requests took (fresh clients, one thread each)."""

    def one(_: int) -> float:
        client = openai.OpenAI(api_key="local", base_url=url, max_retries=0)
        start = time.perf_counter()
        client.chat.completions.create(model="gpt-4o-mini", messages=MSG, max_tokens=5)  # type: ignore[arg-type]
        return time.perf_counter() - start

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    parser.add_argument("--workers", type=int, default=0, help="serve --workers N (0: not passed)")
    args = parser.parse_args(argv)
    secs = args.seconds
    extra = ["--workers", str(args.workers)] if args.workers else []
    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    with served(*extra) as (url, ready):
        burst = first_burst(url, 16)
    print(f"16 concurrent first requests, {ready:.2f} s after start (banner):", file=sys.stderr)
    print(f"  max {max(burst):.3f} s, p50 {statistics.median(burst):.3f} s", file=sys.stderr)
    with served(*extra) as (url, _):
        lat = latencies(url, 40, 10)
        loop1 = sync_rate(openai.OpenAI(base_url=url, api_key="local", max_retries=0), secs)
        loop64 = async_rate(
            lambda: openai.AsyncOpenAI(
                base_url=url,
                api_key="local",
                max_retries=0,
                http_client=openai.DefaultAsyncHttpx2Client(
                    limits=httpx2.Limits(max_connections=64, max_keepalive_connections=64)
                ),
            ),
            secs,
            64,
        )
    q = statistics.quantiles(lat, n=20)
    print(
        f"40 concurrent chats over loopback: p50 {statistics.median(lat) * 1000:.1f} ms, "
        f"p95 {q[18] * 1000:.1f} ms",
        file=sys.stderr,
    )
    home = Path(tempfile.mkdtemp(prefix="bench-local-"))
    svc = LocalService(home, autostart=False)
    kw: dict[str, object] = {"api_key": "local", "max_retries": 0}
    rows: list[tuple[str, float, float]] = []
    try:
        base1 = sync_rate(
            openai.OpenAI(
                base_url="http://x/v1",
                http_client=httpx2.Client(transport=httpx2.MockTransport(_canned)),
                **kw,
            ),
            secs,
        )  # type: ignore[arg-type]
        base64 = async_rate(
            lambda: openai.AsyncOpenAI(
                base_url="http://x/v1",
                http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(_canned)),
                **kw,
            ),
            secs,
            64,
        )  # type: ignore[arg-type]
        rows.append(("SDK alone (MockTransport), c=1", base1, base1))
        rows.append(("SDK alone (MockTransport), c=64", base64, base64))
        rows.append(
            (
                "in-process transport, c=1",
                sync_rate(
                    openai.OpenAI(
                        base_url="http://x/v1",
                        http_client=httpx2.Client(transport=svc.transport()),
                        **kw,
                    ),
                    secs,
                ),
                base1,
            )
        )  # type: ignore[arg-type]
        rows.append(
            (
                "in-process transport, c=64",
                async_rate(
                    lambda: openai.AsyncOpenAI(
                        base_url="http://x/v1",
                        http_client=httpx2.AsyncClient(transport=svc.async_transport()),
                        **kw,
                    ),
                    secs,
                    64,
                ),
                base64,
            )
        )  # type: ignore[arg-type]
        rows.append(("loopback socket (serve process), c=1", loop1, base1))
        rows.append(("loopback socket (serve process), c=64", loop64, base64))
    finally:
        svc.close()
    print(f"{'path':40} {'req/s':>8} {'vs SDK alone':>13}")
    for name, rate, base in rows:
        print(f"{name:40} {rate:8.0f} {rate / base:12.2f}x")
    print(f"loopback c=64 / c=1: {loop64 / loop1:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(json.dumps({name: round(rate, 1) for name, rate, _ in rows}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
