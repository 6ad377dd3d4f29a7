"""What the ledger knows about runs: recording jobs and models, listing runs, their lineage."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from openai_ft.errors import NotFound, UsageError

if TYPE_CHECKING:
    from openai_ft.store import Ledger
    from openai_ft.watch_types import EarlyStopped


@dataclass(frozen=True)
class RunRow:
    """One run (training or eval) as the ledger recorded it.

    ``models`` are an eval's models (baseline first); ``data`` the training or eval file;
    ``score`` an eval's headline (the best checkpoint's, else the last model's first score).
    """

    run_id: str
    backend: str
    created_at: float
    job_id: str | None
    status: str | None
    model: str | None
    fine_tuned_model: str | None
    kind: str = "train"
    models: tuple[str, ...] = ()
    data: str | None = None
    score: str | None = None

    @property
    def shown_model(self) -> str | None:
        """The model a person looks for: the fine-tuned one, the base, or an eval's last."""
        if self.kind == "eval":
            return self.models[-1] if self.models else None
        return self.fine_tuned_model or self.model


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


def require_latest_model(backend: str, ledger: Ledger | None = None) -> str:
    """What ``--model @latest`` names on ``backend``; a UsageError when nothing was trained."""
    found = latest_model(backend, ledger=ledger)
    if not found:
        raise UsageError(
            f"--model @latest: no succeeded fine-tuning job on backend {backend!r} yet",
            tip="train one with `openai-ft train`, or name the model",
        )
    return found


# A train refused before any job existed (invalid data, over budget, declined prompt).
HIDDEN_STATUSES = ("not_created",)


def list_runs(
    ledger: Ledger, backend: str | None = None, limit: int = 50, *, include_all: bool = False
) -> list[RunRow]:
    """The most recent runs (newest first): training runs with their latest job, eval runs with
    their models, data and headline score; refused trains only with ``include_all``."""
    sql = (
        "SELECT r.id, r.backend, r.created_at, r.kind, r.config_json, j.job_id,"
        " COALESCE(j.status, r.status) AS status, j.model, j.fine_tuned_model FROM runs r"
        " LEFT JOIN jobs j ON j.run_id = r.id AND j.backend = r.backend"
    )
    where: list[str] = []
    args: list[Any] = []
    if backend:
        where.append("r.backend = ?")
        args.append(backend)
    if not include_all:
        where.append(f"COALESCE(r.status, '') NOT IN ({','.join('?' * len(HIDDEN_STATUSES))})")
        args.extend(HIDDEN_STATUSES)
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY r.created_at DESC, r.rowid DESC LIMIT ?"
    args.append(limit)
    return [_run_row(ledger, r) for r in ledger.query(sql, args)]


def _run_row(ledger: Ledger, r: Any) -> RunRow:
    config = _config(r["config_json"])
    base = RunRow(r["id"], r["backend"], r["created_at"], r["job_id"], r["status"], r["model"],
                  r["fine_tuned_model"], kind=str(r["kind"] or "train"))  # fmt: skip
    if base.kind == "eval":
        models = tuple(str(m) for m in config.get("models") or ())
        data = config.get("data")
        return replace(base, models=models, data=str(data) if data else None,
                       score=_headline(base.run_id))  # fmt: skip
    base = replace(base, model=base.model or config.get("model"),
                   data=_dataset_path(ledger, config.get("training")))  # fmt: skip
    if base.status == "cancelled" and base.job_id:
        return _early_stopped(ledger, base)
    return base


def _early_stopped(ledger: Ledger, row: RunRow) -> RunRow:
    """A job that --early-stop cancelled reads ``early-stopped``, its model the best checkpoint."""
    from openai_ft.early_stop import early_stop_of

    stop = early_stop_of(ledger, row.backend, str(row.job_id))
    if stop is None:
        return row
    return replace(
        row, status="early-stopped", fine_tuned_model=stop.checkpoint or row.fine_tuned_model
    )


