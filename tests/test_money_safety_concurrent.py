"""Three `openai-ft train` processes of one config started at once create one job and upload
each file once; every process reports that job. Real processes, one shared state folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from openai_ft.local import LocalService
from tests.jobs_helpers import train_files

ROOT = Path(__file__).resolve().parents[1]  # the package under test, wherever it is installed
WAIT = 180.0  # bound on the wait for the processes (a loaded CI machine starts them slowly)
PROCESSES = 3


def test_concurrent_trains_of_one_config_create_one_job(tmp_path: Path, home: Path) -> None:
    train, valid = train_files(tmp_path, valid_seed=1)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OPENAI_FT_HOME": str(home),
        "OPENAI_FT_BACKEND": "local",
        # Every request to the in-process service takes 500 ms: without a guard, the window
        # between "no job yet" and the create spans several requests, and all three fall in it.
        "OPENAI_FT_LOCAL_LATENCY_MS": "500",
        "OPENAI_FT_LOCAL_SPEED": "1000",  # no training step while the processes live
    }
    argv = [sys.executable, "-m", "openai_ft", "train", "--training-file", str(train),
            "--validation-file", str(valid), "--seed", "11", "--yes", "--no-wait", "--json"]  # fmt: skip
    procs = [
        subprocess.Popen(
            argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
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
    results = [json.loads(out) for out, _ in outs]
    assert len({r["job_id"] for r in results}) == 1, results
    assert sorted(r["attached"] for r in results) == [False] + [True] * (PROCESSES - 1)
    svc = LocalService(home, autostart=False, speed=0)
    try:
        assert len(svc.service.state.all("job")) == 1
        names = sorted(f["filename"] for f in svc.service.state.all("file"))
        assert (
            len(names) == 2 and names[0].startswith("train.") and names[1].startswith("validation.")
        )
    finally:
        svc.close()
