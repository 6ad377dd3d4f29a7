"""``openai-ft serve`` as a real process against hostile clients: big and lying bodies, slow
clients, too many connections, odd methods, and the API key kept out of ``ps``.

Memory and thread counts are read from /proc/PID/status of the server process.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import openai
import pytest

from tests.serve_process import start_serve as _start
from tests.serve_process import stop_serve as _stop

from .test_serve_cli import KEY

MB = 2**20


def _status_field(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _connect(url: str, timeout: float = 10.0) -> socket.socket:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=timeout)


def _read_response(sock: socket.socket, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One response off a socket: status, lower-case headers, body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        assert got, f"connection closed before a full response: {data!r}"
        data += got
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    size = 0 if head else int(headers.get("content-length", "0"))
    while len(body) < size:
        got = sock.recv(65536)
        assert got, "connection closed mid-body"
        body += got
    return int(lines[0].split()[1]), headers, body


def _exchange(url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with _connect(url) as sock:
        sock.sendall(raw)
        return _read_response(sock)


def _assert_envelope(status: int, headers: dict[str, str], body: bytes, expected: int) -> None:
    assert status == expected, body
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"].startswith("req_")
    assert "x-ratelimit-remaining-requests" in headers
    error = json.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, url = _start(tmp_path / "state", "--api-key", KEY, "--max-file-mb", "5")
    yield proc, url
    _stop(proc)


def test_api_key_from_the_environment_stays_out_of_ps(tmp_path: Path) -> None:
    os.environ["OPENAI_FT_SERVE_API_KEY"] = KEY  # inherited by the server process
    try:
        proc, url = _start(tmp_path / "state")
    finally:
        del os.environ["OPENAI_FT_SERVE_API_KEY"]
    try:
        assert KEY.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        assert httpx2.get(url + "/models").status_code == 401
        assert (
            httpx2.get(url + "/models", headers={"authorization": "Bearer nope"}).status_code == 401
        )
        client = openai.OpenAI(api_key=KEY, base_url=url, max_retries=0)
        assert client.models.list().data
    finally:
        _stop(proc)


def test_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from openai_ft.local.http import gate
    from openai_ft.local.http.core import ApiError

    seen: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append(b)
        return real(a, b)

    monkeypatch.setattr(gate.hmac, "compare_digest", spy)
    with pytest.raises(ApiError) as exc:
        gate.check_key(KEY, {"authorization": "Bearer " + KEY[:-1] + "x"})
    assert exc.value.status == 401 and KEY not in exc.value.message
    with pytest.raises(ApiError):
        gate.check_key(KEY, {"authorization": "Bearer \udcff\u00e9"})  # not ASCII: still a 401
    gate.check_key(KEY, {"authorization": "Bearer " + KEY})
    assert seen == [f"Bearer {KEY}".encode()] * 3


def test_body_is_refused_before_it_is_read(served: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = served
    path = urlsplit(url).path
    assert httpx2.get(url + "/models", headers={"authorization": f"Bearer {KEY}"}).is_success
    before = _status_field(proc.pid, "VmRSS")
    huge = 400 * MB
    head = f"POST {path}/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
    # No key: 401 as soon as the headers are in (the body is never sent here).
    status, headers, body = _exchange(url, f"{head}Content-Length: {huge}\r\n\r\n".encode())
    _assert_envelope(status, headers, body, 401)
    assert headers["connection"] == "close"
    # The right key but over --max-file-mb: 413, again before any of the body.
    auth = f"Authorization: Bearer {KEY}\r\n"
    status, headers, body = _exchange(url, f"{head}{auth}Content-Length: {huge}\r\n\r\n".encode())
    _assert_envelope(status, headers, body, 413)
    assert json.loads(body)["error"]["code"] == "file_too_large"
    # A client that sends the 400 MB anyway: the server answers, reads a bounded amount, hangs up.
    with _connect(url) as sock:
        sock.sendall(f"{head}Content-Length: {huge}\r\n\r\n".encode())
        sent = [0]

        def push() -> None:
            block = b"\0" * MB
            try:
                while sent[0] < huge:
                    sock.sendall(block)
                    sent[0] += len(block)
            except OSError:
                return  # the server closed the connection: what it should do

        pusher = threading.Thread(target=push)
        pusher.start()
        status, headers, body = _read_response(sock)
        pusher.join(timeout=60)
        assert not pusher.is_alive()
    _assert_envelope(status, headers, body, 401)
    assert sent[0] < huge  # cut off long before the end
    grown_mb = (_status_field(proc.pid, "VmRSS") - before) / 1024
    assert grown_mb < 40, f"the server grew by {grown_mb:.0f} MB"


@pytest.mark.parametrize(
    "lengths",
    [["-1"], ["abc"], ["1e3"], ["12 x"], ["+5"], ["5", "6"], ["99999999999999999999999"]],
)
def test_malformed_content_length_is_400(
    served: tuple[subprocess.Popen[str], str], lengths: list[str]
) -> None:
    _, url = served
    head = f"POST {urlsplit(url).path}/chat/completions HTTP/1.1\r\nHost: x\r\n"
    head += f"Authorization: Bearer {KEY}\r\n" + "".join(
        f"Content-Length: {v}\r\n" for v in lengths
    )
    status, headers, body = _exchange(url, (head + "\r\n{}").encode())
    _assert_envelope(status, headers, body, 400)


def test_chunked_bodies_are_capped(served: tuple[subprocess.Popen[str], str]) -> None:
    _, url = served
    path = urlsplit(url).path
    head = f"Host: x\r\nAuthorization: Bearer {KEY}\r\nTransfer-Encoding: chunked\r\n"
    # A small chunked JSON body still works.
    payload = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    chunked = f"{len(payload):x}\r\n{payload}\r\n0\r\n\r\n"
    status, _, body = _exchange(
        url, f"POST {path}/chat/completions HTTP/1.1\r\n{head}\r\n{chunked}".encode()
    )
    assert status == 200 and json.loads(body)["choices"], body
    # 1 MB chunks past --max-file-mb 5 (+1 MB for the form): 413 at the chunk that crosses it.
    with _connect(url) as sock:
        sock.sendall(
            f"POST {path}/files HTTP/1.1\r\n{head}Content-Type: multipart/form-data; boundary=b\r\n\r\n".encode()
        )
        for _ in range(6):
            sock.sendall(b"%x\r\n" % MB + b"x" * MB + b"\r\n")
        # The 7th takes it past 6 MB: refused at its first bytes (h11 reports data, not sizes).
        sock.sendall(b"%x\r\n" % MB + b"x" * 1024)
        status, headers, body = _read_response(sock)
    _assert_envelope(status, headers, body, 413)
    for bad in (b"zz\r\n", b"-5\r\n", b"5\r\nabcdefgh\r\n"):
        status, headers, body = _exchange(
            url, f"POST {path}/chat/completions HTTP/1.1\r\n{head}\r\n".encode() + bad
        )
        _assert_envelope(status, headers, body, 400)
    status, headers, body = _exchange(
        url,
        f"POST {path}/chat/completions HTTP/1.1\r\n{head}Content-Length: 2\r\n\r\n{{}}".encode(),
    )
    _assert_envelope(status, headers, body, 400)  # both framings at once: refused


def _closed_within(sock: socket.socket, seconds: float, drip: bytes) -> float | None:
    """Drip ``drip`` every 0.1 s; seconds until the server closes the connection, or None."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        readable, _, _ = select.select([sock], [], [], 0.1)
        if readable:
            try:
                if not sock.recv(65536):
                    return time.monotonic() - start
            except OSError:
                return time.monotonic() - start
            continue
        try:
            sock.sendall(drip)
        except OSError:
            return time.monotonic() - start
    return None


