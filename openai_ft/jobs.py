"""``train``: an idempotent job create. The same inputs attach to the job they created before.

The job carries our run id and config hash in its ``metadata``. Before creating we look for the
hash in the ledger, then (when the ledger was lost) with ``jobs.list(metadata=...)``. The create
itself runs without SDK retries; after an ambiguous failure (lost answer, 5xx) we look for our
run id on the service before trying again, so a retry never starts a second paid job.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.client import creating, is_openai_platform, map_error
from openai_ft.cutoff import check_cutoff, check_shutdown, explain_refusal, shutdown_date
from openai_ft.errors import (
    BudgetExceeded,
    DataError,
    InputError,
    NotFound,
    ServiceUnavailable,
    UsageError,
)
from openai_ft.runs import record_job, record_run
from openai_ft.train_config import check_run_config, merge_metadata

if TYPE_CHECKING:
    import openai

    from openai_ft.catalog import Estimate
    from openai_ft.config import BackendSettings
    from openai_ft.files import ProgressCallback
    from openai_ft.store import Ledger

RUN_KEY = "openai_ft_run"
HASH_KEY = "openai_ft_config"
CREATE_ATTEMPTS = 3
HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")


@dataclass(frozen=True)
class Plan:
    """What a new job would be; shown before the confirmation prompt."""

    model: str
    method: str
    training_file: str
    validation_file: str | None
    hyperparameters: Mapping[str, Any]
    estimate: Estimate | None
    notices: tuple[str, ...]


@dataclass(frozen=True)
class TrainResult:
    """The job a ``train`` call created or attached to."""

    job_id: str
    run_id: str | None
    attached: bool
    status: str
    model: str
    fine_tuned_model: str | None
    training_file: str
    validation_file: str | None
    config_hash: str
    estimate: Estimate | None = None
    notices: tuple[str, ...] = field(default=())


def _pick(arg: Any, cfg: Mapping[str, Any], key: str, default: Any = None) -> Any:
    if arg is not None:
        return arg
    hp = cfg.get("hyperparameters")
    if isinstance(hp, Mapping) and key in hp:
        return hp[key]
    return cfg.get(key, default)


def config_hash(spec: Mapping[str, Any]) -> str:
    """A stable hash of a job's inputs (file contents by hash, not by path)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _resolve_input(
    value: str | Path,
    *,
    role: str,
    method: str,
    model: str,
    force: bool,
    client: openai.OpenAI,
    ledger: Ledger,
    settings: BackendSettings,
    on_upload: ProgressCallback | None,
) -> tuple[str, str, Any]:
    """(file id, identity for the hash, validation report or None) for a path or a file id."""
    from openai_ft.catalog import resolve_model_name
    from openai_ft.files import upload

    path = Path(value)
    if not path.is_file():
        text = str(value)
        if text.startswith("file-") and "/" not in text:
            return text, text, None
        raise InputError(f"{path}: {role} not found", tip="give a JSONL path or a file-... id")
    from openai_ft.dataset.validate import validate

    report = validate(path, method=method, model=resolve_model_name(model))
    if not report.valid and not force:
        first = next((e for e in report.errors if e.line), report.errors[0])
        where = f"{path}:{first.line}" if first.line else str(path)
        raise DataError(
            f"{where}: {first.message} ({len(report.errors)} error(s) in all); no job created",
            tip=f"run `openai-ft validate {path}` to see every problem, or pass --force",
        )
    [res] = upload(
        [path], backend=settings, client=client, ledger=ledger, on_progress=on_upload,
        validate=False,
    )  # fmt: skip
    return res.file_id, f"sha256:{res.sha256}", report


