"""Chat completions per second through the local service: in-process and over loopback, at
concurrency 1 and 64, against a baseline of the SDK alone (a canned answer from httpx2.MockTransport).

    .venv/bin/python benchmarks/bench_local_service.py [--seconds 3]

Not part of the test suite. Prints requests/s and the ratio to the SDK-alone baseline of this run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import openai

from openai_ft.local import LocalService
from openai_ft.local.http.server import LocalServer

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


def main(argv: list[str] | None = None) -> int:
    """Run every measurement and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each measurement")
    args = parser.parse_args(argv)
    secs = args.seconds
    home = Path(tempfile.mkdtemp(prefix="bench-local-"))
    svc = LocalService(home, autostart=False)
    server = LocalServer(svc, "127.0.0.1", 0, log=None)
    server.start()
    limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64)
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
        rows.append(
            (
                "loopback socket, c=1",
                sync_rate(openai.OpenAI(base_url=server.base_url, **kw), secs),
                base1,
            )
        )  # type: ignore[arg-type]
        rows.append(
            (
                "loopback socket, c=64",
                async_rate(
                    lambda: openai.AsyncOpenAI(
                        base_url=server.base_url,
                        http_client=openai.DefaultAsyncHttpx2Client(limits=limits),
                        **kw,
                    ),
                    secs,
                    64,
                ),
                base64,
            )
        )  # type: ignore[arg-type]
    finally:
        server.close()
        svc.close()
    print(f"{'path':36} {'req/s':>8} {'vs SDK alone':>13}")
    for name, rate, base in rows:
        print(f"{name:36} {rate:8.0f} {rate / base:12.2f}x")
    print(json.dumps({name: round(rate, 1) for name, rate, _ in rows}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
