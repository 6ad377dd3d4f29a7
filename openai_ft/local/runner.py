"""Picks up pending work (jobs, batches) under a lease and runs it."""

from __future__ import annotations

from collections.abc import Callable

from openai_ft.local.app import Service
from openai_ft.local.worker import Budget, fail_job, run_job, runnable_jobs

HEARTBEAT_EVERY = 1.0


def run_pending(svc: Service, *, max_steps: int | None, pace: Callable[[], bool]) -> bool:
    """Run every job and batch we can lease; True if any work was done."""
    from openai_ft.local.api_batches import ACTIVE, run_batch

    budget = Budget(max_steps)
    worked = False
    stale = svc.settings.lease_stale_after
    last_beat = [svc.clock()]
    for job in runnable_jobs(svc):
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
            run_job(svc, job_id, budget, paced)
            worked = True
        except Exception as exc:
            # A bug must end the job visibly (as OpenAI's server_error does), never loop on it.
            fail_job(
                svc, job_id, "server_error", f"internal error: {type(exc).__name__}: {exc}", None
            )
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