def train(
    training_file: str | Path | None = None,
    validation_file: str | Path | None = None,
    *,
    model: str | None = None,
    method: str | None = None,
    n_epochs: int | str | None = None,
    batch_size: int | str | None = None,
    learning_rate_multiplier: float | str | None = None,
    beta: float | str | None = None,
    suffix: str | None = None,
    seed: int | None = None,
    metadata: Mapping[str, str] | None = None,
    wandb_project: str | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    new: bool = False,
    budget_usd: float | None = None,
    force: bool = False,
    confirm: Callable[[Plan], bool] | None = None,
    backend: str | None = None,
    base_url: str | None = None,
    client: openai.OpenAI | None = None,
    ledger: Ledger | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    on_upload: ProgressCallback | None = None,
) -> TrainResult:
    """Create a fine-tuning job, or attach to the one these same inputs created before."""
    from openai_ft.catalog import DEFAULT_MODEL, estimate_training_cost, model_info
    from openai_ft.client import make_client
    from openai_ft.config import load_run_config, resolve_backend
    from openai_ft.store import Ledger

    raw = config if isinstance(config, Mapping) else load_run_config(config) if config else {}
    cfg = check_run_config(raw, str(config) if isinstance(config, str | Path) else "run config")
    training = _pick(training_file, cfg, "training_file")
    if training is None:
        raise UsageError("no training file given", tip="pass --training-file PATH or a file id")
    validation = _pick(validation_file, cfg, "validation_file")
    model_name = str(_pick(model, cfg, "model", DEFAULT_MODEL))
    kind = str(_pick(method, cfg, "method", "supervised"))
    if kind not in ("supervised", "dpo"):
        raise UsageError(f"unknown method {kind!r}", tip="use --method supervised or dpo")
    hp = {
        k: v
        for k, v in {
            "n_epochs": _pick(n_epochs, cfg, "n_epochs"),
            "batch_size": _pick(batch_size, cfg, "batch_size"),
            "learning_rate_multiplier": _pick(
                learning_rate_multiplier, cfg, "learning_rate_multiplier"
            ),
            "beta": _pick(beta, cfg, "beta"),
        }.items()
        if v is not None
    }
    if "beta" in hp and kind != "dpo":
        raise UsageError(
            "--beta applies to --method dpo only", tip="drop --beta or add --method dpo"
        )
    suffix_v = _pick(suffix, cfg, "suffix")
    seed_v = _pick(seed, cfg, "seed")
    user_meta = merge_metadata(cfg.get("metadata"), metadata)
    wandb = _pick(wandb_project, cfg, "wandb_project")
    budget = _pick(budget_usd, cfg, "budget_usd")

    settings = resolve_backend(backend, base_url, dict(cfg))
    cli = client or make_client(settings)
    book = ledger or Ledger()
    common = dict(method=kind, model=model_name, force=force, client=cli, ledger=book,
                  settings=settings, on_upload=on_upload)  # fmt: skip
    train_id, train_ident, report = _resolve_input(training, role="training file", **common)  # type: ignore[arg-type]
    valid_id, valid_ident = None, None
    if validation is not None:
        valid_id, valid_ident, _ = _resolve_input(validation, role="validation file", **common)  # type: ignore[arg-type]

    spec = {
        "backend": settings.name, "model": model_name, "method": kind, "hyperparameters": hp,
        "training": train_ident, "validation": valid_ident, "suffix": suffix_v, "seed": seed_v,
        "metadata": user_meta, "wandb_project": wandb,
    }  # fmt: skip
    digest = config_hash(spec)
    estimate = None
    if report is not None:
        epochs = hp.get("n_epochs", "auto")
        estimate = estimate_training_cost(report.tokens.total, report.examples, model_name, epochs)

    def result(
        job: Any, run_id: str | None, attached: bool, notices: tuple[str, ...] = ()
    ) -> TrainResult:
        return TrainResult(
            job.id, run_id, attached, str(job.status), str(job.model), job.fine_tuned_model,
            train_id, valid_id, digest, estimate, notices,
        )  # fmt: skip

    if not new:
        found = find_job(cli, book, settings.name, digest)
        if found is not None:
            meta = found.metadata or {}
            return result(found, meta.get(RUN_KEY), True)

    if budget is not None:
        if estimate is None:
            raise UsageError(
                "cannot check --budget-usd: no cost estimate for a file given by id",
                tip="pass the training file as a path, or drop --budget-usd",
            )
        if estimate.usd > float(budget):
            raise BudgetExceeded(
                f"estimated cost ${estimate.usd:.2f} ({estimate.trained_tokens:,} trained tokens,"
                f" {estimate.n_epochs} epochs) is above the budget of ${float(budget):.2f}",
                tip="raise --budget-usd, use fewer epochs or a cheaper --model",
            )
    notices = _platform_checks(cli, model_name, model_info(model_name).shutdown_date, clock)
    plan = Plan(model_name, kind, str(training), str(validation) if validation else None, hp,
                estimate, notices)  # fmt: skip
    if confirm is not None and not confirm(plan):
        raise UsageError("no job created: declined at the prompt", tip="pass --yes to skip it")

    run_id = "run-" + secrets.token_hex(6)
    method_body: dict[str, Any] = {"type": kind, kind: {"hyperparameters": hp} if hp else {}}
    kwargs: dict[str, Any] = {
        "model": model_name, "training_file": train_id, "method": method_body,
        "metadata": {**user_meta, RUN_KEY: run_id, HASH_KEY: digest},
    }  # fmt: skip
    if valid_id:
        kwargs["validation_file"] = valid_id
    if suffix_v is not None:
        kwargs["suffix"] = str(suffix_v)
    if seed_v is not None:
        kwargs["seed"] = int(seed_v)
    if wandb:
        kwargs["integrations"] = [{"type": "wandb", "wandb": {"project": str(wandb)}}]
    record_run(book, run_id, settings.name, spec)
    try:
        job = create_once(cli, kwargs, run_id, sleep=sleep)
    except BaseException as exc:
        # A refused create leaves no job; after a lost answer the job may exist: say unknown.
        lost = isinstance(exc, ServiceUnavailable | KeyboardInterrupt)
        book.execute("UPDATE runs SET status = ? WHERE id = ?",
                     ("unknown" if lost else "not_created", run_id))  # fmt: skip
        raise
    record_job(book, settings.name, job, run_id=run_id, config_hash=digest, config=spec)
    return result(job, run_id, False, notices)


