"""``python -m openai_ft.local.jobs.jobproc --home HOME JOB_ID``: train one job in this process, then exit.

Started detached by a service (:mod:`openai_ft.local.jobs.launch`) when a job becomes runnable; also
runnable by hand, or under ``torchrun``/``accelerate launch`` for several GPUs (rank 0 holds the
lease and records progress; other ranks train alongside through the same engine and record
nothing). The job runs through the service's worker and engine interface, whatever engine it uses.

A watchdog thread heartbeats the lease every second and watches the job: once it is cancelled,
paused, deleted, its lease lost or its state folder removed, training stops at the next step,
and a process that has not
stopped ``GRACE`` seconds later ends itself, so a cancel frees the memory within seconds even
when an engine step is long.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from openai_ft.local.http.app import Service, Settings

HEARTBEAT_EVERY = 1.0
GRACE = 5.0
CLAIM_WAIT = GRACE + 3 * HEARTBEAT_EVERY  # how long a new process waits for an old one to stop
EXIT_CANCELLED = 3  # the process ended itself: the job stopped and training did not return


class Watchdog:
    """Heartbeats a job's lease and ends the process when a stopped job keeps training."""

    def __init__(
        self,
        svc: Service,
        job_id: str,
        *,
        lead: bool = True,
        exit: Callable[[int], None] = os._exit,
    ) -> None:
        self.svc, self.job_id, self.lead, self.exit = svc, job_id, lead, exit
        self.stop = threading.Event()
        self.done = threading.Event()
        self.stopped_at: float | None = None

    def tick(self) -> None:
        """One round: heartbeat, look at the job, end the process if it overstayed a stop."""
        from openai_ft.local.jobs.worker import ACTIVE

        now, state = self.svc.clock(), self.svc.state
        lost = self.lead and not state.heartbeat(self.job_id, self.svc.owner, now)
        job = state.get("job", self.job_id)
        # A deleted state folder (a test's temporary one, say) leaves nothing to train for.
        gone = not state.db_path.exists()
        if lost or gone or job is None or job["status"] not in ACTIVE:
            if self.stopped_at is None:
                self.stopped_at = now
            self.stop.set()
        if (
            self.stopped_at is not None
            and now - self.stopped_at >= GRACE
            and not self.done.is_set()
        ):
            if self.lead:
                state.release(self.job_id, self.svc.owner)
            self.exit(EXIT_CANCELLED)

    def run(self) -> None:
        """Tick every second until the job's run returns."""
        while not self.done.wait(HEARTBEAT_EVERY):
            try:
                self.tick()
            except sqlite3.Error as exc:  # a busy database: try again next second
                _say(f"{self.job_id}: watchdog: {exc}")

    def pace(self) -> bool:
        """Wait out one step at the service's speed; False once the job must stop."""
        speed = self.svc.settings.speed
        if speed > 0:
            return not self.stop.wait(speed)
        return not self.stop.is_set()


def _claim(svc: Service, job_id: str, wait: Callable[[float], None]) -> bool:
    """Take the job's lease; wait up to ``CLAIM_WAIT`` for a holder that is on its way out.

    A job paused and resumed at once is still held by its old process while that one stops.
    """
    from openai_ft.local.jobs.launch import claim
    from openai_ft.local.jobs.worker import ACTIVE

    waited = 0.0
    while True:
        if claim(svc.state, job_id, svc.owner, svc.clock(), svc.settings.lease_stale_after):
            return True
        job = svc.state.get("job", job_id)
        if waited >= CLAIM_WAIT or job is None or job["status"] not in ACTIVE:
            return False
        wait(0.25)
        waited += 0.25


def lead(svc: Service, job_id: str, wait: Callable[[float], None] = time.sleep) -> int:
    """Rank 0: claim the lease, record our pid, train the job to its end (or stop)."""
    from openai_ft.local.jobs.launch import HOST, owner_tag
    from openai_ft.local.jobs.runner import run_one

    svc.owner = owner_tag()
    if not _claim(svc, job_id, wait):
        _say(f"{job_id}: another live process holds this job; nothing to do")
        return 0
    me = {"pid": os.getpid(), "host": HOST, "started_at": svc.now()}
    svc.state.mutate("job", job_id, lambda j: {**j, "x_worker": me})
    _say(f"{job_id}: training in pid {os.getpid()}")
    watchdog = Watchdog(svc, job_id)
    threading.Thread(target=watchdog.run, name="openai-ft-jobproc-watchdog", daemon=True).start()
    try:
        run_one(svc, job_id, None, watchdog.pace, log=_say)
    finally:
        watchdog.done.set()
        svc.state.release(job_id, svc.owner)
    job = svc.state.get("job", job_id)
    _say(f"{job_id}: process ends, job {job['status'] if job else 'deleted'}")
    return 0


def follow(svc: Service, job_id: str, wait: Callable[[float], None] = time.sleep) -> int:
    """Ranks > 0: train beside rank 0 through the same engine, recording nothing."""
    from openai_ft.local.jobs.worker import follow_job

    while (job := svc.state.get("job", job_id)) is not None and job["status"] in (
        "validating_files",
        "queued",
    ):
        wait(0.2)  # rank 0 validates the files and moves the job to running
    watchdog = Watchdog(svc, job_id, lead=False)
    threading.Thread(target=watchdog.run, name="openai-ft-jobproc-watchdog", daemon=True).start()
    try:
        follow_job(svc, job_id, watchdog.pace)
    finally:
        watchdog.done.set()
    return 0


def _say(line: str) -> None:
    """One line to this process's log (stderr is the job's log file)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Run one job of the local service in this process."""
    parser = argparse.ArgumentParser(
        prog="python -m openai_ft.local.jobs.jobproc",
        description="Train one job of the local service in this process, then exit.",
    )
    parser.add_argument("--home", type=Path, required=True, help="state folder (OPENAI_FT_HOME)")
    parser.add_argument("--speed", type=float, default=0.0, help="seconds of wall time per step")
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    root = args.home / "service"
    if not (root / "service.db").is_file():
        parser.error(f"no local service state under {args.home}")
    svc = Service(root, Settings(speed=max(0.0, args.speed)))
    try:
        if svc.state.get("job", args.job_id) is None:
            parser.error(f"no such job {args.job_id} under {args.home}")
        rank = int(os.environ.get("RANK", "0") or 0)
        return lead(svc, args.job_id) if rank == 0 else follow(svc, args.job_id)
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        svc.state.close()


if __name__ == "__main__":
    sys.exit(main())
