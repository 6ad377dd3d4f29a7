"""The pieces behind job processes, each on its own: the watchdog (fake clock), lease takeover,
the launch command and its failure, ranks > 0, the step guard, hung processes, the env switch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openai_ft import client as client_mod
from openai_ft.local import LocalService
from openai_ft.local.jobs.jobproc import CLAIM_WAIT, EXIT_CANCELLED, GRACE, Watchdog, lead, main
from openai_ft.local.jobs.launch import (
    ENTRY,
    HOST,
    RETRY_AFTER,
    claim,
    command,
    detach_from_env,
    lease_of,
    owner_tag,
    pid_alive,
)
from openai_ft.local.jobs.runner import run_one

from .conftest import FakeClock, make_client
from .test_background import create_job, steps_of
from .test_job_internal_error import BROKEN_SEED, BrokenEngine


def _running_job(svc: LocalService, steps: int = 3) -> str:
    """A job trained ``steps`` steps in this process and left running (its lease released)."""
    job_id = create_job(svc)
    svc.run_jobs(max_steps=steps)
    job = svc.service.state.get("job", job_id)
    assert job is not None and job["status"] == "running" and job["x_last_step"] == steps
    return job_id


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_watchdog_heartbeats_then_ends_a_process_that_trains_on_after_a_cancel(
    svc: LocalService, clock: FakeClock
) -> None:
    job_id = _running_job(svc)
    state = svc.service.state
    assert claim(state, job_id, svc.service.owner, clock(), 10)
    exits: list[int] = []
    dog = Watchdog(svc.service, job_id, exit=exits.append)
    clock.advance(1)
    dog.tick()
    assert lease_of(state, job_id) == (svc.service.owner, clock())  # heartbeat
    assert not dog.stop.is_set() and dog.pace()

    make_client(svc).fine_tuning.jobs.cancel(job_id)
    dog.tick()
    assert dog.stop.is_set() and not dog.pace() and exits == []  # training stops at its next step
    clock.advance(GRACE - 0.5)
    dog.tick()
    assert exits == []
    clock.advance(0.5)
    dog.tick()  # training did not return within the grace: the process ends itself
    assert exits == [EXIT_CANCELLED] and lease_of(state, job_id) is None


def test_watchdog_stops_training_when_the_lease_is_taken(
    svc: LocalService, clock: FakeClock
) -> None:
    job_id = _running_job(svc)
    assert claim(svc.service.state, job_id, "someone-else", clock(), 10)
    dog = Watchdog(svc.service, job_id, exit=lambda code: None)
    dog.tick()
    assert dog.stop.is_set()


def test_watchdog_stops_training_when_the_state_folder_is_removed(
    svc: LocalService, clock: FakeClock
) -> None:
    job_id = _running_job(svc)
    assert claim(svc.service.state, job_id, svc.service.owner, clock(), 10)
    dog = Watchdog(svc.service, job_id, exit=lambda code: None)
    dog.tick()
    assert not dog.stop.is_set()
    svc.service.state.db_path.unlink()  # the open connections keep working, as for a real rm -r
    dog.tick()
    assert dog.stop.is_set()


def test_lease_of_a_dead_job_process_is_taken_over_at_once(
    svc: LocalService, clock: FakeClock
) -> None:
    state = svc.service.state
    dead = f"jobproc:{HOST}:{_dead_pid()}:abc"
    assert state.claim("ftjob-a", dead, clock(), 10)
    assert claim(state, "ftjob-a", "successor", clock(), 10)  # fresh heartbeat, dead pid
    alive = f"jobproc:{HOST}:{os.getpid()}:abc"
    assert state.claim("ftjob-b", alive, clock(), 10)
    assert not claim(state, "ftjob-b", "successor", clock(), 10)
    elsewhere = f"jobproc:another-host:{_dead_pid()}:abc"  # a pid on another host says nothing
    assert state.claim("ftjob-c", elsewhere, clock(), 10)
    assert not claim(state, "ftjob-c", "successor", clock(), 10)
    assert owner_tag().startswith(f"jobproc:{HOST}:{os.getpid()}:")


def test_launch_command_and_a_launcher_that_cannot_start(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert command(home, "ftjob-x", 0.5) == [
        sys.executable, "-m", ENTRY, "--home", str(home), "--speed", "0.5", "ftjob-x",
    ]  # fmt: skip
    monkeypatch.setenv("OPENAI_FT_LOCAL_LAUNCH", "torchrun --nproc-per-node 2")
    assert command(home, "ftjob-x", 0)[:4] == ["torchrun", "--nproc-per-node", "2", "-m"]

    monkeypatch.setenv("OPENAI_FT_LOCAL_LAUNCH", str(home / "no-such-launcher"))
    with LocalService(home, autostart=False, detach=True, speed=0) as svc:
        job_id = create_job(svc)
        job = make_client(svc).fine_tuning.jobs.retrieve(job_id)
    assert job.status == "failed" and job.error is not None
    assert (
        job.error.code == "server_error" and "could not start the job process" in job.error.message
    )


def test_rank_above_zero_trains_beside_rank_zero_and_records_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalService(home, autostart=False, speed=0) as svc:
        job_id = _running_job(svc)
        events = len(svc.service.state.all("event", parent=job_id))
    monkeypatch.setenv("RANK", "1")
    assert main(["--home", str(home), job_id]) == 0  # trains the 33 steps left, at speed 0
    with LocalService(home, autostart=False) as svc:
        job = svc.service.state.get("job", job_id)
        assert job is not None and job["status"] == "running" and job["x_last_step"] == 3
        assert len(svc.service.state.all("event", parent=job_id)) == events
        assert svc.service.state.all("checkpoint", parent=job_id) == []


def test_jobproc_refuses_bad_arguments(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--home", str(home), "ftjob-none"])
    assert exc.value.code == 2 and "no local service state" in capsys.readouterr().err
    with LocalService(home, autostart=False, speed=0):
        pass
    with pytest.raises(SystemExit) as exc:
        main(["--home", str(home), "ftjob-none"])
    assert exc.value.code == 2 and "no such job ftjob-none" in capsys.readouterr().err


def test_a_job_held_by_a_live_process_is_left_alone_after_a_bounded_wait(
    svc: LocalService, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id = _running_job(svc)
    holder = f"jobproc:{HOST}:{os.getpid()}:x"
    assert svc.service.state.claim(job_id, holder, svc.service.clock(), 10)
    waits: list[float] = []
    assert lead(svc.service, job_id, wait=waits.append) == 0
    assert sum(waits) == CLAIM_WAIT  # then it gives up
    assert "another live process holds this job" in capsys.readouterr().err
    assert steps_of(svc, job_id) == [1, 2, 3]
    assert lease_of(svc.service.state, job_id) == (holder, svc.service.clock())


def test_a_resumed_job_waits_for_its_old_process_to_let_go(svc: LocalService) -> None:
    job_id = _running_job(svc)
    holder = f"jobproc:{HOST}:{os.getpid()}:old"  # the paused process, still stopping
    assert svc.service.state.claim(job_id, holder, svc.service.clock(), 10)
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            svc.service.state.release(job_id, holder)  # the old process exits

    assert lead(svc.service, job_id, wait=wait) == 0
    job = svc.service.state.get("job", job_id)
    assert job is not None and job["status"] == "succeeded" and len(waits) == 3
    assert steps_of(svc, job_id) == list(range(1, 37))


def test_a_step_another_process_recorded_is_not_recorded_again(svc: LocalService) -> None:
    job_id = _running_job(svc, steps=2)
    state = svc.service.state
    seen: list[int] = []

    def pace() -> bool:
        job = state.get("job", job_id)
        assert job is not None
        seen.append(job["x_last_step"])
        if job["x_last_step"] == 4:  # another process took the job over and got to step 6
            state.mutate("job", job_id, lambda j: {**j, "x_last_step": 6})
        return True

    run_one(svc.service, job_id, None, pace)
    job = state.get("job", job_id)
    assert job is not None and job["x_last_step"] == 6 and job["status"] == "running"
    assert seen == [3, 4] and steps_of(svc, job_id) == [1, 2, 3, 4]  # we stopped at step 5


def test_hung_job_process_is_killed_but_a_reused_pid_is_not(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeper = "import time; time.sleep(120)"
    hung = subprocess.Popen([sys.executable, "-c", sleeper, "-m", ENTRY, "ftjob-hung"])
    other = subprocess.Popen([sys.executable, "-c", sleeper, "ftjob-other"])
    try:
        with LocalService(home, autostart=False, detach=True, speed=0) as svc:
            state, long_ago = svc.service.state, time.time() - 60
            assert state.claim("ftjob-hung", f"jobproc:{HOST}:{hung.pid}:x", long_ago, 10)
            assert state.claim("ftjob-other", f"jobproc:{HOST}:{other.pid}:x", long_ago, 10)
            assert svc.start_job_processes() == []  # neither job exists: nothing to start
        assert hung.wait(timeout=30) == -signal.SIGKILL
        assert other.poll() is None and pid_alive(other.pid)  # not a job process: left alone
    finally:
        for proc in (hung, other):
            proc.kill()
            proc.wait()


def test_detach_is_on_for_the_cli_unless_turned_off(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_mod, "_services", {})
    monkeypatch.delenv("OPENAI_FT_LOCAL_DETACH", raising=False)
    assert detach_from_env()
    svc = client_mod.local_service(home, autostart=False)
    assert svc.launcher is not None
    svc.close()
    monkeypatch.setattr(client_mod, "_services", {})
    monkeypatch.setenv("OPENAI_FT_LOCAL_DETACH", "0")
    svc = client_mod.local_service(home, autostart=False)
    assert svc.launcher is None and not detach_from_env()
    svc.close()


def test_a_model_stays_loaded_across_requests(svc: LocalService) -> None:
    job_id = create_job(svc)
    svc.run_jobs()
    client = make_client(svc)
    model = client.fine_tuning.jobs.retrieve(job_id).fine_tuned_model
    assert model is not None
    state = svc.service.state
    blob = state.get("model", model)["x_blob"]  # type: ignore[index]
    reads: list[str] = []
    real_read = state.read_blob

    def counting_read(ident: str) -> bytes:
        reads.append(ident)
        return real_read(ident)

    state.read_blob = counting_read  # type: ignore[method-assign]
    for text in ("review 1: great lovely product", "review 2: awful broken product"):
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": text}]
        )
        assert reply.choices[0].message.content in ("positive", "negative", "neutral")
    assert reads.count(blob) == 1  # loaded by the first request, then kept


def test_job_process_run_claims_records_its_pid_and_a_crash_fails_the_job_visibly(
    home: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalService(home, autostart=False, speed=0, clock=clock, engine=BrokenEngine()) as svc:
        job_id = create_job(svc, seed=BROKEN_SEED)
        assert lead(svc.service, job_id) == 0  # what python -m openai_ft.local.jobs.jobproc runs
        job = svc.service.state.get("job", job_id)
        assert job is not None and job["x_worker"]["pid"] == os.getpid()
        assert job["status"] == "failed" and job["error"]["code"] == "server_error"
        assert lease_of(svc.service.state, job_id) is None
        assert steps_of(svc, job_id) == [1, 2]
    log = capsys.readouterr().err  # stderr is the job's log file in a job process
    assert f"{job_id}: training in pid {os.getpid()}" in log
    assert "Traceback" in log and "out of gradients" in log and "job failed" in log


def test_a_job_process_that_died_before_claiming_is_retried_after_a_pause(
    home: Path, clock: FakeClock
) -> None:
    with LocalService(home, autostart=False, speed=0, clock=clock, detach=True) as svc:
        assert svc.launcher is not None
        state = svc.service.state
        with LocalService(home, autostart=False, speed=0) as plain:
            job_id = create_job(plain)  # created without a job process

        def worker(**fields: object) -> dict[str, object]:
            state.mutate("job", job_id, lambda j: {**j, "x_worker": {"host": HOST, **fields}})
            job = state.get("job", job_id)
            assert job is not None
            return job

        assert svc.launcher.needs_process(worker())  # never started: start one
        launched, dead = svc.service.now(), _dead_pid()
        assert not svc.launcher.needs_process(worker(pid=dead, launched_at=launched))
        clock.advance(RETRY_AFTER)  # died while starting: tried again after a pause
        assert svc.launcher.needs_process(worker(pid=dead, launched_at=launched))
        assert svc.launcher.needs_process(worker(pid=dead, started_at=launched))  # ran: at once
