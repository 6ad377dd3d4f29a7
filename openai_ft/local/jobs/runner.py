"""Picks up pending work (jobs, batches) under a lease and runs it."""

from __future__ import annotations

import traceback
from collections.abc import Callable

from openai_ft.local.http.app import Service
from openai_ft.local.jobs.worker import Budget, fail_job, run_job, runnable_jobs

HEARTBEAT_EVERY = 1.0


def run_one(
    svc: Service,
    job_id: str,
    budget: Budget | None,
    pace: Callable[[], bool],
    log: Callable[[str], None] | None = None,
) -> None:
    """Advance one job whose lease we hold; a bug fails the job visibly instead of looping on it.

    ``log`` receives the traceback of such a bug (a job process writes it to the job's log).
    """
    try:
        run_job(svc, job_id, budget or Budget(None), pace)
    except Exception as exc:
        # As OpenAI's server_error does: the job ends failed, never retried in a loop.
        if log is not None:
            log(traceback.format_exc())
        fail_job(svc, job_id, "server_error", f"internal error: {type(exc).__name__}: {exc}", None)


def run_pending(
    svc: Service, *, max_steps: int | None, pace: Callable[[], bool], jobs: bool = True
) -> bool:
    """Run every job (unless ``jobs`` is False) and batch we can lease; True if any work was done."""
    from openai_ft.local.api.batches import ACTIVE, run_batch

    budget = Budget(max_steps)
    worked = False
    stale = svc.settings.lease_stale_after
    last_beat = [svc.clock()]
    for job in runnable_jobs(svc) if jobs else ():
        if budget.exhausted:
            break
        if not svc.state.claim(job["id"], svc.owner, svc.clock(), stale):
            continue
        job_id = job["id"]

        def paced(job_id: str = job_id) -> bool:
            now = svc.clock()
            if now - last_beat[0] >= HEARTBEAT_EVERY:
                last_beat[0] = now
                if not svc.state.heartbeat(job_id, svc.owner, now):
                    return False
            return pace()

        try:
            run_one(svc, job_id, budget, paced)
            worked = True
        finally:
            svc.state.release(job_id, svc.owner)
    for batch in svc.state.all("batch"):
        if batch["status"] not in ACTIVE or not svc.state.claim(
            batch["id"], svc.owner, svc.clock(), stale
        ):
            continue
        try:
            run_batch(svc, batch["id"])
            worked = True
        finally:
            svc.state.release(batch["id"], svc.owner)
    return worked
