"""``openai-ft serve`` as a real process: loopback bind, access log, API key, faults, many clients,
Ctrl-C, and state that survives a restart; and its one-line errors for bad flags and scripts."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import openai
import pytest

from openai_ft.cli import main
from tests.serve_process import start_serve as _start
from tests.serve_process import stop_serve as _stop

LOG_LINE = re.compile(r"^(GET|POST|DELETE) (/v1/\S+) (\d{3}) (\d+\.\d)$")
KEY = "sk-serve-test-0123456789"


def test_serve_process_log_key_faults_clients_and_restart(tmp_path: Path) -> None:
    home = tmp_path / "state"
    script = tmp_path / "faults.json"
    script.write_text(json.dumps([{"kind": "503", "path": "/v1/models$", "nth": 2}]))
    proc, url = _start(home, "--api-key", KEY, "--faults", str(script))
    try:
        assert url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
        raw = httpx2.get(url + "/models")  # no key
        assert raw.status_code == 401
        assert raw.json() == {
            "error": {
                "message": raw.json()["error"]["message"],
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        assert KEY not in raw.text
        assert raw.headers["x-request-id"].startswith("req_")
        client = openai.OpenAI(api_key=KEY, base_url=url, max_retries=0)
        client.models.list()
        with pytest.raises(openai.InternalServerError) as exc:
            client.models.list()  # the scripted fault: the 2nd GET /v1/models
        assert exc.value.status_code == 503
        client.models.list()

        def one_client(i: int) -> str:
            own = openai.OpenAI(api_key=KEY, base_url=url, max_retries=0)
            data = f"client {i}\n".encode() * (i + 1)
            f = own.files.create(file=(f"c{i}.jsonl", data), purpose="batch")
            assert own.files.content(f.id).content == data
            reply = own.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"hello {i}"}]
            )
            assert reply.choices[0].message.content
            return f.id

        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(one_client, range(16)))
        listed = [f.id for f in client.files.list(purpose="batch", limit=5)]
        assert sorted(listed) == sorted(ids) and len(set(ids)) == 16
    finally:
        lines = _stop(proc)
    parsed = [LOG_LINE.match(line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed, strict=True) if not m]
    got = [(m[1], m[2], m[3]) for m in parsed if m]
    assert got[:4] == [
        ("GET", "/v1/models", "401"),
        ("GET", "/v1/models", "200"),
        ("GET", "/v1/models", "503"),
        ("GET", "/v1/models", "200"),
    ]
    # 16 clients x (upload, content, chat) + 4 list pages, one line each
    assert len(got) == 4 + 16 * 3 + 4
    assert sum(1 for g in got if g[:2] == ("POST", "/v1/files")) == 16
    assert all(KEY not in line for line in lines)

    proc, url = _start(home)  # a restart loses nothing
    try:
        again = openai.OpenAI(api_key="any", base_url=url, max_retries=0)
        assert sorted(f.id for f in again.files.list(purpose="batch")) == sorted(ids)
        assert again.files.content(ids[3]).content == b"client 3\n" * 4
    finally:
        _stop(proc)


@pytest.mark.parametrize(
    ("args", "content", "expected"),
    [
        (["--port", "70000"], None, "Invalid value for '--port'"),
        (["--rpm", "0"], None, "Invalid value for '--rpm'"),
        (["--tpm", "-5"], None, "Invalid value for '--tpm'"),
        (["--latency-ms", "-1"], None, "Invalid value for '--latency-ms'"),
        (["--speed", "-0.5"], None, "Invalid value for '--speed'"),
        (["--fail-rate", "2"], None, "Invalid value for '--fail-rate'"),
        (["--faults", "{f}"], '[{"kind": "503",', "f.json:1: not valid JSON"),
        (["--faults", "{f}"], '[{"kind": "504"}]', "fault 1: 'kind' is '504'"),
        (["--faults", "{f}"], '[{"kind": "500", "every": 0}]', "'every' must be a positive"),
        (["--faults", "{f}"], '[{"kind": "500", "path": "("}]', "not a valid regular expression"),
        (["--faults", "{f}"], '[{"kind": "500", "pth": "x"}]', "unknown key(s) pth"),
        (["--faults", "{f}"], "[]", "expected a non-empty list"),
        (["--faults", "{missing}"], None, "no such fault script"),
    ],
)
def test_serve_bad_flags_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    content: str | None,
    expected: str,
) -> None:
    script = tmp_path / "f.json"
    if content is not None:
        script.write_text(content)
    argv = [a.format(f=script, missing=tmp_path / "none.json") for a in args]
    assert main(["serve", "--home", str(tmp_path / "h"), "--port", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR ") and expected in err.splitlines()[0]
    assert "Traceback" not in err and len(err.splitlines()) <= 2


def test_serve_state_folder_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["serve", "--home", str(blocker), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR cannot open the service state") and "Traceback" not in err


def test_toml_fault_script(tmp_path: Path) -> None:
    from openai_ft.local.fault_file import load_fault_rules
    from openai_ft.local.faults import FaultRule

    path = tmp_path / "f.toml"
    path.write_text(
        '[[faults]]\nkind = "drop"\npath = "/events$"\ntimes = 2\n'
        '[[faults]]\nkind = "slow"\nmethod = "get"\ndelay_ms = 150\n'
    )
    assert load_fault_rules(path) == [
        FaultRule("drop", "/events$", times=2),
        FaultRule("slow", "", method="GET", delay_ms=150.0),
    ]