def _early_stop_of(ledger: Ledger, job: Any) -> EarlyStopped | None:
    from openai_ft.early_stop import early_stop_of

    return early_stop_of(ledger, str(job["backend"]), str(job["job_id"]))


def _config(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _dataset_path(ledger: Ledger, ref: Any) -> str | None:
    """The path a training file was prepared or validated at, from its ``sha256:...`` ref."""
    if not isinstance(ref, str) or not ref.startswith("sha256:"):
        return ref if isinstance(ref, str) else None
    row = ledger.one("SELECT path FROM datasets WHERE sha256 = ?", (ref[7:],))
    return str(row["path"]) if row and row["path"] else None


def _summary(run_id: str) -> dict[str, Any] | None:
    """An eval run's saved summary.json (None when its folder is gone)."""
    from openai_ft.evaluate.runs import run_dir

    path = run_dir(run_id) / "summary.json"
    try:
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _headline(run_id: str) -> str | None:
    """``exact 0.932``: the best checkpoint's score, else the last model's first score."""
    summary = _summary(run_id)
    if not summary or not summary.get("models"):
        return None
    best = summary.get("best")
    if isinstance(best, dict) and isinstance(best.get("score"), int | float):
        return f"{best['scorer']} {best['score']:.3f}"
    scores = summary["models"][-1].get("scores") or {}
    scorer = next(iter(scores), None)
    mean = scores[scorer].get("mean") if scorer else None
    return f"{scorer} {mean:.3f}" if isinstance(mean, int | float) else None


def eval_steps(ledger: Ledger, run: Any) -> list[tuple[str, str]]:
    """An eval run as (kind, text) lines: its data, scorers, each model's score, the verdicts,
    the best checkpoint and where its files are."""
    from openai_ft.evaluate.runs import run_dir
    from openai_ft.evaluate.summary import verdict

    config = _config(run["config_json"])
    steps = [("run", f"{run['id']} (eval) on {run['backend']}")]
    if config.get("data"):
        steps.append(("data", str(config["data"])))
    summary = _summary(str(run["id"]))
    if summary is None:
        steps += [("model", str(m)) for m in config.get("models") or ()]
        steps.append(("summary", f"missing: {run_dir(str(run['id']))} is gone"))
        return steps
    for m in summary.get("models") or []:
        figures = []
        for name, s in (m.get("scores") or {}).items():
            if isinstance(s.get("mean"), int | float):
                lo, hi = s.get("ci95") or (None, None)
                ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
                figures.append(f"{name} {s['mean']:.3f}{ci}")
        failed = f", {m['failed']} failed" if m.get("failed") else ""
        steps.append(("model", f"{m['model']}: {'; '.join(figures) or 'no score'}{failed}"))
    first = (
        next(iter(summary["models"][0].get("scores") or {}), None) if summary["models"] else None
    )
    steps += [
        ("verdict", verdict(c)) for c in summary.get("comparisons", []) if c["scorer"] == first
    ]
    best = summary.get("best")
    if isinstance(best, dict):
        steps.append(("best", f"{best['model']} ({best['scorer']} {best['score']:.3f})"))
    steps.append(("saved", str(run_dir(str(run["id"])))))
    steps.append(("report", f"openai-ft report {run['id']}"))
    return steps


def lineage(ledger: Ledger, ident: str) -> Lineage:
    """The chain source table -> dataset -> uploaded file -> job -> model for a run or job id;
    for an eval run, its summary (data, each model's scores, verdicts, best checkpoint)."""
    job = ledger.one(
        "SELECT * FROM jobs WHERE run_id = ? OR job_id = ? ORDER BY created_at DESC LIMIT 1",
        (ident, ident),
    )
    run = ledger.one("SELECT * FROM runs WHERE id = ?", (job["run_id"] if job else ident,))
    if job is None and run is not None and run["kind"] == "eval":
        return Lineage(str(run["id"]), tuple(eval_steps(ledger, run)))
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
        stop = _early_stop_of(ledger, job)
        if stop is not None:
            steps.append(
                ("early stop", f"best checkpoint {stop.checkpoint} (step {stop.checkpoint_step})")
            )
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
