"""Three `openai-ft train` processes of one config started at once create one job and upload
each file once; every process reports that job. Three `openai-ft upload` processes of the same
files upload each once. Real processes, one shared state folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from openai_ft.local import LocalService
from tests.jobs_helpers import train_files

ROOT = Path(__file__).resolve().parents[1]  # the package under test, wherever it is installed
WAIT = 180.0  # bound on the wait for the processes (a loaded CI machine starts them slowly)
PROCESSES = 3


def _run_at_once(args: list[str], home: Path, cwd: Path) -> list[Any]:
    """Start PROCESSES copies of ``openai-ft ARGS --json`` together; their JSON results."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OPENAI_FT_HOME": str(home),
        "OPENAI_FT_BACKEND": "local",
        # Every request to the in-process service takes 500 ms: without a guard, the window
        # between "not there yet" and the create spans several requests, and all three fall in it.
        "OPENAI_FT_LOCAL_LATENCY_MS": "500",
        "OPENAI_FT_LOCAL_SPEED": "1000",  # no training step while the processes live
    }
    argv = [sys.executable, "-m", "openai_ft", *args, "--json"]
    procs = [
        subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(PROCESSES)
    ]
    try:
        outs = [p.communicate(timeout=WAIT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()  # only after the bounded wait ran out
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    return [json.loads(out) for out, _ in outs]


def _service_objects(home: Path, kind: str) -> list[dict[str, Any]]:
    svc = LocalService(home, autostart=False, speed=0)
    try:
        return svc.service.state.all(kind)  # type: ignore[no-any-return]
    finally:
        svc.close()


def test_concurrent_trains_of_one_config_create_one_job(tmp_path: Path, home: Path) -> None:
    train, valid = train_files(tmp_path, valid_seed=1)
    args = ["train", "--training-file", str(train), "--validation-file", str(valid),
            "--seed", "11", "--yes", "--no-wait"]  # fmt: skip
    results = _run_at_once(args, home, tmp_path)
    assert len({r["job_id"] for r in results}) == 1, results
    assert sorted(r["attached"] for r in results) == [False] + [True] * (PROCESSES - 1)
    assert len(_service_objects(home, "job")) == 1
    names = sorted(f["filename"] for f in _service_objects(home, "file"))
    assert len(names) == 2 and names[0].startswith("train.") and names[1].startswith("validation.")


def test_concurrent_uploads_of_one_file_upload_it_once(tmp_path: Path, home: Path) -> None:
    train, valid = train_files(tmp_path, valid_seed=2)
    results = _run_at_once(["upload", str(train), str(valid)], home, tmp_path)
    ids = {tuple(r["file_id"] for r in result) for result in results}
    assert len(ids) == 1, results  # every process names the same two files
    assert len(_service_objects(home, "file")) == 2
    assert sum(not r["reused"] for result in results for r in result) == 2
