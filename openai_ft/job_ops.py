"""The job commands as library calls: list, status, cancel, pause, resume, checkpoints, metrics."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.client import translate_errors
from openai_ft.errors import InputError, NotFound, UsageError

if TYPE_CHECKING:
    import openai
    import pandas as pd

METRIC_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")


@dataclass(frozen=True)
class JobInfo:
    """The fields of a job the commands show."""

    id: str
    status: str
    model: str
    fine_tuned_model: str | None
    created_at: int
    trained_tokens: int | None
    estimated_finish: int | None
    error: str | None
    metadata: dict[str, str]


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint and its metrics."""

    id: str
    model: str
    step: int
    metrics: dict[str, float]


def job_info(job: Any) -> JobInfo:
    """A JobInfo from an SDK job object."""
    err = getattr(job, "error", None)
    message = getattr(err, "message", None) if err is not None else None
    return JobInfo(
        str(job.id), str(job.status), str(job.model), job.fine_tuned_model, int(job.created_at),
        job.trained_tokens, getattr(job, "estimated_finish", None),
        str(message) if message else None, dict(job.metadata or {}),
    )  # fmt: skip


def list_jobs(client: openai.OpenAI, limit: int = 20) -> list[JobInfo]:
    """The most recent jobs (the SDK walks the pages)."""
    out: list[JobInfo] = []
    with translate_errors("listing fine-tuning jobs"):
        for job in client.fine_tuning.jobs.list(limit=min(limit, 100)):
            out.append(job_info(job))
            if len(out) >= limit:
                break
    return out


def job_status(client: openai.OpenAI, job_id: str) -> JobInfo:
    """One job's current state."""
    with translate_errors(f"reading job {job_id}"):
        return job_info(client.fine_tuning.jobs.retrieve(job_id))


@dataclass(frozen=True)
class JobProgress:
    """Where a job is: its latest step and losses, and the hyperparameters it runs with."""

    step: int | None
    total_steps: int | None
    train_loss: float | None
    valid_loss: float | None
    hyperparameters: dict[str, Any]


def job_progress(client: openai.OpenAI, job_id: str) -> JobProgress:
    """A job's hyperparameters and its latest metrics event (one page of events, newest first)."""
    with translate_errors(f"reading job {job_id}"):
        job = client.fine_tuning.jobs.retrieve(job_id)
        page = client.fine_tuning.jobs.list_events(job_id, limit=50)
    latest: dict[str, Any] = {}
    for ev in page.data:
        data = ev.data if isinstance(ev.data, dict) else {}
        step = data.get("step")
        metrics = getattr(ev, "type", None) == "metrics" and isinstance(step, int | float)
        if metrics and step >= latest.get("step", -1):
            latest = data
    return JobProgress(
        int(latest["step"]) if "step" in latest else None,
        _int(latest.get("total_steps")),
        _float(latest.get("train_loss")),
        _float(latest.get("full_valid_loss", latest.get("valid_loss"))),
        _hyperparameters(job),
    )


def _int(x: Any) -> int | None:
    return int(x) if isinstance(x, int | float) else None


def _float(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) else None


def _hyperparameters(job: Any) -> dict[str, Any]:
    """The method's hyperparameters (the resolved values once the job has started)."""
    method = getattr(job, "method", None)
    kind = getattr(method, "type", None)
    hps = getattr(getattr(method, str(kind), None), "hyperparameters", None) if kind else None
    hps = hps or getattr(job, "hyperparameters", None)
    if hps is None:
        return {}
    raw = hps.model_dump(exclude_none=True) if hasattr(hps, "model_dump") else dict(hps)
    return {str(k): v for k, v in raw.items()}


def control_job(client: openai.OpenAI, job_id: str, action: str) -> JobInfo:
    """Cancel, pause or resume a job."""
    jobs = client.fine_tuning.jobs
    calls = {"cancel": jobs.cancel, "pause": jobs.pause, "resume": jobs.resume}
    if action not in calls:
        raise UsageError(f"unknown job action {action!r}", tip="use cancel, pause or resume")
    with translate_errors(f"{action} job {job_id}"):
        return job_info(calls[action](job_id))


def list_checkpoints(client: openai.OpenAI, job_id: str) -> list[CheckpointInfo]:
    """A job's checkpoints with their metrics (oldest step first)."""
    out = []
    with translate_errors(f"listing checkpoints of {job_id}"):
        for c in client.fine_tuning.jobs.checkpoints.list(job_id):
            metrics = c.metrics.model_dump(exclude_none=True) if c.metrics else {}
            out.append(
                CheckpointInfo(
                    str(c.id), c.fine_tuned_model_checkpoint, int(c.step_number), metrics
                )
            )
    return sorted(out, key=lambda c: c.step)


def job_metrics(client: openai.OpenAI, job_id: str) -> pd.DataFrame:
    """Per-step metrics: the job's result file, else its metrics events (for running jobs)."""
    import pandas as pd

    with translate_errors(f"reading metrics of {job_id}"):
        job = client.fine_tuning.jobs.retrieve(job_id)
        for file_id in job.result_files or []:
            raw = client.files.content(file_id).read()
            text = raw.decode("utf-8")
            if text.lstrip().startswith("step"):
                return _numeric(pd.read_csv(io.StringIO(text)))
        rows = []
        for ev in client.fine_tuning.jobs.list_events(job_id, limit=100):
            data = ev.data if isinstance(ev.data, dict) else {}
            if getattr(ev, "type", None) == "metrics" and "step" in data:
                rows.append(
                    {
                        "step": data.get("step"),
                        "train_loss": data.get("train_loss"),
                        "train_accuracy": data.get("train_mean_token_accuracy"),
                        "valid_loss": data.get("valid_loss"),
                        "valid_mean_token_accuracy": data.get("valid_mean_token_accuracy"),
                    }
                )
    frame = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    return _numeric(frame.drop_duplicates("step").sort_values("step").reset_index(drop=True))


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    for col in frame.columns:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def write_metrics(frame: pd.DataFrame, out_dir: str | Path, job_id: str) -> tuple[Path, Path]:
    """Write ``<job>.metrics.csv`` and a ``<job>.loss.png`` loss curve (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from openai_ft._atomic import write_bytes_atomic, write_text_atomic

    out = Path(out_dir)
    csv_path, png_path = out / f"{job_id}.metrics.csv", out / f"{job_id}.loss.png"
    if frame.empty:
        raise NotFound(
            f"job {job_id} has no metrics yet: no result file and no metrics events",
            tip=f"wait until it trains (`openai-ft watch {job_id}`), then run this again",
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(csv_path, frame.to_csv(index=False))
    except OSError as exc:
        raise InputError(
            f"{out}: cannot write the metrics there ({exc.strerror or exc})",
            tip="choose a writable folder with --out-dir",
        ) from None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        for col, label in (("train_loss", "training loss"), ("valid_loss", "validation loss")):
            if col in frame and frame[col].notna().any():
                part = frame[["step", col]].dropna()
                ax.plot(part["step"], part[col], label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(f"{job_id} loss")
        ax.legend(loc="upper right")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    write_bytes_atomic(png_path, buf.getvalue())
    return csv_path, png_path
