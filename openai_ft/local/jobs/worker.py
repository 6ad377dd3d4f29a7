"""Runs fine-tuning jobs: validation, training through the engine, checkpoints, the result file.

A job is advanced by whoever holds its lease: the background worker thread of a service, or a
test calling ``LocalService.run_jobs``. Progress (the last finished step) is persisted with each
metrics event, so a process that dies mid-job is replaced by the next one that starts on the same
state folder: it retrains deterministically from the same seed and only records steps after the
last persisted one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from openai_ft.errors import OpenAIFTError
from openai_ft.local.api.files import store_file
from openai_ft.local.api.jobs import (
    ORG,
    TERMINAL,
    add_event,
    base_model_of,
    checkpoint_id,
    is_fine_tuned,
    public,
)
from openai_ft.local.http.app import Service
from openai_ft.local.http.core import new_id

if TYPE_CHECKING:
    from openai_ft.local.engines.ngram.train import StepMetrics

ACTIVE = ("validating_files", "queued", "running")
KEEP_CHECKPOINTS = 3


class Budget:
    """How many training steps a ``run_jobs(max_steps=...)`` call may still take (None = no cap)."""

    def __init__(self, steps: int | None) -> None:
        self.left = steps

    def spend(self) -> None:
        if self.left is not None:
            self.left -= 1

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0


def runnable_jobs(svc: Service) -> list[dict[str, Any]]:
    """Jobs that still have work to do, oldest first."""
    return [j for j in svc.state.all("job") if j["status"] in ACTIVE]


def run_job(svc: Service, job_id: str, budget: Budget, pace: Callable[[], bool]) -> None:
    """Advance one job as far as the budget allows; the caller holds its lease.

    ``pace()`` is called after every step (it sleeps in the worker thread) and returns False to stop.
    """
    job = svc.state.get("job", job_id)
    if job is None or job["status"] not in ACTIVE or budget.exhausted:
        return
    if job["status"] == "validating_files" and not _validate(svc, job):
        return
    job = svc.state.get("job", job_id)
    if job is None or job["status"] not in ("queued", "running"):
        return
    if job["status"] == "queued":
        job = _set(svc, job_id, lambda j: {**j, "status": "running"}, only_from=("queued",))
        if job is None:
            return
        add_event(svc, job_id, "Fine-tuning job started")
    _train(svc, job, budget, pace)


def _set(
    svc: Service,
    job_id: str,
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    only_from: tuple[str, ...],
) -> dict[str, Any] | None:
    ok: list[bool] = []

    def change(job: dict[str, Any]) -> dict[str, Any] | None:
        if job["status"] not in only_from:
            return None
        ok.append(True)
        return fn(job)

    job = svc.state.mutate("job", job_id, change)
    return job if ok else None


def fail_job(svc: Service, job_id: str, code: str, message: str, param: str | None) -> None:
    """Move an active job to failed with an OpenAI-shaped error and an error event."""
    error = {"code": code, "message": message, "param": param}
    if _set(
        svc,
        job_id,
        lambda j: {**j, "status": "failed", "error": error, "estimated_finish": None},
        only_from=ACTIVE,
    ):
        add_event(svc, job_id, f"Fine-tuning job failed: {message}", level="error")


def read_jsonl(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file (blank lines skipped); validation already vouched for it."""
    return [json.loads(line) for line in data.decode("utf-8-sig").splitlines() if line.strip()]


def _validate(svc: Service, job: dict[str, Any]) -> bool:
    """Run ``openai-ft validate``'s rules on the job's files; fail the job or move it to queued."""
    from openai_ft.dataset.validate import validate

    job_id, method = job["id"], job["method"]["type"]
    add_event(svc, job_id, f"Validating training file: {job['training_file']}")
    base = base_model_of(job["model"])
    trained_tokens = 0
    n_train = 0
    for param in ("training_file", "validation_file"):
        file_id = job[param]
        if file_id is None:
            continue
        if svc.state.get("file", file_id) is None:
            fail_job(
                svc,
                job_id,
                "invalid_file",
                f"{param} {file_id} was deleted before the job could read it.",
                param,
            )
            return False
        try:
            report = validate(svc.state.blob_path(file_id), method=method, model=base, workers=1)
        except OpenAIFTError as exc:
            fail_job(svc, job_id, f"invalid_{param}", exc.message, param)
            return False
        # OpenAI's minimum of 10 examples applies to the training file only.
        errors = [
            e for e in report.errors if param == "training_file" or e.code != "too_few_examples"
        ]
        if errors:
            first = errors[0]
            where = f"at line {first.line}" if first.line is not None else "in the file"
            label = "Training" if param == "training_file" else "Validation"
            message = f"{label} file has {len(errors)} error(s); first {where}: {first.code}: {first.message}"
            fail_job(svc, job_id, f"invalid_{param}", message, param)
            return False
        if param == "training_file":
            n_train, trained_tokens = report.examples, report.tokens.total
    from openai_ft.local.engines import engine_for

    engine = engine_for(svc, job["model"], job_id)
    hp = engine.resolve_hyperparameters(n_train, method, job["method"][method]["hyperparameters"])
    total = engine.total_steps(n_train, hp)
    resolved = {
        **engine.report_hyperparameters(hp, method),
        **job.get("x_extra_hyperparameters", {}),
    }

    def queued(j: dict[str, Any]) -> dict[str, Any]:
        return {
            **j,
            "status": "queued",
            "x_total_steps": total,
            "x_tokens": trained_tokens * hp.n_epochs,
            "hyperparameters": {k: v for k, v in resolved.items() if k != "beta"},
            "method": {"type": method, method: {"hyperparameters": resolved}},
        }

    if _set(svc, job_id, queued, only_from=("validating_files",)) is None:
        return False
    add_event(svc, job_id, "Files validated, moving job to queued state")
    return True


