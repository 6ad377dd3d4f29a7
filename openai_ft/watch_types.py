"""The typed events ``watch`` emits and the result it returns (the console renders them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Statuses are open strings: "paused" and others exist beyond the SDK's literals.
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class JobEvent:
    """One event of the job's log, emitted once, oldest first."""

    id: str
    created_at: int
    level: str
    message: str
    type: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """The job as of the latest poll, with the losses seen so far."""

    job_id: str
    status: str
    model: str
    step: int | None
    total_steps: int | None
    train_loss: float | None
    valid_loss: float | None
    trained_tokens: int | None
    estimated_finish: int | None
    elapsed: float
    fine_tuned_model: str | None
    train_curve: tuple[tuple[int, float], ...] = ()
    valid_curve: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Retrying:
    """Polling failed (network or 5xx); the next attempt follows after ``wait`` seconds."""

    attempt: int
    wait: float
    error: str


@dataclass(frozen=True)
class EarlyStopped:
    """The validation loss stopped improving: the job was cancelled; the best usable checkpoint."""

    patience: int
    best_valid_loss: float | None
    best_step: int | None
    checkpoint: str | None
    checkpoint_valid_loss: float | None
    checkpoint_step: int


WatchEvent = JobEvent | Snapshot | Retrying | EarlyStopped


@dataclass(frozen=True)
class JobError:
    """Why a job failed; ``location`` is ``path:line`` for an error in a training file."""

    code: str
    message: str
    param: str | None
    location: str | None


@dataclass(frozen=True)
class WatchResult:
    """How ``watch`` ended."""

    job_id: str
    status: str
    succeeded: bool
    fine_tuned_model: str | None
    error: JobError | None
    early_stop: EarlyStopped | None
    interrupted: bool
    snapshot: Snapshot | None
