"""A job whose process died is finished by the next service on the same state folder.

The real thing: a subprocess trains a job at a slow speed and is killed with SIGKILL mid-run;
a new LocalService on the same home takes over the stale lease and finishes the job, with every
metrics step recorded exactly once and the same losses as an uninterrupted run.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from openai_ft.local import LocalService

from .conftest import FakeClock, chat_rows, jsonl, make_client

HP = {"n_epochs": 3, "batch_size": 1}  # 12 examples -> 36 steps, a checkpoint every 12

CHILD = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from openai_ft.local import LocalService

    home, speed, job_id = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    svc = LocalService(home, speed=speed)  # the background worker trains the job
    tick = threading.Event()
    while svc.service.state.get("job", job_id)["x_last_step"] < 5:
        tick.wait(0.01)
    print("mid-run", flush=True)
    tick.wait(600)  # keep training until the parent kills us
    """
)


def _create_job(svc: LocalService) -> str:
    client = make_client(svc)
    train = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=train.id,
        seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": HP}},  # type: ignore[typeddict-item]
    )
    return job.id


def _metrics(client: openai.OpenAI, job_id: str) -> list[dict[str, Any]]:
    events = client.fine_tuning.jobs.list_events(job_id, limit=1000)
    return sorted(
        (e.data for e in events if e.type == "metrics"),  # type: ignore[misc]
        key=lambda d: d["step"],
    )


def test_sigkilled_job_resumes_in_a_new_service(tmp_path: Path) -> None:
    home = tmp_path / "state"
    with LocalService(home, autostart=False) as setup:
        job_id = _create_job(setup)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(home), "0.05", job_id],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "mid-run"  # blocks until step 5 is persisted
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # The dead process still holds a fresh lease: a service on the real clock leaves the job alone.
    with LocalService(home, autostart=False, speed=0) as polite:
        before = polite.service.state.get("job", job_id)
        assert before is not None and before["status"] == "running"
        assert 5 <= before["x_last_step"] < before["x_total_steps"] == 36
        polite.run_jobs()
        after = polite.service.state.get("job", job_id)
        assert after is not None and after["x_last_step"] == before["x_last_step"]

    # Once the lease is stale (the clock is past the dead heartbeat), a new service finishes it.
    later = FakeClock(time.time() + 3600)
    with LocalService(home, autostart=False, speed=0, clock=later) as second:
        second.run_jobs()
        client = make_client(second)
        done = client.fine_tuning.jobs.retrieve(job_id)
        assert done.status == "succeeded" and done.fine_tuned_model
        resumed = _metrics(client, job_id)
        ckpts = client.fine_tuning.jobs.checkpoints.list(job_id)
        assert sorted(c.step_number for c in ckpts) == [12, 24, 36]
        csv_rows = client.files.content(done.result_files[0]).text.splitlines()[1:]
        assert [int(r.split(",")[0]) for r in csv_rows] == list(range(1, 37))
    assert [d["step"] for d in resumed] == list(range(1, 37))  # none missing, none twice

    with LocalService(tmp_path / "ref", autostart=False, speed=0) as ref:
        ref_id = _create_job(ref)
        ref.run_jobs()
        expected = _metrics(make_client(ref), ref_id)
    assert [d["train_loss"] for d in resumed] == pytest.approx([d["train_loss"] for d in expected])


class _Died(BaseException):
    """The process dies here (not an Exception: nothing may catch and handle it)."""


def test_death_between_event_and_progress_write_records_no_step_twice(
    home: Path, clock: FakeClock
) -> None:
    first = LocalService(home, autostart=False, clock=clock, speed=0)
    job_id = _create_job(first)
    state = first.service.state
    real_mutate = state.mutate

    def dying_mutate(kind: str, ident: str, fn: Any) -> Any:
        job = state.get(kind, ident)
        new = fn(dict(job)) if kind == "job" and job is not None else None
        if new is not None and new.get("x_last_step") == 3 and job["x_last_step"] == 2:  # type: ignore[index]
            raise _Died  # after the step-3 metrics event was written
        return real_mutate(kind, ident, fn)

    state.mutate = dying_mutate  # type: ignore[method-assign]
    with pytest.raises(_Died):
        first.run_jobs()
    state.mutate = real_mutate  # type: ignore[method-assign]
    first.close()

    second = LocalService(home, autostart=False, clock=clock, speed=0)
    second.run_jobs()
    client = make_client(second)
    assert client.fine_tuning.jobs.retrieve(job_id).status == "succeeded"
    assert [d["step"] for d in _metrics(client, job_id)] == list(range(1, 37))
    second.close()
