"""Train the points of a sweep: at most K jobs at once, each an ordinary idempotent ``train``.

A point with a job recorded is followed, never created again; one without is started with
:func:`openai_ft.jobs.train` (which attaches when these settings made a job before). A refusal
for too many jobs (429, or a "too many jobs" / concurrency limit message) is waited on. A failed
job is a failed point, not a failed sweep. Ctrl-C stops following; the jobs keep running.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from openai_ft.client import map_error, translate_errors
from openai_ft.errors import BackendError, RateLimited, ServiceUnavailable
from openai_ft.watch import EarlyStopper, EventTracker, best_checkpoint
from openai_ft.watch_types import TERMINAL

# How OpenAI and compatible servers word a refusal for too many concurrent jobs.
_TOO_MANY = re.compile(
    r"too many|concurren|maximum (number )?of (active|running)|active (fine-tuning )?jobs"
    r"|(job|jobs) limit|limit of \d+ (active|running)",
    re.IGNORECASE,
)
FIRST_BACKOFF = 30.0
MAX_BACKOFF = 600.0
MAX_POLL_FAILURES = 12


@dataclass(frozen=True)
class PointView:
    """One point of a sweep as it stands: its hyperparameters, job, progress and result."""

    index: int
    hyperparameters: dict[str, Any]
    job_id: str | None = None
    status: str = "pending"
    fine_tuned_model: str | None = None
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    trained_tokens: int | None = None
    estimate_usd: float | None = None
    error: str | None = None
    note: str | None = None
    checkpoint: str | None = None  # the best checkpoint of an early-stopped job

    @property
    def model(self) -> str | None:
        """The model this point produced: its fine-tuned model, else its early-stop checkpoint."""
        if self.status == "succeeded" and self.fine_tuned_model:
            return self.fine_tuned_model
        return self.checkpoint

    @property
    def label(self) -> str:
        """``p0 learning_rate_multiplier=0.5 n_epochs=2``: how status lines name the point."""
        return " ".join([f"p{self.index}", *(f"{k}={v}" for k, v in self.hyperparameters.items())])

    @property
    def done(self) -> bool:
        """True once the job has ended (or never will start)."""
        return self.status in TERMINAL


@dataclass(frozen=True)
class SweepUpdate:
    """Every point after a change, and an optional line to show (a wait, a start, an end)."""

    points: tuple[PointView, ...]
    note: str | None = None


def is_too_many_jobs(err: BaseException) -> bool:
    """True for a refusal that waiting cures: a 429, or too many concurrent jobs."""
    if isinstance(err, RateLimited):
        return True
    return isinstance(err, BackendError) and bool(_TOO_MANY.search(str(err)))


def _refused_point(err: BackendError) -> bool:
    """True for a create refused for this point's settings (400/422): the point fails, the
    sweep goes on. Keys, permissions and outages stop the sweep (every point would fail)."""
    return err.status in (400, 422)


@dataclass
class _Follow:
    """What polling one job needs: its event tracker and early stopper."""

    tracker: EventTracker
    stopper: EarlyStopper | None
    stopped: bool = False


@dataclass
class Scheduler:
    """Starts points (``start(point) -> TrainResult``) and follows their jobs with ``client``."""

    client: Any
    start: Callable[[PointView], Any]
    save: Callable[[PointView], None]
    on_end: Callable[[Any], None]
    emit: Callable[[SweepUpdate], None]
    sleep: Callable[[float], None]
    max_parallel: int = 2
    early_stop: int | None = None
    poll_interval: float = 5.0
    points: list[PointView] = field(default_factory=list)
    _follow: dict[int, _Follow] = field(default_factory=dict)
    _hold: int = 0  # polls to wait before the next start, after a refusal
    _backoff: float = FIRST_BACKOFF
    _poll_failures: int = 0

    def run(self) -> bool:
        """Run every point to its end; False when interrupted (Ctrl-C; the jobs keep running)."""
        # A point without a job is started (again: a create refused before costs nothing).
        queue = [p.index for p in self.points if p.job_id is None]
        try:
            self._publish()
            while True:
                self._start_some(queue)
                active = [p for p in self.points if p.job_id and not p.done]
                if not queue and not active:
                    return True
                self.sleep(self.poll_interval)
                for p in active:
                    self._poll(p)
        except KeyboardInterrupt:
            return False

    def _set(self, point: PointView, line: str | None = None, **changes: Any) -> PointView:
        """Change a point, save it, and show every point (with ``line`` printed once)."""
        new = replace(point, **changes)
        self.points[self._pos(point.index)] = new
        self.save(new)
        self._publish(line)
        return new

    def _pos(self, index: int) -> int:
        return next(i for i, p in enumerate(self.points) if p.index == index)

    def _publish(self, note: str | None = None) -> None:
        self.emit(SweepUpdate(tuple(self.points), note))

    def _start_some(self, queue: list[int]) -> None:
        if self._hold > 0:
            self._hold -= 1
            return
        while queue:
            active = sum(1 for p in self.points if p.job_id and not p.done)
            if active >= self.max_parallel:
                return
            point = self.points[self._pos(queue[0])]
            try:
                res = self.start(point)
            except BackendError as exc:
                if is_too_many_jobs(exc):
                    self._wait_for_room(point, exc)
                    return
                if not _refused_point(exc):
                    raise
                queue.pop(0)
                self._set(
                    point,
                    f"{point.label}: the service refused its job: {exc.message}",
                    status="failed",
                    error=f"not created: {exc.message}",
                )
                continue
            queue.pop(0)
            self._backoff = FIRST_BACKOFF
            verb = "attached to" if res.attached else "created"
            self._set(
                point,
                f"{point.label}: {verb} job {res.job_id}",
                job_id=res.job_id,
                status=str(res.status),
                fine_tuned_model=res.fine_tuned_model,
            )

    def _wait_for_room(self, point: PointView, exc: BackendError) -> None:
        """The service refused a new job for now: wait (in polls), then try again."""
        self._hold = max(1, math.ceil(self._backoff / max(self.poll_interval, 1e-9)))
        self._publish(
            f"{point.label}: the service refused a new job for now ({exc.message[:120]});"
            f" trying again in {self._backoff:.0f}s"
        )
        self._set(point, status="waiting")
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)

    def _poll(self, point: PointView) -> None:
        assert point.job_id is not None
        job_id = point.job_id
        follow = self._follow.get(point.index)
        if follow is None:
            follow = _Follow(
                self._tracker(job_id), EarlyStopper(self.early_stop) if self.early_stop else None
            )
            self._follow[point.index] = follow
        try:
            job = self.client.fine_tuning.jobs.retrieve(job_id)
            events = follow.tracker.poll()
        except Exception as exc:
            err = map_error(exc, f"polling job {job_id}")
            self._poll_failures += 1
            if not isinstance(err, ServiceUnavailable | RateLimited) or (
                self._poll_failures >= MAX_POLL_FAILURES
            ):
                raise err from exc
            self._publish(f"polling {job_id} failed ({err.message[:80]}); trying again")
            return
        self._poll_failures = 0
        changes: dict[str, Any] = {
            "status": str(job.status),
            "fine_tuned_model": job.fine_tuned_model,
            "trained_tokens": getattr(job, "trained_tokens", None),
        }
        trigger = False
        for ev in events:
            data = ev.data if isinstance(getattr(ev, "data", None), dict) else {}
            trigger = _absorb(changes, data, follow.stopper) or trigger
        note = None
        if str(job.status) in TERMINAL:
            note = f"{point.label}: job {job_id} {job.status}"
            why = getattr(getattr(job, "error", None), "message", None)
            if why and not follow.stopped:
                changes["error"] = str(why)
                note += f": {why}"
            self.on_end(job)
        elif trigger and not follow.stopped:
            note = self._early_stop(point, follow, changes)
        self._set(point, note, **changes)

    def _early_stop(self, point: PointView, follow: _Follow, changes: dict[str, Any]) -> str:
        """Cancel the job; its best checkpoint (lowest validation loss) is the point's model."""
        assert point.job_id is not None and follow.stopper is not None
        follow.stopped = True
        with translate_errors(f"early-stopping job {point.job_id}"):
            self.client.fine_tuning.jobs.cancel(point.job_id)
            model, _loss, step = best_checkpoint(self.client, point.job_id)
        best = follow.stopper.best
        text = f"early stop: no validation improvement for {follow.stopper.patience} steps"
        if best is not None:
            text += f" (best {best:.4f} at step {follow.stopper.best_step})"
        if model:
            changes["note"] = f"{text}; using checkpoint {model} (step {step})"
            changes["checkpoint"] = model
        else:
            changes["note"] = f"{text}; no usable checkpoint"
        return f"{point.label}: {changes['note']}"

    def _tracker(self, job_id: str) -> EventTracker:
        jobs = self.client.fine_tuning.jobs

        def fetch(after: str | None) -> tuple[list[Any], bool]:
            kw: dict[str, Any] = {"limit": 50} | ({"after": after} if after else {})
            page = jobs.list_events(job_id, **kw)
            return list(page.data), bool(page.has_more)

        return EventTracker(fetch)


