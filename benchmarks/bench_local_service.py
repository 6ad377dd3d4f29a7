"""Chat completions per second through the local service: in-process and over loopback, at
concurrency 1 and 64, against a baseline of the SDK alone (a canned answer from httpx2.MockTransport);
then the latency of 40 concurrent chats, and of 16 concurrent first requests to a server just started.

    .venv/bin/python benchmarks/bench_local_service.py [--seconds 3] [--client-processes 2]

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
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
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
    # Its access log goes to stderr: keep the pipe drained, or a full pipe stops the server.
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    try:
        yield match.group(1), ready
    finally:
        proc.terminate()
        proc.wait(timeout=30)


FLOOR = r"""
import asyncio, json, sys
ANSWER = json.dumps(json.loads(sys.argv[1])).encode()
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            size = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    size = int(line.split(b":")[1])
            await reader.readexactly(size)
            writer.write(HEAD % len(ANSWER) + ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=1024)
    print("on http://127.0.0.1:%d/v1 " % server.sockets[0].getsockname()[1], file=sys.stderr, flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


@contextmanager
def floor_server() -> Iterator[str]:
    """The least a server can do (a canned answer from a bare asyncio loop): the SDK's floor."""
    proc = subprocess.Popen(
        [sys.executable, "-c", FLOOR, json.dumps(CANNED)], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    match = re.search(r"on (http://\S+/v1) ", proc.stderr.readline())
    assert match
    try:
        yield match.group(1)
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


def raw_latencies(url: str, concurrency: int, rounds: int) -> list[float]:
    """Like :func:`latencies` with a client that costs nearly nothing: prebuilt request bytes on
    ``concurrency`` keep-alive sockets, sent at once; the time to each complete answer."""
    import select
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    body = json.dumps({"model": "gpt-4o-mini", "messages": MSG, "max_tokens": 5}).encode()
    raw = (
        f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    socks = [socket.create_connection((parts.hostname, parts.port)) for _ in range(concurrency)]
    out: list[float] = []
    try:
        for r in range(rounds + 1):  # the first round opens the connections: not counted
            start = time.perf_counter()
            for sock in socks:
                sock.sendall(raw)
            pending = {sock: b"" for sock in socks}
            while pending:
                ready, _, _ = select.select(list(pending), [], [], 30)
                assert ready, "no answer within 30 s"
                for sock in ready:
                    pending[sock] += sock.recv(65536)
                    head, _, rest = pending[sock].partition(b"\r\n\r\n")
                    size = re.search(rb"content-length: (\d+)", head, re.I)
                    if size and len(rest) >= int(size[1]):
                        del pending[sock]
                        if r:
                            out.append(time.perf_counter() - start)
    finally:
        for sock in socks:
            sock.close()
    return out


def _async_loopback(url: str, seconds: float, concurrency: int) -> float:
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return async_rate(
        lambda: openai.AsyncOpenAI(
            base_url=url,
            api_key="local",
            max_retries=0,
            http_client=openai.DefaultAsyncHttpx2Client(limits=limits),
        ),
        seconds,
        concurrency,
    )


def loopback_rate(url: str, seconds: float, concurrency: int, processes: int) -> float:
    """Requests/s of ``concurrency`` coroutines split over ``processes`` client processes.

    One async SDK client spends more CPU per request than the server does: in one process it,
    not the server, would be what is measured.
    """
    with ProcessPoolExecutor(processes) as pool:
        share = [concurrency // processes] * processes
        return sum(pool.map(_async_loopback, [url] * processes, [seconds] * processes, share))


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
    parser.add_argument(
        "--client-processes", type=int, default=2, help="client processes sharing loopback c=64"
    )
    args = parser.parse_args(argv)
    secs = args.seconds
    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    with served() as (url, ready):
        burst = first_burst(url, 16)
    print(f"16 concurrent first requests, {ready:.2f} s after start (banner):", file=sys.stderr)
    print(f"  max {max(burst):.3f} s, p50 {statistics.median(burst):.3f} s", file=sys.stderr)
    with served() as (url, _):
        lat = latencies(url, 40, 10)
        raw = raw_latencies(url, 40, 20)
        loop1 = sync_rate(openai.OpenAI(base_url=url, api_key="local", max_retries=0), secs)
        loop64 = loopback_rate(url, secs, 64, args.client_processes)
    with floor_server() as url:
        floor = latencies(url, 40, 10)
    print(
        f"40 concurrent chats over loopback, serve, raw-socket client: "
        f"p50 {statistics.median(raw) * 1000:.1f} ms, max {max(raw) * 1000:.1f} ms",
        file=sys.stderr,
    )
    for name, values in (("serve", lat), ("bare asyncio canned server (floor)", floor)):
        q = statistics.quantiles(values, n=20)
        print(
            f"40 concurrent SDK chats over loopback, {name}: "
            f"p50 {statistics.median(values) * 1000:.1f} ms, p95 {q[18] * 1000:.1f} ms",
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
        rows.append(("loopback (serve process), c=1", loop1, base1))
        rows.append(
            (f"loopback (serve process), c=64/{args.client_processes} procs", loop64, base64)
        )
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