def follow_job(svc: Service, job_id: str, pace: Callable[[], bool]) -> None:
    """Train a running job beside the process that holds its lease (ranks > 0), recording nothing."""
    job = svc.state.get("job", job_id)
    if job is not None and job["status"] == "running":
        _train(svc, job, Budget(None), pace, record=False)


def _train(
    svc: Service,
    job: dict[str, Any],
    budget: Budget,
    pace: Callable[[], bool],
    record: bool = True,
) -> None:
    from openai_ft.local.engines.ngram.model import TrainedModel

    job_id, method = job["id"], job["method"]["type"]
    total: int = job["x_total_steps"]
    last_step: int = job["x_last_step"]
    from openai_ft.local.engines import engine_for

    engine = engine_for(svc, job["model"], job_id)
    hp = engine.hyperparameters_from(job["method"][method]["hyperparameters"])
    train = read_jsonl(svc.state.read_blob(job["training_file"]))
    valid = (
        read_jsonl(svc.state.read_blob(job["validation_file"])) if job["validation_file"] else None
    )
    base = svc.load_model(job["model"]) if is_fine_tuned(job["model"]) else None
    ft_name = (
        job.get("x_ft_name")
        or f"ft:{base_model_of(job['model'])}:{ORG}:{job['user_provided_suffix'] or ''}:{job_id.removeprefix('ftjob-')}"
    )
    if record:
        _estimate(svc, job_id, total - last_step)
    progress = {"step": last_step, "stopped": False}

    def on_step(m: StepMetrics) -> None:
        if m.step <= progress["step"]:
            return
        if record and not _record_step(svc, job_id, m):
            progress["stopped"] = True  # another process took the job over and is ahead of us
            return
        progress["step"] = m.step
        budget.spend()
        if not pace():
            progress["stopped"] = True
        if record and m.step % 10 == 0:
            _estimate(svc, job_id, total - m.step)

    def on_epoch_end(epoch: int, step: int, model: TrainedModel) -> None:
        if not record:
            return
        if any(c["step_number"] >= step for c in svc.state.all("checkpoint", parent=job_id)):
            return
        metrics = _metrics_at(svc, job_id, step)
        _store_checkpoint(svc, job_id, f"{ft_name}:ckpt-step-{step}", step, metrics, model)

    def should_stop() -> bool:
        if budget.exhausted or progress["stopped"]:
            return True
        current = svc.state.get("job", job_id)
        return current is None or current["status"] != "running"

    model = engine.train(
        train,
        valid,
        hp,
        method=method,
        seed=job["seed"],
        base=base,
        on_step=on_step,
        on_epoch_end=on_epoch_end,
        should_stop=should_stop,
        start_step=last_step,
    )
    current = svc.state.get("job", job_id)
    if not record or current is None or current["status"] != "running":
        return
    stopped_early = getattr(engine, "stopped_early_at", None)  # the hf engine's patience
    if current["x_last_step"] < total and not stopped_early:
        return
    if stopped_early:
        add_event(
            svc,
            job_id,
            f"Early stopping at step {stopped_early}: validation loss stopped improving",
        )
    _finish(svc, current, ft_name, model)


def _record_step(svc: Service, job_id: str, m: StepMetrics) -> bool:
    """Persist one step's metrics event and the job's progress; False if it was already recorded.

    One transaction: a process killed between the two writes would otherwise leave a metrics
    event ahead of x_last_step, and its successor would record the step twice; and a step some
    other process already recorded (it took the job over) is not recorded again.
    """
    data: dict[str, Any] = {
        "step": m.step,
        "total_steps": m.total_steps,
        "train_loss": m.train_loss,
        "train_mean_token_accuracy": m.train_mean_token_accuracy,
    }
    if m.valid_loss is not None:
        data.update(
            valid_loss=m.valid_loss,
            valid_mean_token_accuracy=m.valid_mean_token_accuracy,
            full_valid_loss=m.full_valid_loss,
            full_valid_mean_token_accuracy=m.full_valid_mean_token_accuracy,
        )
    message = f"Step {m.step}/{m.total_steps}: training loss={m.train_loss:.4f}"
    if m.valid_loss is not None:
        message += f", validation loss={m.valid_loss:.4f}"
    with svc.state.tx():
        current = svc.state.get("job", job_id)
        if current is None or current["x_last_step"] >= m.step:
            return False
        add_event(svc, job_id, message, kind="metrics", data=data)
        svc.state.mutate("job", job_id, lambda j: {**j, "x_last_step": m.step})
    return True


