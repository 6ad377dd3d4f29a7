"""``train``: an idempotent job create. The same inputs attach to the job they created before.

The steps: validate and hash the inputs (nothing leaves the machine); attach to the job of this
config hash if there is one (:mod:`openai_ft.job_lookup`: ledger, then job metadata); check the
budget and ask; then, under a lock per location and config, look again, upload and create once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.client import is_openai_platform
from openai_ft.cutoff import check_cutoff, check_shutdown, shutdown_date
from openai_ft.errors import BudgetExceeded, DataError, ServiceUnavailable, UsageError
from openai_ft.job_lookup import (
    HASH_KEY,
    RUN_KEY,
    Lookup,
    canonical_spec,
    config_hash,
    create_once,
    find_job,
    legacy_hash,
    lookup_by_metadata,
    plain_number,
)
from openai_ft.runs import record_job, record_run
from openai_ft.train_config import check_run_config, merge_metadata

if TYPE_CHECKING:
    import openai

    from openai_ft.catalog import Estimate
    from openai_ft.config import BackendSettings
    from openai_ft.files import ProgressCallback
    from openai_ft.store import Ledger

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


@dataclass(frozen=True)
class _Input:
    """A training or validation input before upload: a path (validated, hashed) or a file id."""

    path: Path | None
    file_id: str | None
    ident: str
    report: Any = None


def _check_input(value: str | Path, *, role: str, method: str, model: str, force: bool) -> _Input:
    """Validate a path and hash its bytes (nothing leaves the machine), or take a file id."""
    from openai_ft.catalog import resolve_model_name
    from openai_ft.files import sha256_file

    path = Path(value)
    if not path.is_file():
        text = str(value)
        if text.startswith("file-") and "/" not in text:
            return _Input(None, text, text)
        from openai_ft.dataset.validate import missing_input

        raise missing_input(path, role, ids=True)
    from openai_ft.dataset.validate import fix_tip, validate

    kind = "training" if role == "training file" else "validation"  # the 10-example minimum
    report = validate(path, method=method, model=resolve_model_name(model), role=kind)
    if not report.valid and not force:
        first = next((e for e in report.errors if e.line), report.errors[0])
        where = f"{path}:{first.line}" if first.line else str(path)
        raise DataError(
            f"{where}: {first.message} ({len(report.errors)} error(s) in all); no job created",
            tip=fix_tip(path, first, method, "or pass --force"),
        )
    return _Input(path, None, f"sha256:{sha256_file(path)}", report)


def _upload_input(
    inp: _Input | None,
    client: openai.OpenAI,
    ledger: Ledger,
    settings: BackendSettings,
    on_upload: ProgressCallback | None,
) -> str | None:
    """The file id of an input, uploading a path (once: content-addressed) when needed."""
    from openai_ft.files import upload

    if inp is None or inp.path is None:
        return inp.file_id if inp else None
    [res] = upload([inp.path], backend=settings, client=client, ledger=ledger,
                   on_progress=on_upload, validate=False)  # fmt: skip
    return res.file_id


@dataclass(frozen=True)
class _Job:
    """The settings of the job to create, resolved from arguments and the run config."""

    model: str
    method: str
    hp: dict[str, Any]
    suffix: Any
    seed: Any
    metadata: dict[str, str]
    wandb: Any
    budget: Any
    training_type: Any = None  # Azure's trainingType (Standard / Global / Developer)

    def spec(self, backend: str, training: str, validation: str | None) -> dict[str, Any]:
        """What the config hash is taken of (file contents by hash, settings as given)."""
        spec = {
            "backend": backend, "model": self.model, "method": self.method,
            "hyperparameters": self.hp, "training": training, "validation": validation,
            "suffix": self.suffix, "seed": self.seed, "metadata": self.metadata,
            "wandb_project": self.wandb,
        }  # fmt: skip
        if self.training_type is not None:  # only when set: earlier jobs keep their hash
            spec["training_type"] = str(self.training_type).lower()
        return spec

    def create_kwargs(
        self, run_id: str, digest: str, train_id: str, valid_id: str | None
    ) -> dict[str, Any]:
        """The body of ``fine_tuning.jobs.create`` (``2.0`` epochs sent as ``2``)."""
        hp = {k: plain_number(v) for k, v in self.hp.items()}
        body: dict[str, Any] = {
            "type": self.method,
            self.method: {"hyperparameters": hp} if hp else {},
        }
        kwargs: dict[str, Any] = {
            "model": self.model, "training_file": train_id, "method": body,
            "metadata": {**self.metadata, RUN_KEY: run_id, HASH_KEY: digest},
        }  # fmt: skip
        if valid_id:
            kwargs["validation_file"] = valid_id
        if self.suffix is not None:
            kwargs["suffix"] = str(self.suffix)
        if self.seed is not None:
            kwargs["seed"] = int(self.seed)
        if self.wandb:
            kwargs["integrations"] = [{"type": "wandb", "wandb": {"project": str(self.wandb)}}]
        if self.training_type is not None:
            from openai_ft.azure.training import training_type_body

            kwargs["extra_body"] = training_type_body(str(self.training_type))
        return kwargs


def _resolve_job(cfg: Mapping[str, Any], args: Mapping[str, Any]) -> _Job:
    """Flags over the run config over defaults; refuse an unknown method or a misplaced beta."""
    from openai_ft.catalog import DEFAULT_MODEL

    kind = str(_pick(args["method"], cfg, "method", "supervised"))
    if kind not in ("supervised", "dpo"):
        raise UsageError(f"unknown method {kind!r}", tip="use --method supervised or dpo")
    hp = {k: v for k in HYPERPARAMETERS if (v := _pick(args[k], cfg, k)) is not None}
    table = cfg.get("hyperparameters")
    extra = {k: v for k, v in (table if isinstance(table, Mapping) else {}).items()}
    hp.update({k: v for k, v in extra.items() if k not in HYPERPARAMETERS})
    hp.update({k: v for k, v in (args.get("hp") or {}).items() if args.get(k) is None})
    if "beta" in hp and kind != "dpo":
        raise UsageError(
            "--beta applies to --method dpo only", tip="drop --beta or add --method dpo"
        )
    return _Job(
        model=str(_pick(args["model"], cfg, "model", DEFAULT_MODEL)), method=kind, hp=hp,
        suffix=_pick(args["suffix"], cfg, "suffix"), seed=_pick(args["seed"], cfg, "seed"),
        metadata=merge_metadata(cfg.get("metadata"), args["metadata"]),
        wandb=_pick(args["wandb_project"], cfg, "wandb_project"),
        budget=_pick(args["budget_usd"], cfg, "budget_usd"),
        training_type=_pick(args.get("training_type"), cfg, "training_type"),
    )  # fmt: skip


def _model_ref(job: _Job, backend: str, ledger: Ledger) -> _Job:
    """``model="@prod"`` (an alias) or ``@latest``: train from the model the reference names."""
    if not job.model.startswith("@"):
        return job
    from openai_ft.evaluate.api import resolve_models

    [model] = resolve_models([job.model], backend, ledger)
    if model.startswith("@"):
        raise UsageError(
            f"--model {model}: not a model id or a known reference",
            tip="name a model, @latest, or an alias (`openai-ft alias list`)",
        )
    return replace(job, model=model)


def _check_budget(budget: Any, estimate: Estimate | None) -> None:
    if budget is None:
        return
    if estimate is None:
        raise UsageError(
            "cannot check --budget-usd: no cost estimate for a file given by id",
            tip="pass the training file as a path, or drop --budget-usd",
        )
    if estimate.usd > float(budget):
        raise BudgetExceeded(
            f"estimated cost ${estimate.usd:.2f} ({estimate.trained_tokens:,} trained tokens,"
            f" {estimate.n_epochs} epoch{'' if estimate.n_epochs == 1 else 's'}) is above the budget of ${float(budget):.2f}",
            tip="raise --budget-usd, use fewer epochs or a cheaper --model",
        )


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
    on_wait: Callable[[], None] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    training_type: str | None = None,
) -> TrainResult:
    """Create a fine-tuning job, or attach to the one these same inputs created before.

    The steps: validate and hash the inputs (nothing sent yet); attach if a job exists for this
    config hash; check the budget and ask; then, holding a lock for this location and config,
    look once more, upload the inputs and create the job. ``on_wait`` is called when another
    process of this machine holds that lock (it is creating the job this call will attach to).
    """
    from openai_ft.catalog import estimate_training_cost, model_info
    from openai_ft.client import make_client
    from openai_ft.config import load_run_config, resolve_backend
    from openai_ft.store import Ledger, location

    raw = config if isinstance(config, Mapping) else load_run_config(config) if config else {}
    cfg = check_run_config(raw, str(config) if isinstance(config, str | Path) else "run config")
    training = _pick(training_file, cfg, "training_file")
    if training is None:
        raise UsageError("no training file given", tip="pass --training-file PATH or a file id")
    validation = _pick(validation_file, cfg, "validation_file")
    args = {
        "model": model, "method": method, "n_epochs": n_epochs, "batch_size": batch_size,
        "learning_rate_multiplier": learning_rate_multiplier, "beta": beta, "suffix": suffix,
        "seed": seed, "metadata": metadata, "wandb_project": wandb_project,
        "budget_usd": budget_usd, "hp": hyperparameters, "training_type": training_type,
    }  # fmt: skip
    job = _resolve_job(cfg, args)
    settings = resolve_backend(backend, base_url, dict(cfg))
    from openai_ft.azure.training import check_azure_options

    check_azure_options(settings.name, job.method, job.hp, job.training_type, job.suffix)
    cli = client or make_client(settings)
    book = ledger or Ledger()
    job = _model_ref(job, settings.name, book)
    check = dict(method=job.method, model=job.model, force=force)
    train_in = _check_input(training, role="training file", **check)  # type: ignore[arg-type]
    valid_in = _check_input(validation, role="validation file", **check) if validation else None  # type: ignore[arg-type]
    spec = job.spec(settings.name, train_in.ident, valid_in.ident if valid_in else None)
    digest = config_hash(spec)
    where = location(cli)
    lookup = Lookup(cli, book, settings.name, where, (digest, legacy_hash(spec)))
    estimate = None
    if train_in.report is not None:
        epochs = job.hp.get("n_epochs", "auto")
        report = train_in.report
        per_epoch = report.estimate.tokens_per_epoch  # each example capped at the context limit
        estimate = estimate_training_cost(per_epoch, report.examples, job.model, epochs)

    def result(
        found: Any, run_id: str | None, attached: bool, notices: tuple[str, ...] = ()
    ) -> TrainResult:
        return TrainResult(
            found.id, run_id, attached, str(found.status), str(found.model),
            found.fine_tuned_model, str(found.training_file), found.validation_file, digest,
            estimate, notices,
        )  # fmt: skip

    if not new and (found := lookup.find()) is not None:
        return result(found, (found.metadata or {}).get(RUN_KEY), True)
    _check_budget(job.budget, estimate)
    azure = settings.backend == "azure"
    notices = _platform_checks(cli, job.model, model_info(job.model).shutdown_date, clock, azure)
    plan = Plan(job.model, job.method, str(training), str(validation) if validation else None,
                job.hp, estimate, notices)  # fmt: skip
    if confirm is not None and not confirm(plan):
        raise UsageError("no job created: declined at the prompt", tip="pass --yes to skip it")
    # One create per location and config on this machine: a second process waits here, then
    # finds the first one's job. Across machines only the metadata lookup guards (a race window).
    name = f"train {settings.name} {where} {digest}"
    guard = book.hold(name, on_wait) if not new else nullcontext()
    with guard:
        if not new and (found := lookup.find()) is not None:
            return result(found, (found.metadata or {}).get(RUN_KEY), True, notices)
        train_id = _upload_input(train_in, cli, book, settings, on_upload)
        valid_id = _upload_input(valid_in, cli, book, settings, on_upload)
        run_id = "run-" + secrets.token_hex(6)
        kwargs = job.create_kwargs(run_id, digest, str(train_id), valid_id)
        created = _create(cli, book, kwargs, run_id, spec, settings.name, where, sleep)
    return result(created, run_id, False, notices)


def _create(
    client: openai.OpenAI,
    ledger: Ledger,
    kwargs: dict[str, Any],
    run_id: str,
    spec: dict[str, Any],
    backend: str,
    where: str,
    sleep: Callable[[float], None],
) -> Any:
    """Record the run, create the job (never twice), record the job."""
    record_run(ledger, run_id, backend, spec)
    try:
        job = create_once(client, kwargs, run_id, sleep=sleep)
    except BaseException as exc:
        # A refused create leaves no job; after a lost answer the job may exist: say unknown.
        lost = isinstance(exc, ServiceUnavailable | KeyboardInterrupt)
        ledger.execute("UPDATE runs SET status = ? WHERE id = ?",
                       ("unknown" if lost else "not_created", run_id))  # fmt: skip
        raise
    record_job(ledger, backend, job, run_id=run_id, config_hash=kwargs["metadata"][HASH_KEY],
               config=spec, location=where)  # fmt: skip
    return job


def _platform_checks(
    client: Any,
    model: str,
    catalog_date: str | None,
    clock: Callable[[], float],
    azure: bool = False,
) -> tuple[str, ...]:
    """The cut-off (api.openai.com only) and the model's shutdown date, as notices (on Azure the
    retirement dates ARM lists for the account's region, when it can be asked)."""
    if azure:
        from openai_ft.azure.training import arm_retirement
        from openai_ft.catalog import PRICE_TABLE_DATE, model_field

        dates = arm_retirement(model)
        words = {"fineTune": "fine-tuning", "inference": "inference"}
        if dates:
            return tuple(f"{model}: Azure retires {words[k]} on {v[:10]}" for k, v in dates.items())
        table = model_field(model, "azure_fine_tune_retirement")  # ARM not reachable: dated table
        if table:
            return (
                f"{model}: Azure retires fine-tuning no earlier than {table}"
                f" (table of {PRICE_TABLE_DATE}; ARM gives the current date)",
            )
    on_platform = is_openai_platform(client)
    if on_platform:
        check_cutoff(clock)
    date = shutdown_date(client, model, catalog_date)
    if on_platform:
        notice = check_shutdown(model, date, clock)
    else:
        notice = f"{model} shuts down on {date}" if date else None
    return (notice,) if notice else ()


__all__ = [
    "HASH_KEY", "RUN_KEY", "Plan", "TrainResult", "canonical_spec", "config_hash", "create_once",
    "find_job", "lookup_by_metadata", "train",
]  # fmt: skip
