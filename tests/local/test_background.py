"""Jobs train in job processes of their own, with no openai-ft command attached.

Real processes throughout: ``train --no-wait`` as a CLI subprocess, job processes started by the
service, SIGKILL mid-training, cancel, ``serve``. The waits are bounded polls on those processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import openai
import pytest

from openai_ft.local import LocalService
from openai_ft.local.jobs.launch import lease_of, pid_alive

from .conftest import chat_rows, jsonl, make_client

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def until(check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll a real subprocess's effect until ``check`` returns a value (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def job_of(svc: LocalService, job_id: str) -> dict[str, Any]:
    job = svc.service.state.get("job", job_id)
    assert job is not None
    return job


def steps_of(svc: LocalService, job_id: str) -> list[int]:
    events = svc.service.state.all("event", parent=job_id)
    return sorted(e["data"]["step"] for e in events if e["type"] == "metrics")


def create_job(svc: LocalService, n_epochs: int = 3, seed: int = 7) -> str:
    client = make_client(svc)
    train = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
    hp = {"n_epochs": n_epochs, "batch_size": 1}  # 12 examples: 12 steps an epoch
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=train.id,
        seed=seed,
        method={"type": "supervised", "supervised": {"hyperparameters": hp}},  # type: ignore[typeddict-item]
    )
    return job.id


def worker_pid(svc: LocalService, job_id: str, other_than: int | None = None) -> int:
    """The pid of the job's process once it has claimed the job (and is not ``other_than``)."""

    def started() -> int | None:
        worker = job_of(svc, job_id).get("x_worker") or {}
        pid = worker.get("pid") if worker.get("started_at") else None
        return pid if pid != other_than else None

    return until(started)


def gone(svc: LocalService, pid: int) -> bool:
    if svc.launcher is not None:
        svc.launcher.reap()  # our own child: reap it, or it lingers as a zombie
    return not pid_alive(pid)


@pytest.fixture
def detached(home: Path) -> Iterator[LocalService]:
    """A service whose jobs run in job processes (no worker thread in this process)."""
    svc = LocalService(home, autostart=False, detach=True, speed=0.05)
    yield svc
    for job in svc.service.state.all("job"):  # no job process outlives its test
        pid = (job.get("x_worker") or {}).get("pid")
        if pid and job["status"] not in ("succeeded", "failed", "cancelled"):
            make_client(svc).fine_tuning.jobs.cancel(job["id"])
            until(lambda pid=pid: gone(svc, pid), timeout=30)
    svc.close()


def test_train_no_wait_then_the_job_finishes_with_no_command_attached(tmp_path: Path) -> None:
    home = tmp_path / "state"
    data = tmp_path / "train.jsonl"
    data.write_bytes(jsonl(chat_rows(12)))
    env = {**os.environ, "OPENAI_FT_HOME": str(home), "OPENAI_FT_LOCAL_SPEED": "0.03"}
    env["OPENAI_FT_LOCAL_DETACH"] = "1"  # the CLI's default (the test suite turns it off)
    env.pop("OPENAI_FT_BACKEND", None)
    args = ["--training-file", str(data), "--model", "gpt-4o-mini-2024-07-18", "--n-epochs", "2"]
    args += ["--batch-size", "1", "--yes", "--no-wait"]
    cli = [sys.executable, "-m", "openai_ft"]
    train = subprocess.run([*cli, "train", *args], env=env, capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)  # fmt: skip
    assert train.returncode == 0, train.stderr
    job_id = train.stdout.strip()
    with LocalService(home, autostart=False) as reader:  # reads the state; trains nothing
        at_exit = job_of(reader, job_id)
        assert at_exit["status"] in ("validating_files", "queued", "running")
        assert at_exit["x_last_step"] < 24  # 12 examples x 2 epochs, batch 1
        pid = worker_pid(reader, job_id)
        until(lambda: job_of(reader, job_id)["status"] == "succeeded")
        assert steps_of(reader, job_id) == list(range(1, 25))  # each step once
        until(lambda: not pid_alive(pid), timeout=30)  # the job process ended with its job
        assert lease_of(reader.service.state, job_id) is None
    status = subprocess.run([*cli, "status", job_id, "--json"], env=env, capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)  # fmt: skip
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["status"] == "succeeded" and shown["fine_tuned_model"].startswith("ft:")
    log = (home / "service" / "jobs" / f"{job_id}.log").read_text()
    assert f"training in pid {pid}" in log and "job succeeded" in log