def _estimate(svc: Service, job_id: str, steps_left: int) -> None:
    eta = svc.now() + max(1, round(steps_left * svc.settings.speed))
    svc.state.mutate(
        "job",
        job_id,
        lambda j: {**j, "estimated_finish": eta} if j["status"] == "running" else None,
    )


def _metrics_at(svc: Service, job_id: str, step: int) -> dict[str, Any]:
    keys = (
        "step",
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    )
    for event in svc.state.page("event", parent=job_id, limit=50, order="desc")[0]:
        if event["type"] == "metrics" and event["data"].get("step") == step:
            return {k: event["data"][k] for k in keys if event["data"].get(k) is not None}
    return {"step": step}


def _store_model(svc: Service, model_id: str, job_id: str, model: Any, checkpoint: bool) -> None:
    blob = new_id("mdl_")
    svc.state.write_blob(blob, model.to_bytes())
    svc.state.put(
        "model",
        {
            "id": model_id,
            "object": "model",
            "created": svc.now(),
            "owned_by": f"user-{ORG}",
            "shutdown_date": None,
            "x_blob": blob,
            "x_job": job_id,
            "x_checkpoint": checkpoint,
            "x_engine": getattr(model, "engine", "ngram"),
        },
    )


def _store_checkpoint(
    svc: Service, job_id: str, model_id: str, step: int, metrics: dict[str, Any], model: Any
) -> None:
    if svc.state.get("model", model_id) is None:
        _store_model(svc, model_id, job_id, model, checkpoint=True)
    svc.state.put(
        "checkpoint",
        {
            "id": checkpoint_id(svc.state.get("job", job_id)),
            "object": "fine_tuning.job.checkpoint",
            "created_at": svc.now(),
            "fine_tuned_model_checkpoint": model_id,
            "fine_tuning_job_id": job_id,
            "metrics": metrics,
            "step_number": step,
        },
        parent=job_id,
    )
    add_event(svc, job_id, f"Checkpoint created at step {step}")
    for old in svc.state.all("checkpoint", parent=job_id)[:-KEEP_CHECKPOINTS]:
        svc.state.delete(old["id"])
        gone = svc.state.get("model", old["fine_tuned_model_checkpoint"])
        if gone is not None:
            svc.state.delete(gone["id"])
            svc.state.delete_blob(gone["x_blob"])
            svc.forget_model(gone["id"])


def result_csv(svc: Service, job_id: str) -> bytes:
    """The result file: one row per step with training and validation metrics."""
    rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
    events = [e for e in svc.state.all("event", parent=job_id) if e["type"] == "metrics"]

    def cell(v: Any) -> str:
        return "" if v is None else f"{v:.6g}"

    for e in sorted(events, key=lambda e: e["data"]["step"]):
        d = e["data"]
        rows.append(
            ",".join(
                [
                    str(d["step"]),
                    cell(d.get("train_loss")),
                    cell(d.get("train_mean_token_accuracy")),
                    cell(d.get("valid_loss")),
                    cell(d.get("valid_mean_token_accuracy")),
                ]
            )
        )
    return ("\n".join(rows) + "\n").encode()


def _finish(svc: Service, job: dict[str, Any], ft_name: str, model: Any) -> None:
    job_id = job["id"]
    if svc.state.get("model", ft_name) is None:
        _store_model(svc, ft_name, job_id, model, checkpoint=False)
    result = store_file(svc, result_csv(svc, job_id), "step_metrics.csv", "fine-tune-results")

    def done(j: dict[str, Any]) -> dict[str, Any]:
        return {
            **j,
            "status": "succeeded",
            "fine_tuned_model": ft_name,
            "finished_at": svc.now(),
            "trained_tokens": j.get("x_tokens", 0),
            "result_files": [result["id"]],
            "estimated_finish": None,
        }

    if _set(svc, job_id, done, only_from=("running",)) is None:
        svc.state.delete(result["id"])
        svc.state.delete_blob(result["id"])
        return
    add_event(svc, job_id, f"New fine-tuned model created: {ft_name}")
    add_event(svc, job_id, "The job has successfully completed")


__all__ = [
    "TERMINAL",
    "Budget",
    "follow_job",
    "public",
    "result_csv",
    "run_job",
    "runnable_jobs",
]