def _platform_checks(
    client: Any, model: str, catalog_date: str | None, clock: Callable[[], float]
) -> tuple[str, ...]:
    """The cut-off (api.openai.com only) and the model's shutdown date, as notices."""
    on_platform = is_openai_platform(client)
    if on_platform:
        check_cutoff(clock)
    date = shutdown_date(client, model, catalog_date)
    if on_platform:
        notice = check_shutdown(model, date, clock)
    else:
        notice = f"{model} shuts down on {date}" if date else None
    return (notice,) if notice else ()


def find_job(client: openai.OpenAI, ledger: Ledger, backend: str, digest: str) -> Any | None:
    """The job created for this config hash: from the ledger, else from the service's metadata."""
    rows = ledger.query(
        "SELECT job_id FROM jobs WHERE backend = ? AND config_hash = ? ORDER BY created_at DESC",
        (backend, digest),
    )
    for row in rows:
        try:
            job = client.fine_tuning.jobs.retrieve(row["job_id"])
        except Exception as exc:
            err = map_error(exc, f"checking job {row['job_id']}")
            if isinstance(err, NotFound):
                ledger.execute("DELETE FROM jobs WHERE backend = ? AND job_id = ?",
                               (backend, row["job_id"]))  # fmt: skip
                continue
            raise err from exc
        record_job(ledger, backend, job)
        return job
    found = lookup_by_metadata(client, HASH_KEY, digest)
    if found is not None:
        record_job(ledger, backend, found)
    return found


def lookup_by_metadata(client: openai.OpenAI, key: str, value: str, scan: int = 500) -> Any | None:
    """The newest job whose metadata has ``key == value`` (filtered on the service and here)."""
    try:
        for i, job in enumerate(client.fine_tuning.jobs.list(metadata={key: value}, limit=50)):
            if (job.metadata or {}).get(key) == value:
                return job
            if i >= scan:
                break
    except Exception as exc:
        raise map_error(exc, "listing fine-tuning jobs") from exc
    return None


def create_once(
    client: openai.OpenAI,
    kwargs: dict[str, Any],
    run_id: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = CREATE_ATTEMPTS,
) -> Any:
    """Create a job without SDK retries; after a lost answer, find it by run id or try again."""
    last: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            sleep(2.0**attempt)
            found = lookup_by_metadata(client, RUN_KEY, run_id)
            if found is not None:
                return found
        try:
            return creating(client).fine_tuning.jobs.create(**kwargs)
        except Exception as exc:
            err = map_error(exc, "creating the fine-tuning job")
            if not isinstance(err, ServiceUnavailable):
                raise (explain_refusal(err) if is_openai_platform(client) else err) from exc
            last = err
    assert last is not None
    raise last
