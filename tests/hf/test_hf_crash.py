"""A job whose process is killed mid-training (SIGKILL) resumes from its last checkpoint with the
losses of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai

from openai_ft.local import LocalService
from tests.local.conftest import FakeClock, make_client

from .conftest import sft_rows, upload

ROOT = Path(__file__).resolve().parents[2]
HP = {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 10, "lora_rank": 4}
# The job process parks right after it reported step 4 (in epoch 2, after the epoch-1 checkpoint
# at step 3), so the SIGKILL lands there however fast the machine trains (on a quiet machine the
# last steps used to finish between the watcher's poll and the kill).
RUN = """
import sys, time
from pathlib import Path
from openai_ft.local import LocalService
from openai_ft.local.engines.hf import trainer

emit = trainer.Reporter._emit

def parked(self, control, valid, valid_acc):
    step = self.pending[0] if self.pending else None
    emit(self, control, valid, valid_acc)
    if step == 4:
        time.sleep(600)

trainer.Reporter._emit = parked
LocalService(Path(sys.argv[1]), autostart=False, speed=0).run_jobs()
"""


def _losses(client: openai.OpenAI, job_id: str) -> dict[int, float]:
    events = client.fine_tuning.jobs.list_events(job_id, limit=200)
    return {e.data["step"]: e.data["train_loss"] for e in events if e.type == "metrics"}


def _create(client: openai.OpenAI) -> str:
    return client.fine_tuning.jobs.create(
        model="tiny", training_file=upload(client, sft_rows(12)), seed=11, hyperparameters=HP
    ).id


def test_sigkilled_job_resumes_from_its_checkpoint_with_identical_losses(
    registry: Path, tmp_path: Path
) -> None:
    clock = FakeClock(time.time())
    home = tmp_path / "state"
    svc = LocalService(home, autostart=False, clock=clock, speed=0)
    client = make_client(svc)
    whole = _create(client)
    svc.run_jobs()
    expected = _losses(client, whole)
    killed = _create(client)
    svc.close()
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, str(home)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        watcher = LocalService(home, autostart=False, clock=clock, speed=0)
        deadline = time.monotonic() + 240  # bounded wait for a real subprocess
        while time.monotonic() < deadline and proc.poll() is None:
            job = watcher.service.state.get("job", killed)
            if job is not None and job["x_last_step"] >= 4:  # in epoch 2, after checkpoint 3
                break
            time.sleep(0.05)
        watcher.close()
        assert proc.poll() is None, "the job process ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    clock.now = time.time() + 60  # the dead process's lease (real-time heartbeats) is stale
    again = LocalService(home, autostart=False, clock=clock, speed=0)
    try:
        client2 = make_client(again)
        recorded = set(_losses(client2, killed))
        assert max(recorded) == 4  # parked there: killed in epoch 2, after checkpoint 1
        again.run_jobs()
        job = client2.fine_tuning.jobs.retrieve(killed)
        assert job.status == "succeeded", job.error
        got = _losses(client2, killed)
    finally:
        again.close()
    assert sorted(got) == list(range(1, 7))
    assert got == expected  # bit-identical on the CPU