def _absorb(changes: dict[str, Any], data: dict[str, Any], stopper: EarlyStopper | None) -> bool:
    """Take a metrics event's step and losses; True when the early stopper says stop."""
    step = data.get("step")
    if not isinstance(step, int | float):
        return False
    changes["step"] = int(step)
    if isinstance(data.get("total_steps"), int | float):
        changes["total_steps"] = int(data["total_steps"])
    if isinstance(data.get("train_loss"), int | float):
        changes["train_loss"] = float(data["train_loss"])
    valid = data.get("full_valid_loss", data.get("valid_loss"))
    if not isinstance(valid, int | float):
        return False
    changes["valid_loss"] = float(valid)
    return stopper is not None and stopper.feed(int(step), float(valid))


def initial_points(
    points: Sequence[dict[str, Any]],
    recorded: dict[int, dict[str, Any]],
    estimates: Sequence[float | None],
) -> list[PointView]:
    """The points with what the ledger recorded of them (job, status, model) filled in."""
    out = []
    for i, hp in enumerate(points):
        row = recorded.get(i) or {}
        out.append(
            PointView(
                i,
                dict(hp),
                job_id=row.get("job_id"),
                status=row.get("status") or "pending",
                fine_tuned_model=row.get("fine_tuned_model"),
                error=row.get("error"),
                note=row.get("note"),
                trained_tokens=row.get("trained_tokens"),
                checkpoint=row.get("checkpoint"),
                estimate_usd=estimates[i],
            )
        )
    return out