def _metrics(client: openai.OpenAI, job_id: str) -> list[dict[str, Any]]:
    events = client.fine_tuning.jobs.list_events(job_id, limit=1000)
    return sorted((e.data for e in events if e.type == "metrics"), key=lambda d: d["step"])  # type: ignore[misc]


def test_sigkilled_job_process_is_replaced_at_once_and_records_each_step_once(
    detached: LocalService, tmp_path: Path
) -> None:
    job_id = create_job(detached)
    first = worker_pid(detached, job_id)
    until(lambda: job_of(detached, job_id)["x_last_step"] >= 5)
    assert detached.start_job_processes() == []  # a live job process is not doubled
    with LocalService(detached.root.parent, autostart=False, speed=0) as polite:
        polite.run_jobs()  # would finish the job at once if it took the live process's lease
        assert job_of(polite, job_id)["status"] == "running"

    os.kill(first, signal.SIGKILL)
    until(lambda: gone(detached, first))
    # The dead process's lease is fresh, but its pid is gone: a new process takes over at once.
    assert detached.start_job_processes() == [job_id]
    worker_pid(detached, job_id, other_than=first)
    until(lambda: job_of(detached, job_id)["status"] == "succeeded")
    client = make_client(detached)
    resumed = _metrics(client, job_id)
    assert [d["step"] for d in resumed] == list(range(1, 37))  # none missing, none twice
    assert sorted(c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job_id)) == [
        12,
        24,
        36,
    ]
    with LocalService(tmp_path / "ref", autostart=False, speed=0) as ref:
        ref_id = create_job(ref)
        ref.run_jobs()
        expected = _metrics(make_client(ref), ref_id)
    assert [d["train_loss"] for d in resumed] == pytest.approx([d["train_loss"] for d in expected])


def test_cancel_stops_the_job_process_within_seconds(detached: LocalService) -> None:
    job_id = create_job(detached, n_epochs=20)  # 240 steps: 12 s at this speed
    pid = worker_pid(detached, job_id)
    until(lambda: job_of(detached, job_id)["x_last_step"] >= 3)
    make_client(detached).fine_tuning.jobs.cancel(job_id)
    asked = time.monotonic()
    until(lambda: gone(detached, pid), timeout=30)
    took = time.monotonic() - asked
    assert took < 3.0, f"the job process ran {took:.1f} s after the cancel"
    job = job_of(detached, job_id)
    assert job["status"] == "cancelled" and job["x_last_step"] < 240
    assert steps_of(detached, job_id) == list(range(1, job["x_last_step"] + 1))
    assert lease_of(detached.service.state, job_id) is None  # released on the way out
    assert detached.start_job_processes() == []  # a cancelled job is not restarted


def test_pause_then_resume_at_once_hands_the_job_to_a_new_process(
    detached: LocalService,
) -> None:
    job_id = create_job(detached, n_epochs=4)
    pid = worker_pid(detached, job_id)
    until(lambda: job_of(detached, job_id)["x_last_step"] >= 2)
    client = make_client(detached)
    client.fine_tuning.jobs.pause(job_id)
    client.fine_tuning.jobs.resume(job_id)  # the old process may not have stopped yet
    worker_pid(detached, job_id, other_than=pid)  # the new one waited for it, then took over
    until(lambda: gone(detached, pid), timeout=30)  # and the old one ended
    until(lambda: job_of(detached, job_id)["status"] == "succeeded")
    assert steps_of(detached, job_id) == list(range(1, 49))  # each step once


def test_serve_starts_a_job_process_per_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.serve_process import start_serve as _start
    from tests.serve_process import stop_serve as _stop

    monkeypatch.setenv("OPENAI_FT_LOCAL_DETACH", "1")  # serve's default
    home = tmp_path / "state"
    proc, url = _start(home, "--speed", "0.02")
    try:
        client = openai.OpenAI(api_key="local", base_url=url, max_retries=0)
        train = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
        done = until(
            lambda: (j := client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded" and j
        )
        reply = client.chat.completions.create(
            model=done.fine_tuned_model or "", messages=[{"role": "user", "content": "review 3"}]
        )
        assert reply.choices[0].message.content in ("positive", "negative", "neutral")
    finally:
        _stop(proc)
    with LocalService(home, autostart=False) as reader:
        assert job_of(reader, job.id)["x_worker"]["pid"] != proc.pid  # trained elsewhere
    log = (home / "service" / "jobs" / f"{job.id}.log").read_text()
    assert "training in pid" in log and "job succeeded" in log
