"""A chunked upload killed with SIGKILL mid-way, then resumed by a second process.

The first process blocks inside its progress callback once a few parts are on the service, the
test kills it, and a second process runs the same upload: it must send only the missing parts
and end with one file whose bytes are the source's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openai_ft.files import remote_name, sha256_file, upload
from openai_ft.store import Ledger
from tests.jobs_helpers import chat_rows, client_for, service, write_rows

PART = 16 * 1024
THRESHOLD = 32 * 1024
BLOCK_AFTER = 3 * PART  # bytes sent before the first process stops making progress
WAIT = 60.0  # bound on every wait for a subprocess

SCRIPT = r"""
import json, sys, time
from pathlib import Path

import httpx2
import openai

from openai_ft.files import upload
from openai_ft.local import LocalService

source, marker, block_after = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
counts = {}


class Counting(httpx2.BaseTransport):
    def __init__(self, inner):
        self.inner = inner

    def handle_request(self, request):
        path = request.url.path
        kind = "part" if path.endswith("/parts") else path.rsplit("/", 1)[-1]
        key = f"{request.method} {kind}"
        counts[key] = counts.get(key, 0) + 1
        return self.inner.handle_request(request)


svc = LocalService(autostart=False, speed=0)  # state under $OPENAI_FT_HOME
client = openai.OpenAI(
    api_key="local",
    base_url="http://local.openai-ft/v1",
    http_client=httpx2.Client(transport=Counting(svc.transport())),
    max_retries=0,
)


def on_progress(p):
    if block_after and p.sent >= block_after:
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(str(p.sent))
        tmp.replace(marker)
        time.sleep(120)  # the test kills us here


[res] = upload([source], backend="local", client=client, on_progress=on_progress,
               part_size=%(part)d, chunk_threshold=%(threshold)d, workers=2)
print(json.dumps({"file_id": res.file_id, "parts": res.parts,
                  "resumed_parts": res.resumed_parts, "reused": res.reused, "counts": counts}))
"""


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(marker: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT
    while not marker.exists():
        if proc.poll() is not None:
            _out, err = proc.communicate()
            pytest.fail(f"the first upload ended before blocking (rc {proc.returncode}): {err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the first upload never reached the blocking point")
        time.sleep(0.05)  # bounded wait on a real subprocess


@pytest.mark.timeout(180)
def test_a_killed_chunked_upload_resumes_with_only_the_missing_parts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = write_rows(tmp_path / "train.jsonl", chat_rows(1200))
    size = source.stat().st_size
    n_parts = -(-size // PART)
    assert size > THRESHOLD and n_parts >= 8
    script = tmp_path / "upload_script.py"
    script.write_text(SCRIPT % {"part": PART, "threshold": THRESHOLD})
    env = {
        **os.environ,
        "OPENAI_FT_HOME": str(home),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    marker = tmp_path / "blocked"

    first = _run(script, env, str(source), str(marker), str(BLOCK_AFTER))
    _wait_for(marker, first)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=WAIT)
    assert first.returncode == -signal.SIGKILL

    # What survived the kill: an open upload with some parts, the same in ledger and service.
    book = Ledger(home / "runs.db")
    [row] = book.query("SELECT upload_id, part_size FROM uploads")
    upload_id = row["upload_id"]
    recorded = {r["part_id"] for r in book.query("SELECT part_id FROM upload_parts")}
    svc = service(home)
    on_service = {p["id"] for p in svc.service.state.all("part", parent=upload_id)}
    assert row["part_size"] == PART
    assert 1 <= len(recorded) < n_parts and recorded == on_service
    assert svc.service.state.all("file") == []
    svc.close()

    second = _run(script, env, str(source), str(marker) + ".unused", "0")
    out, err = second.communicate(timeout=WAIT)
    assert second.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    sent = result["counts"]
    assert (result["parts"], result["resumed_parts"]) == (n_parts, len(recorded))
    assert sent.get("POST part") == n_parts - len(recorded)  # only the missing parts
    assert sent.get("POST uploads", 0) == 0 and sent.get("POST complete") == 1
    assert not result["reused"]

    svc = service(home)
    client = client_for(svc, home)
    sha = sha256_file(source)
    assert client.files.content(result["file_id"]).read() == source.read_bytes()
    files = [f for f in client.files.list() if f.filename == remote_name(source, sha)]
    assert [f.id for f in files] == [result["file_id"]]
    uploads = svc.service.state.all("upload")
    assert [(u["id"], u["status"]) for u in uploads] == [(upload_id, "completed")]
    assert book.query("SELECT * FROM uploads") == []
    assert book.query("SELECT * FROM upload_parts") == []
    # A third run (in this process) reuses the recorded file: nothing is sent.
    [again] = upload(
        [source], client=client, ledger=book, part_size=PART, chunk_threshold=THRESHOLD
    )
    assert again.reused and again.file_id == result["file_id"]
    assert len(svc.service.state.all("file")) == 1
    svc.close()
