"""What the ledger knows about runs: recording jobs and models, listing runs, their lineage."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openai_ft.errors import NotFound

if TYPE_CHECKING:
    from openai_ft.store import Ledger


@dataclass(frozen=True)
class RunRow:
    """One training run as the ledger recorded it."""

    run_id: str
    backend: str
    created_at: float
    job_id: str | None
    status: str | None
    model: str | None
    fine_tuned_model: str | None


@dataclass(frozen=True)
class Lineage:
    """From source table to model: each step of one run, oldest first, as (kind, text) pairs."""

    run_id: str
    steps: tuple[tuple[str, str], ...]


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def record_run(ledger: Ledger, run_id: str, backend: str, config: dict[str, Any]) -> None:
    """Record a training run and its (key-free) configuration."""
    ledger.execute(
        "INSERT OR IGNORE INTO runs (id, kind, backend, created_at, config_json, status)"
        " VALUES (?, 'train', ?, ?, ?, 'created')",
        (run_id, backend, time.time(), json.dumps(config, sort_keys=True)),
    )


def record_job(
    ledger: Ledger,
    backend: str,
    job: Any,
    *,
    run_id: str | None = None,
    config_hash: str | None = None,
    config: dict[str, Any] | None = None,
    location: str | None = None,
) -> None:
    """Insert or update a job row (and its run's status, and its model when it has one).

    ``location`` (see :func:`store.location`) is where the job lives; given, it is recorded (a
    row recorded before locations were kept is adopted); None keeps what the row has.
    """
    job_id = str(_get(job, "id"))
    status = _get(job, "status")
    ft_model = _get(job, "fine_tuned_model")
    now = time.time()
    row = ledger.one("SELECT run_id FROM jobs WHERE backend = ? AND job_id = ?", (backend, job_id))
    if row is None:
        meta = _get(job, "metadata") or {}
        run_id = run_id or (meta.get("openai_ft_run") if isinstance(meta, dict) else None)
        config_hash = config_hash or (
            meta.get("openai_ft_config") if isinstance(meta, dict) else None
        )
        ledger.execute(
            "INSERT INTO jobs (backend, job_id, run_id, config_hash, config_json, model,"
            " training_file, validation_file, status, fine_tuned_model, created_at, updated_at,"
            " location) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                backend, job_id, run_id, config_hash,
                json.dumps(config, sort_keys=True) if config else None,
                _get(job, "model"), _get(job, "training_file"), _get(job, "validation_file"),
                status, ft_model, float(_get(job, "created_at") or now), now, location or "",
            ),
        )  # fmt: skip
    else:
        run_id = row["run_id"]
        ledger.execute(
            "UPDATE jobs SET status = ?, fine_tuned_model = ?, updated_at = ?,"
            " location = COALESCE(?, location) WHERE backend = ? AND job_id = ?",
            (status, ft_model, now, location, backend, job_id),
        )
    if run_id:
        ledger.execute("UPDATE runs SET status = ? WHERE id = ?", (status, run_id))
    if ft_model and status == "succeeded":
        ledger.execute(
            "INSERT OR IGNORE INTO models (backend, model, job_id, base_model, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (backend, ft_model, job_id, _get(job, "model"), now),
        )


def record_checkpoints(ledger: Ledger, backend: str, job_id: str, checkpoints: list[Any]) -> None:
    """Remember a job's checkpoints and their metrics."""
    rows = []
    for c in checkpoints:
        metrics = _get(c, "metrics")
        if metrics is not None and not isinstance(metrics, dict):
            metrics = metrics.model_dump(exclude_none=True)
        rows.append(
            (
                backend, job_id, str(_get(c, "id")), str(_get(c, "fine_tuned_model_checkpoint")),
                _get(c, "step_number"), json.dumps(metrics or {}, sort_keys=True),
            )
        )  # fmt: skip
    ledger.executemany(
        "INSERT OR REPLACE INTO checkpoints (backend, job_id, checkpoint_id, model, step,"
        " metrics_json) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def latest_model(backend: str | None = None, ledger: Ledger | None = None) -> str | None:
    """The newest fine-tuned model of a succeeded job recorded for this backend (or None)."""
    from openai_ft.config import resolve_backend
    from openai_ft.store import Ledger

    book = ledger or Ledger()
    key = backend if backend and ":" in backend else resolve_backend(backend).name
    row = book.one(
        "SELECT model FROM models WHERE backend = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
        (key,),
    )
    return str(row["model"]) if row else None


def list_runs(ledger: Ledger, backend: str | None = None, limit: int = 50) -> list[RunRow]:
    """The most recent training runs (newest first), each with its latest job."""
    sql = (
        "SELECT r.id, r.backend, r.created_at, j.job_id, COALESCE(j.status, r.status) AS status,"
        " j.model, j.fine_tuned_model FROM runs r LEFT JOIN jobs j"
        " ON j.run_id = r.id AND j.backend = r.backend"
    )
    args: list[Any] = []
    if backend:
        sql += " WHERE r.backend = ?"
        args.append(backend)
    sql += " ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?"
    args.append(limit)
    return [
        RunRow(r["id"], r["backend"], r["created_at"], r["job_id"], r["status"], r["model"],
               r["fine_tuned_model"])
        for r in ledger.query(sql, args)
    ]  # fmt: skip


def lineage(ledger: Ledger, ident: str) -> Lineage:
    """The chain source table -> dataset -> uploaded file -> job -> model for a run or job id."""
    job = ledger.one(
        "SELECT * FROM jobs WHERE run_id = ? OR job_id = ? ORDER BY created_at DESC LIMIT 1",
        (ident, ident),
    )
    run = ledger.one("SELECT * FROM runs WHERE id = ?", (job["run_id"] if job else ident,))
    if job is None and run is None:
        raise NotFound(
            f"no run or job {ident} in the ledger", tip="list them with `openai-ft runs`"
        )
    steps: list[tuple[str, str]] = []

    def add(kind: str, text: str) -> None:
        if (kind, text) not in steps:  # training and validation share their source and manifest
            steps.append((kind, text))

    for param in ("training_file", "validation_file"):
        file_id = job[param] if job else None
        if not file_id:
            continue
        f = ledger.one("SELECT * FROM files WHERE file_id = ?", (file_id,))
        d = ledger.one("SELECT * FROM datasets WHERE sha256 = ?", (f["sha256"],)) if f else None
        if d is not None and d["source"]:
            add("source", str(d["source"]))
        if d is not None and d["manifest_json"]:
            add("manifest", _manifest_text(json.loads(d["manifest_json"])))
        if d is not None:
            add("dataset", f"{d['path']} sha256:{d['sha256'][:12]} ({param})")
        add("file", f"{file_id} ({param})")
    if run is not None:
        steps.append(("run", f"{run['id']} on {run['backend']}"))
    if job is not None:
        steps.append(("job", f"{job['job_id']} {job['status']} base {job['model']}"))
        for c in ledger.query(
            "SELECT * FROM checkpoints WHERE job_id = ? ORDER BY step", (job["job_id"],)
        ):
            steps.append(("checkpoint", _checkpoint_text(c)))
        if job["fine_tuned_model"]:
            steps.append(("model", str(job["fine_tuned_model"])))
    return Lineage(run["id"] if run else ident, tuple(steps))


def _manifest_text(m: dict[str, Any]) -> str:
    """A prepare manifest as one line: where it is, how it split the table."""
    raw = m.get("counts")
    counts: dict[str, Any] = raw if isinstance(raw, dict) else {}
    split = " / ".join(f"{counts[k]:,} {k}" for k in ("train", "validation", "test") if k in counts)
    facts = [f"seed {m['seed']}" if m.get("seed") is not None else "", split]
    detail = ", ".join(f for f in facts if f)
    where = str(m.get("manifest_path") or "manifest.json")
    return f"{where} ({detail})" if detail else where


def _checkpoint_text(c: Any) -> str:
    """A checkpoint with its losses, not its raw metrics JSON."""
    metrics = json.loads(c["metrics_json"] or "{}")
    shown: dict[str, str] = {}
    # Full validation loss (whole validation set) is preferred to a batch's validation loss.
    for key, label in (
        ("train_loss", "train"),
        ("full_valid_loss", "valid"),
        ("valid_loss", "valid"),
    ):
        if label not in shown and isinstance(metrics.get(key), int | float):
            shown[label] = f"{label} {metrics[key]:.4f}"
    losses = " ".join(shown.values())
    return f"{c['model']} step {c['step']}" + (f"  {losses}" if losses else "")