def test_slow_clients_are_cut_off(tmp_path: Path) -> None:
    proc, url = _start(tmp_path / "state", "--request-timeout", "0.5")
    path = urlsplit(url).path
    try:
        with _connect(url) as sock:  # headers, one line every 0.1 s, forever
            sock.sendall(f"GET {path}/models HTTP/1.1\r\nHost: x\r\n".encode())
            took = _closed_within(sock, 8.0, b"X-Slow: 1\r\n")
        assert took is not None and took < 4.0, took
        with _connect(url) as sock:  # a body that never completes: 408 envelope
            sock.sendall(
                f"POST {path}/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode()
            )
            status, headers, body = _read_response(sock)
        _assert_envelope(status, headers, body, 408)
        with _connect(url) as sock:  # an idle keep-alive connection is closed too
            assert _closed_within(sock, 8.0, b"") is not None
        data = b"{}\n" * (MB // 3)  # 2 MB over 1 s, past the 0.5 s: a big upload, not a slow one
        form = b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        form += b'--b\r\nContent-Disposition: form-data; name="file"; filename="f.jsonl"\r\n\r\n'
        form += data + b"\r\n--b--\r\n"
        with _connect(url) as sock:
            sock.sendall(
                f"POST {path}/files HTTP/1.1\r\nHost: x\r\nContent-Length: {len(form)}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n\r\n".encode()
            )
            step = len(form) // 10 + 1
            for i in range(0, len(form), step):
                sock.sendall(form[i : i + step])
                time.sleep(0.1)
            status, _, answer = _read_response(sock)
        assert status == 200 and json.loads(answer)["bytes"] == len(data), answer
        assert httpx2.get(url + "/models").status_code == 200
    finally:
        _stop(proc)


def test_connection_slots_are_bounded(tmp_path: Path) -> None:
    proc, url = _start(tmp_path / "state", "--max-connections", "4", "--request-timeout", "20")
    path = urlsplit(url).path
    try:
        assert httpx2.get(url + "/models").status_code == 200
        threads = _status_field(proc.pid, "Threads")
        holders = [_connect(url) for _ in range(4)]
        for sock in holders:
            sock.sendall(f"GET {path}/models HTTP/1.1\r\n".encode())  # and never finish
        refused = []
        for _ in range(30):
            status, headers, body = _exchange(
                url, f"GET {path}/models HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            )
            refused.append(status)
            _assert_envelope(status, headers, body, 503)
            assert headers["retry-after"] == "1"
        assert _status_field(proc.pid, "Threads") <= threads + 4
        for sock in holders:
            sock.close()
        client = openai.OpenAI(api_key="any", base_url=url, max_retries=5)
        assert client.models.list().data  # slots free up when the holders leave
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("request_line", "status", "allow"),
    [
        ("HEAD /v1/models HTTP/1.1", 405, "GET"),
        ("OPTIONS /v1/files HTTP/1.1", 405, "POST, GET"),
        ("BREW /v1/models HTTP/1.1", 405, "GET"),
        ("PATCH /v1/nothing HTTP/1.1", 404, None),
        ("GARBAGE", 400, None),
        ("GET /v1/models HTTP/9.0", 505, None),
    ],
)
def test_odd_methods_get_the_json_envelope(
    served: tuple[subprocess.Popen[str], str], request_line: str, status: int, allow: str | None
) -> None:
    _, url = served
    raw = f"{request_line}\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode()
    with _connect(url) as sock:
        sock.sendall(raw)
        got, headers, body = _read_response(sock, head=request_line.startswith("HEAD"))
        if request_line.startswith("HEAD"):
            assert got == status and headers["allow"] == allow and headers["x-request-id"]
            assert body == b""  # HEAD: the headers only, and the connection stays usable
            sock.sendall(
                f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode()
            )
            assert _read_response(sock)[0] == 200
            return
    _assert_envelope(got, headers, body, status)
    assert headers.get("allow") == allow


def test_every_response_has_rate_limit_headers(home: Path) -> None:
    from openai_ft.local import LocalService

    from .conftest import SpecChecked

    for rpm in (None, 100):
        svc = LocalService(home, autostart=False, speed=0, rpm=rpm)
        http = httpx2.Client(transport=SpecChecked(svc.transport()), base_url="http://localhost")
        try:
            for method, path, status in [
                ("GET", "/v1/models", 200),
                ("GET", "/v1/nope", 404),
                ("DELETE", "/v1/files", 405),
                ("GET", "/v1/files/file-x", 404),
                ("POST", "/v1/chat/completions", 400),
            ]:
                response = http.request(method, path)
                assert response.status_code == status
                for kind in ("requests", "tokens"):
                    for part in ("limit", "remaining", "reset"):
                        assert f"x-ratelimit-{part}-{kind}" in response.headers, (path, part)
            if rpm is not None:  # a counted limit reports its use; the unset one is nominal
                assert response.headers["x-ratelimit-limit-requests"] == "100"
                assert int(response.headers["x-ratelimit-remaining-requests"]) < 100
            assert response.headers["x-ratelimit-limit-tokens"] == "150000000"
            assert http.delete("/v1/files").headers["allow"] == "POST, GET"
        finally:
            svc.close()


def test_expect_100_continue_only_once_admitted(served: tuple[subprocess.Popen[str], str]) -> None:
    _, url = served
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    head = (
        f"POST {urlsplit(url).path}/chat/completions HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n"
    )
    with _connect(url) as sock:  # no key: the 401 comes instead of "100 Continue"
        sock.sendall((head + "\r\n").encode())
        status, headers, err = _read_response(sock)
        _assert_envelope(status, headers, err, 401)
    with _connect(url) as sock:
        sock.sendall(f"{head}Authorization: Bearer {KEY}\r\n\r\n".encode())
        assert _read_response(sock)[0] == 100
        sock.sendall(body.encode())
        status, _, answer = _read_response(sock)
        assert status == 200 and json.loads(answer)["choices"]


def test_sigterm_and_ctrl_c_right_after_an_early_answer_stop_the_server(tmp_path: Path) -> None:
    """Ctrl-C used to be lost now and then when it landed while a request's thread started."""
    for round_, signum in enumerate([signal.SIGINT, signal.SIGTERM] * 3):
        proc, url = _start(tmp_path / f"state{round_}", "--api-key", KEY)
        bad = f"POST {urlsplit(url).path}/chat/completions HTTP/1.1\r\nHost: x\r\n"
        status, _, _ = _exchange(url, (bad + "Content-Length: -1\r\n\r\n").encode())
        assert status == 400  # h11 refuses the framing before the key is looked at
        _stop(proc, signum)
