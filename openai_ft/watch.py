"""``watch``: follow a job until it ends, emitting typed events; survive the network on the way.

Events come from the service newest first; :class:`EventTracker` walks their pages back to the
last event it has seen, so each event is emitted once, in order, with no gaps. A dropped
connection or a 5xx while polling is retried with backoff (tenacity, around our polling and
with the caller's ``sleep``); the SDK's own retries stay as they are underneath.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openai_ft import _callable_module
from openai_ft.client import map_error
from openai_ft.errors import RateLimited, ServiceUnavailable, UsageError
from openai_ft.watch_types import (
    TERMINAL,
    EarlyStopped,
    JobError,
    JobEvent,
    Retrying,
    Snapshot,
    WatchEvent,
    WatchResult,
)

if TYPE_CHECKING:
    import openai

    from openai_ft.store import Ledger

POLL_INTERVAL = 5.0
PAGE_SIZE = 50
MAX_ATTEMPTS = 12  # with backoff capped at 60 s: survives an outage of about seven minutes

__all__ = ["EarlyStopper", "EventTracker", "watch"]


class EventTracker:
    """New events of one job since the last call, oldest first, each exactly once."""

    def __init__(self, fetch: Callable[[str | None], tuple[list[Any], bool]]) -> None:
        self._fetch = fetch
        self._seen: set[str] = set()

    def poll(self) -> list[Any]:
        """Walk pages (newest first) back to a known event; mark them seen only when complete."""
        new: list[Any] = []
        after: str | None = None
        while True:
            items, has_more = self._fetch(after)
            known = False
            for item in items:
                if item.id in self._seen:
                    known = True
                    break
                new.append(item)
            if known or not has_more or not items:
                break
            after = items[-1].id
        self._seen.update(e.id for e in new)
        new.reverse()
        return new


@dataclass
class EarlyStopper:
    """Stop when the validation loss has not improved for ``patience`` validation steps."""

    patience: int
    best: float | None = None
    best_step: int | None = None
    since: int = 0

    def feed(self, step: int, valid_loss: float) -> bool:
        """Record a validation loss; True when it is time to stop."""
        if self.best is None or valid_loss < self.best:
            self.best, self.best_step, self.since = valid_loss, step, 0
            return False
        self.since += 1
        return self.since >= self.patience


@dataclass
class _Progress:
    step: int | None = None
    total: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    train_curve: list[tuple[int, float]] = field(default_factory=list)
    valid_curve: list[tuple[int, float]] = field(default_factory=list)


def _valid_loss(data: dict[str, Any]) -> float | None:
    value = data.get("full_valid_loss", data.get("valid_loss"))
    return float(value) if isinstance(value, int | float) else None


def job_error(job: Any, ledger: Ledger | None, backend: str | None) -> JobError | None:
    """The error of a failed job, with the local file and line it points to when we know them."""
    err = getattr(job, "error", None)
    if err is None or not getattr(err, "message", None):
        return None
    param = getattr(err, "param", None)
    location = None
    if param in ("training_file", "validation_file"):
        file_id = getattr(job, param, None)
        path = file_id
        if ledger is not None and file_id:
            row = ledger.one(
                "SELECT path FROM files WHERE file_id = ? AND (backend = ? OR ? IS NULL)",
                (file_id, backend, backend),
            )
            path = row["path"] if row else file_id
        match = re.search(r"\b(?:line|example)\s+(\d+)", err.message, re.IGNORECASE)
        location = f"{path}:{match.group(1)}" if match else str(path)
    return JobError(str(getattr(err, "code", "") or ""), str(err.message), param, location)


def best_checkpoint(client: openai.OpenAI, job_id: str) -> tuple[str | None, float | None, int]:
    """The usable checkpoint with the lowest validation loss: (model, loss, step)."""
    best: tuple[str | None, float | None, int] = (None, None, 0)
    for ckpt in client.fine_tuning.jobs.checkpoints.list(job_id):
        metrics = ckpt.metrics.model_dump(exclude_none=True) if ckpt.metrics else {}
        loss = _valid_loss(metrics)
        if loss is None or (best[1] is not None and loss >= best[1]):
            continue
        try:
            client.models.retrieve(ckpt.fine_tuned_model_checkpoint)
        except Exception:  # a checkpoint whose model is gone is not usable
            continue
        best = (ckpt.fine_tuned_model_checkpoint, loss, int(ckpt.step_number))
    return best


def watch(
    job_id: str,
    *,
    client: openai.OpenAI | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
    early_stop: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_interval: float = POLL_INTERVAL,
    backend: str | None = None,
    ledger: Ledger | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> WatchResult:
    """Follow a job to its end; Ctrl-C returns ``interrupted=True`` (the job is not cancelled).

    With ``early_stop`` the job is cancelled once the validation loss stops improving, and the
    stop is recorded in the ledger: watching that job again returns the same ``early_stop``.
    """
    import tenacity

    if early_stop is not None and early_stop < 1:
        raise UsageError(
            f"early_stop must be at least 1 validation step, got {early_stop}",
            tip="pass a patience such as --early-stop 3",
        )

    from openai_ft.client import make_client
    from openai_ft.config import resolve_backend
    from openai_ft.early_stop import early_stop_of, record_early_stop
    from openai_ft.runs import record_checkpoints, record_job
    from openai_ft.store import Ledger

    # A ledger name "openai:URL" keeps its URL: dropping it sent the key to the default host.
    kind, _, url = (backend or "").partition(":")
    settings = resolve_backend(kind or None, url or None)
    key = backend if backend and ":" in backend else settings.name
    cli = client or make_client(settings)
    book = ledger or Ledger()
    emit = on_event or (lambda _e: None)
    jobs = cli.fine_tuning.jobs

    def fetch(after: str | None) -> tuple[list[Any], bool]:
        kw: dict[str, Any] = {"limit": PAGE_SIZE} | ({"after": after} if after else {})
        page = jobs.list_events(job_id, **kw)
        return list(page.data), bool(page.has_more)

    tracker = EventTracker(fetch)

    def tick() -> tuple[Any, list[Any]]:
        try:
            return jobs.retrieve(job_id), tracker.poll()
        except Exception as exc:
            raise map_error(exc, f"polling job {job_id}") from exc

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        emit(Retrying(state.attempt_number, float(wait), str(exc)))

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max_attempts),
        wait=tenacity.wait_exponential(multiplier=1, min=1, max=60),
        retry=tenacity.retry_if_exception_type((ServiceUnavailable, RateLimited)),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    stopper = EarlyStopper(early_stop) if early_stop else None
    stopped: EarlyStopped | None = None
    prog = _Progress()
    start = clock()
    job: Any = None
    snap: Snapshot | None = None
    try:
        while True:
            job, events = retrying(tick)
            trigger = False
            for ev in events:
                emit(JobEvent(ev.id, int(ev.created_at), str(ev.level), ev.message,
                              getattr(ev, "type", None), _data(ev)))  # fmt: skip
                trigger = _absorb(prog, _data(ev), stopper) or trigger
            snap = _snapshot(job, prog, clock() - start)
            emit(snap)
            record_job(book, key, job)
            if str(job.status) in TERMINAL:
                break
            if trigger and stopped is None:
                assert stopper is not None
                job = retrying(lambda: _call(lambda: jobs.cancel(job_id), "cancelling"))
                model, loss, step = retrying(
                    lambda: _call(lambda: best_checkpoint(cli, job_id), "listing checkpoints")
                )
                stopped = EarlyStopped(
                    stopper.patience, stopper.best, stopper.best_step, model, loss, step
                )
                record_early_stop(book, key, job_id, stopped)  # a rerun must find it again
                emit(stopped)
                continue
            sleep(poll_interval)
    except KeyboardInterrupt:
        status = str(job.status) if job is not None else "unknown"
        return WatchResult(job_id, status, False, None, None, stopped, True, snap)
    status = str(job.status)
    if status == "cancelled" and stopped is None:
        # Stopped early by an earlier watch: say so again, with the checkpoint to use.
        stopped = early_stop_of(book, key, job_id)
        if stopped is not None:
            emit(stopped)
    if status == "succeeded":
        try:
            record_checkpoints(book, key, job_id, list(jobs.checkpoints.list(job_id)))
        except Exception as exc:
            raise map_error(exc, f"listing checkpoints of {job_id}") from exc
    err = job_error(job, book, key)
    return WatchResult(
        job_id, status, status == "succeeded", job.fine_tuned_model, err, stopped, False, snap
    )


def _call(fn: Callable[[], Any], action: str) -> Any:
    try:
        return fn()
    except Exception as exc:
        raise map_error(exc, action) from exc


def _data(ev: Any) -> dict[str, Any]:
    data = getattr(ev, "data", None)
    return data if isinstance(data, dict) else {}


def _absorb(prog: _Progress, data: dict[str, Any], stopper: EarlyStopper | None) -> bool:
    """Take a metrics event's numbers; True when the early stopper says stop."""
    step = data.get("step")
    if not isinstance(step, int | float):
        return False
    prog.step = int(step)
    if isinstance(data.get("total_steps"), int | float):
        prog.total = int(data["total_steps"])
    if isinstance(data.get("train_loss"), int | float):
        prog.train_loss = float(data["train_loss"])
        prog.train_curve.append((prog.step, prog.train_loss))
    valid = _valid_loss(data)
    if valid is None:
        return False
    prog.valid_loss = valid
    prog.valid_curve.append((prog.step, valid))
    return stopper is not None and stopper.feed(prog.step, valid)


def _snapshot(job: Any, prog: _Progress, elapsed: float) -> Snapshot:
    return Snapshot(
        job_id=str(job.id),
        status=str(job.status),
        model=str(job.model),
        step=prog.step,
        total_steps=prog.total,
        train_loss=prog.train_loss,
        valid_loss=prog.valid_loss,
        trained_tokens=getattr(job, "trained_tokens", None),
        estimated_finish=getattr(job, "estimated_finish", None),
        elapsed=elapsed,
        fine_tuned_model=job.fine_tuned_model,
        train_curve=tuple(prog.train_curve),
        valid_curve=tuple(prog.valid_curve),
    )


_callable_module.make_callable(__name__, "openai_ft.watch:watch")
