"""``retrain()``: prepare, diff, train, compare, promote (the steps as one list)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.errors import InputError, JobFailed, OpenAIFTError, UsageError
from openai_ft.retrain.compare import SetScore, compare, decide
from openai_ft.retrain.data import Prepared, prepare_retrain
from openai_ft.retrain.previous import Previous, find_previous

if TYPE_CHECKING:
    from openai_ft.jobs import Plan
    from openai_ft.store import Ledger
    from openai_ft.watch_types import WatchEvent


class Refused(OpenAIFTError):
    """The new model was not promoted: worse than the old one, or under --fail-under (exit 1)."""

    exit_code = 1


class Detached(OpenAIFTError):
    """Ctrl-C while the new job trains: it keeps running, a rerun attaches (exit 130)."""

    exit_code = 130


@dataclass(frozen=True)
class RetrainResult:
    """What retrain did: the data diff, the job, both models' scores, and the promotion."""

    from_run: str
    mode: str
    old_model: str
    new_model: str | None
    job_id: str
    attached: bool
    prepared: Prepared
    scorer: str
    margin: float
    fail_under: float | None
    sets: list[SetScore]
    eval_run: str | None
    passed: bool
    promoted: bool
    alias: str | None
    reason: str


def retrain(
    table: str | Path,
    *,
    from_run: str,
    fresh: bool = False,
    margin: float = 0.02,
    fail_under: float | None = None,
    promote: str | None = "prod",
    scorer: str = "exact",
    out_dir: str | Path | None = None,
    backend: str | None = None,
    base_url: str | None = None,
    client: Any = None,
    async_client: Any = None,
    ledger: Ledger | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    on_prepared: Callable[[Prepared], None] | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
    on_upload: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = 5.0,
) -> RetrainResult:
    """Prepare, diff, train, compare and promote (see the module docstring); idempotent: a rerun
    of the same table attaches to its job and finds its answers in the ledger."""
    from openai_ft.aliases import check_name
    from openai_ft.client import make_client
    from openai_ft.config import resolve_backend
    from openai_ft.store import Ledger

    if not (math.isfinite(margin) and margin >= 0):
        raise UsageError(
            f"--margin {margin}: must be a number, 0 or more", tip="e.g. --margin 0.02"
        )
    alias_name = check_name(promote) if promote else None
    if not Path(table).is_file():
        raise InputError(f"{table}: table not found", tip="give the path of the new table")
    settings = resolve_backend(backend, base_url)
    cli = client or make_client(settings)
    book = ledger or Ledger()
    try:
        prev = find_previous(from_run, settings.name, book, cli)
        src = Path(table)
        out = Path(out_dir) if out_dir else src.parent / f"{src.stem}.retrain"
        prepared = prepare_retrain(src, prev, out)
        if on_prepared is not None:
            on_prepared(prepared)
        job = _train(prepared, prev, fresh, settings, cli, book, confirm, on_upload)
        model = job.fine_tuned_model
        if job.status != "succeeded":
            model = _wait(job.job_id, cli, settings.name, book, on_event, sleep, poll_interval)
        kw = {"client": async_client} if async_client is not None else {}
        run, sets = compare(prepared, prev.model, model, scorer, settings, book, **kw)
        ok, why = decide(sets, scorer, margin, fail_under)
        reason = f"retrain of {prev.run_id or prev.job_id} ({job.job_id}): {why}"
        if ok and alias_name:
            _promote(alias_name, model, settings.name, reason, book)
        return RetrainResult(
            from_run,
            "fresh" if fresh else "continue",
            prev.model,
            model,
            job.job_id,
            job.attached,
            prepared,
            scorer,
            margin,
            fail_under,
            sets,
            run,
            ok,
            ok and alias_name is not None,
            alias_name,
            reason,
        )
    finally:
        if ledger is None:
            book.close()


def _promote(name: str, model: str, backend: str, reason: str, ledger: Ledger) -> None:
    """Point the alias at the model, unless it already does (a rerun adds no history entry)."""
    from openai_ft.aliases import get_alias, set_alias
    from openai_ft.errors import NotFound

    try:
        current = get_alias(name, ledger=ledger)
    except NotFound:
        current = None
    if current is None or (current.model, current.backend) != (model, backend):
        set_alias(name, model, backend=backend, reason=reason, ledger=ledger)


def _train(
    prepared: Prepared,
    prev: Previous,
    fresh: bool,
    settings: Any,
    client: Any,
    ledger: Ledger,
    confirm: Any,
    on_upload: Any,
) -> Any:
    """An ordinary idempotent train of the new splits with the earlier run's job settings."""
    from openai_ft.jobs import train

    spec = prev.spec
    return train(
        prepared.files["train"],
        prepared.files.get("validation"),
        model=prev.base_model if fresh else prev.model,
        method=spec.get("method"),
        hyperparameters=spec.get("hyperparameters") or None,
        suffix=spec.get("suffix"),
        seed=spec.get("seed"),
        metadata=spec.get("metadata") or None,
        backend=settings.backend,
        base_url=settings.base_url,
        client=client,
        ledger=ledger,
        confirm=confirm,
        on_upload=on_upload,
    )


def _wait(
    job_id: str,
    client: Any,
    backend: str,
    ledger: Ledger,
    on_event: Any,
    sleep: Callable[[float], None],
    poll: float,
) -> str:
    """Follow the new job to its end; its fine-tuned model, or JobFailed."""
    from openai_ft.watch import watch

    res = watch(
        job_id,
        client=client,
        on_event=on_event,
        sleep=sleep,
        poll_interval=poll,
        backend=backend,
        ledger=ledger,
    )
    if res.interrupted:
        raise Detached(
            f"stopped watching; job {job_id} keeps running, nothing was compared or promoted",
            tip="run the same retrain command again: it attaches to the job and goes on",
        )
    if not res.succeeded or not res.fine_tuned_model:
        why = f": {res.error.code}: {res.error.message}" if res.error else ""
        raise JobFailed(
            f"job {job_id} ended {res.status}{why}; nothing was compared or promoted",
            tip=f"see `openai-ft status {job_id}`; the same table attaches to this job again,"
            " so fix the data (a changed table trains anew)",
        )
    return res.fine_tuned_model
