"""``openai-ft serve`` on uvicorn: requests served concurrently (one held open does not stop the
others), malformed requests answered with the JSON envelope, and the engine warmed only once
however many first requests arrive together."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest

from openai_ft.local import LocalService
from openai_ft.local.http.core import Request
from tests.serve_process import start_serve as _start
from tests.serve_process import stop_serve as _stop

from .test_serve_hostile import _connect, _read_response

MSG = [{"role": "user", "content": "Classify: the parcel arrived broken."}]


def _chat(url: str) -> str:
    client = openai.OpenAI(api_key="local", base_url=url, max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=MSG)  # type: ignore[arg-type]
    return reply.choices[0].message.content or ""


def test_requests_are_served_while_another_is_held_open(tmp_path: Path) -> None:
    proc, url = _start(tmp_path / "state", "--latency-ms", "1000")
    try:
        path = urlsplit(url).path
        body = json.dumps({"model": "gpt-4o-mini", "messages": MSG}).encode()
        with _connect(url) as held:  # headers and half a body: this request waits for the rest
            held.sendall(
                f"POST {path}/chat/completions HTTP/1.1\r\nHost: x\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body[:10]
            )
            start = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                replies = list(pool.map(lambda _: _chat(url), range(16)))
            took = time.monotonic() - start
            assert all(replies)
            # 16 answers of 1 s latency each: one at a time would take 16 s.
            assert took < 12, took
            held.sendall(body[10:])
            status, headers, answer = _read_response(held)
        assert status == 200 and json.loads(answer)["choices"], answer
        assert headers["x-ratelimit-limit-requests"] and headers["x-request-id"]
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /v1/models HTTP/1.1\r\nBad Header\r\n\r\n", 400),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{nope", 400),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]", 400),
    ],
)
def test_malformed_requests_get_the_envelope(
    tmp_path: Path, raw: bytes, status: int, served_url: str
) -> None:
    with _connect(served_url) as sock:
        sock.sendall(raw)
        got, headers, body = _read_response(sock)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"].startswith("req_")
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]


@pytest.fixture(scope="module")
def served_url(tmp_path_factory: pytest.TempPathFactory) -> object:
    proc, url = _start(tmp_path_factory.mktemp("served") / "state")
    yield url
    _stop(proc)


def test_the_engine_is_warmed_once_under_a_burst(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai_ft.local import engines

    loads: list[str] = []
    real = engines.get_engine

    def slow_get_engine(*args: object) -> object:
        loads.append(threading.current_thread().name)
        time.sleep(0.2)  # a cold load takes a while: the others arrive meanwhile
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(engines, "get_engine", slow_get_engine)
    svc = LocalService(home, autostart=False)
    body = json.dumps({"model": "gpt-4o-mini", "messages": MSG}).encode()
    request = Request.build("POST", "/v1/chat/completions", "", [], body)
    barrier = threading.Barrier(16)

    def first(_: int) -> int:
        barrier.wait()
        return svc.service.handle(request).status

    try:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(first, range(16)))
    finally:
        svc.close()
    assert statuses == [200] * 16
    assert len(loads) == 1, loads


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    from openai_ft.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--home", str(tmp_path), "--port", str(port)]) == 2
