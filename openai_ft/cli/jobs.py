"""upload, train, watch and the job commands: parse, call the library, hand results to the console."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from openai_ft.cli._jobs_common import (
    _asdict,
    _backend_options,
    _client,
    _out,
    check_train_values,
    job_id_arg,
    positive_seconds,
)
from openai_ft.errors import JobFailed, UsageError


@click.command("upload")
@click.argument("files", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Upload even if validation finds errors.")
@click.option(
    "--method",
    type=click.Choice(["supervised", "dpo"]),
    default="supervised",
    show_default=True,
    help="Training format to validate the files against (dpo: preference pairs).",
)
@click.option("--model", default=None, help="Model to validate the token limits against.")
@_backend_options
def upload_cmd(
    files: tuple[str, ...], force: bool, method: str, model: str | None,
    backend: str | None, base_url: str | None, as_json: bool,
) -> int:  # fmt: skip
    """Validate and upload training files; the same bytes are uploaded only once."""
    from openai_ft.console.jobs import upload_progress
    from openai_ft.files import upload

    settings, client = _client(backend, base_url)
    on_progress, close = upload_progress()
    try:
        results = upload(list(files), backend=settings, client=client, force=force,
                         method=method, model=model, on_progress=on_progress)  # fmt: skip
    finally:
        close()
    for r in results:
        for w in r.warnings:
            click.echo(f"WARNING {w}", err=True)
    if as_json:
        _out([_asdict(r) for r in results])
    elif all(r.reused for r in results):
        click.echo("nothing to do: already uploaded", err=True)
    for r in results if not as_json else ():
        note = "already uploaded" if r.reused else f"uploaded {r.bytes:,} bytes"
        click.echo(f"{r.file_id}  {r.path}  ({note})")
    return 0


def _number(text: str | None) -> int | float | str | None:
    if text is None or text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"not a number: {text!r}", tip="use a number or 'auto'") from None


def _hp_pair(item: str) -> tuple[str, Any]:
    """``--hp KEY=VALUE``: a number, ``auto``, a word, or a comma list (``q_proj,v_proj``)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip() or not text.strip():
        raise UsageError(f"--hp {item!r} is not KEY=VALUE", tip="for example --hp lora_rank=8")
    text = text.strip()
    if "," in text:
        return key.strip(), [t.strip() for t in text.split(",") if t.strip()]
    try:
        return key.strip(), _number(text)
    except UsageError:
        return key.strip(), text


def _whole(text: str | None) -> int | str | None:
    value = _number(text)
    if isinstance(value, float):
        if not value.is_integer():
            raise UsageError(f"not a whole number: {text!r}", tip="use a whole number or 'auto'")
        return int(value)  # "2.0" epochs is 2
    return value


@click.command("train")
@click.option("--training-file", default=None, help="JSONL path (uploaded as needed) or file id.")
@click.option("--validation-file", default=None, help="JSONL path or file id.")
@click.option("--model", default=None, help="Base model, or ft:... / @alias to continue from.")
@click.option("--method", type=click.Choice(["supervised", "dpo"]), default=None,
              help="Training method (default: supervised, or the run config's).")  # fmt: skip
@click.option("--n-epochs", default=None, help="Epochs, or 'auto'.")
@click.option("--batch-size", default=None, help="Batch size, or 'auto'.")
@click.option("--learning-rate-multiplier", default=None, help="LR multiplier, or 'auto'.")
@click.option("--beta", default=None, help="DPO beta, or 'auto'.")
@click.option("--hp", "hp", multiple=True, metavar="KEY=VALUE",
              help="Any other hyperparameter (open-weight models: lora_rank=8...), repeatable.")  # fmt: skip
@click.option("--suffix", default=None,
              help="Up to 64 characters in the model's name (ft:...:SUFFIX:...).")  # fmt: skip
@click.option("--training-type", type=click.Choice(["standard", "global", "developer"]),
              default=None, help="Azure OpenAI only: where and at what price the job trains.")  # fmt: skip
@click.option("--seed", type=int, default=None, help="Training seed, for a repeatable job.")
@click.option("--metadata", "meta", multiple=True, help="k=v, repeatable.")
@click.option("--wandb-project", default=None, help="Pass OpenAI's W&B integration through.")
@click.option("--config", "config_path", default=None, help="TOML run config (flags override).")
@click.option("--new", is_flag=True, help="Create a fresh job even if one exists for these inputs.")
@click.option("--budget-usd", type=float, default=None, help="Refuse if the estimate is higher.")
@click.option("--force", is_flag=True, help="Train even if validation finds errors.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--wait/--no-wait", default=None, help="Watch the job (default on a terminal).")
@click.option("--early-stop", type=click.IntRange(min=1), default=None, metavar="PATIENCE",
              help="Cancel when validation loss has not improved for PATIENCE validation steps.")  # fmt: skip
@_backend_options
def train_cmd(**o: Any) -> int:
    """Create a fine-tuning job (or attach to the one these inputs created) and watch it."""
    from openai_ft.config import load_run_config
    from openai_ft.console.jobs import upload_progress
    from openai_ft.jobs import Plan, train
    from openai_ft.train_config import check_run_config

    cfg = check_run_config(load_run_config(o["config_path"]), o["config_path"] or "run config")
    check_train_values(o, cfg, o["config_path"] or "run config")
    meta = {}
    for item in o["meta"]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(
                f"--metadata {item!r} is not k=v", tip="for example --metadata team=support"
            )
        meta[key] = value
    hp = dict(_hp_pair(item) for item in o["hp"])
    wait = o["wait"] if o["wait"] is not None else sys.stderr.isatty()
    if o["early_stop"] is not None and not wait:
        raise UsageError(
            "--early-stop needs --wait",
            tip="add --wait, or run `openai-ft watch JOB --early-stop N`",
        )
    if o["early_stop"] is not None and not (o["validation_file"] or cfg.get("validation_file")):
        raise UsageError(
            "--early-stop needs a validation file: it watches the validation loss",
            tip="add --validation-file PATH (for example out/data/validation.jsonl)",
        )
    settings, client = _client(o["backend"], o["base_url"], cfg)
    ask = not o["yes"] and sys.stdin.isatty()
    bar: list[Any] = []  # started by the first upload event: uploads come after the prompt

    def on_progress(p: Any) -> None:
        if not bar:
            bar.extend(upload_progress())
        bar[0](p)

    def close() -> None:
        if bar:
            bar[1]()

    def confirm(plan: Plan) -> bool:
        from openai_ft.console import plural

        # The estimate is shown before anything is uploaded or created, prompt or not.
        est = plan.estimate
        cost = (
            f"~${est.usd:.2f} ({est.trained_tokens:,} trained tokens, {plural(est.n_epochs, 'epoch')})"
            if est
            else "unknown (training file given by id)"
        )
        for notice in plan.notices:
            click.echo(f"NOTE {notice}", err=True)
        if not ask:
            click.echo(f"estimate: {plan.method} job on {plan.model}, cost {cost}", err=True)
            return True
        return click.confirm(f"Create a {plan.method} job on {plan.model}, cost {cost}?", err=True)

    try:
        res = train(
            o["training_file"], o["validation_file"], model=o["model"], method=o["method"],
            n_epochs=_whole(o["n_epochs"]), batch_size=_whole(o["batch_size"]),
            learning_rate_multiplier=_number(o["learning_rate_multiplier"]),
            beta=_number(o["beta"]), suffix=o["suffix"], seed=o["seed"], metadata=meta or None,
            wandb_project=o["wandb_project"], config=cfg, new=o["new"],
            budget_usd=o["budget_usd"], force=o["force"], confirm=confirm,
            client=client, backend=settings.backend, base_url=settings.base_url,
            on_upload=on_progress, hyperparameters=hp or None, training_type=o["training_type"],
            on_wait=lambda: click.echo(_WAITING, err=True),
        )  # fmt: skip
    finally:
        close()
    if res.attached and res.status == "succeeded":
        click.echo(
            f"nothing to do: job {res.job_id} already succeeded: model {res.fine_tuned_model}",
            err=True,
        )
    elif res.attached and (stop := _early_stopped(settings.name, res)) is not None:
        return _rerun_after_early_stop(res, stop, o["as_json"])
    elif res.attached and res.status in ("failed", "cancelled"):
        # Decided: a rerun never pays twice, not even after a failure; retraining is explicit.
        if o["as_json"]:
            _out(_asdict(res))
        else:
            click.echo(res.job_id)
        raise _ended_before(client, res.job_id, res.status)
    elif res.attached:
        click.echo(
            f"attached to job {res.job_id} ({res.status}) created earlier for these inputs;"
            " pass --new to train a fresh (paid) job instead",
            err=True,
        )
    elif res.estimate:
        click.echo(f"created job {res.job_id} (estimate ${res.estimate.usd:.2f})", err=True)
    if wait and res.status not in ("succeeded", "failed", "cancelled"):
        poll = 0.5 if settings.backend == "local" and not settings.base_url else 5.0
        # With --json, stdout gets one document: the train result as the job ended.
        final = _asdict(res) if o["as_json"] else None
        if final is None:
            click.echo(res.job_id)
        return _watch(client, settings.name, res.job_id, o["early_stop"], poll, False, final,
                      _detached(settings))  # fmt: skip
    if o["as_json"]:
        _out(_asdict(res))
    else:
        click.echo(
            res.fine_tuned_model
            if res.status == "succeeded" and res.fine_tuned_model
            else res.job_id
        )
    return 0 if res.status not in ("failed", "cancelled") else 1


_WAITING = (
    "waiting: another `openai-ft train` of these inputs on this machine is uploading and"
    " creating the job; this one attaches to it"
)


def _early_stopped(backend: str, res: Any) -> Any:
    """The early stop recorded for a cancelled job (None for any other job)."""
    if res.status != "cancelled":
        return None
    from openai_ft.early_stop import early_stop_of
    from openai_ft.store import Ledger

    return early_stop_of(Ledger(), backend, res.job_id)


def _rerun_after_early_stop(res: Any, stop: Any, as_json: bool) -> int:
    """A rerun of a train that early stopping ended: the same success, the same checkpoint."""
    from openai_ft.console.jobs import early_stop_text

    click.echo(
        f"nothing to do: job {res.job_id}, created earlier for these inputs, was stopped early",
        err=True,
    )
    click.echo(early_stop_text(stop), err=True)
    if as_json:
        _out({**_asdict(res), "early_stop": _asdict(stop), "best_checkpoint": stop.checkpoint})
    elif stop.checkpoint:
        click.echo(stop.checkpoint)
    if stop.checkpoint:
        return 0
    raise JobFailed(
        f"job {res.job_id} was stopped early, but none of its checkpoints is usable",
        tip="pass --new to train again (a new, paid job)",
    )


def _ended_before(client: Any, job_id: str, status: str) -> JobFailed:
    """The error for a rerun whose earlier job (same inputs) failed or was cancelled."""
    from openai_ft.job_ops import job_status

    info = job_status(client, job_id)
    why = f": {info.error}" if info.error else ""
    return JobFailed(
        f"job {job_id}, created earlier for these same inputs, ended {status}{why};"
        " not creating another paid job",
        tip="pass --new to retrain (a new, paid job), or fix the data or settings first",
    )


# Looked up at call time so that tests can advance the local service instead of sleeping.
SLEEP = time.sleep


def _watch(
    client: Any,
    backend: str,
    job_id: str,
    early_stop: int | None,
    poll: float,
    as_json: bool,
    train_json: dict[str, Any] | None = None,
    detached: bool = True,
) -> int:
    from openai_ft.console.jobs import WatchView
    from openai_ft.watch import watch

    with WatchView() as view:  # it prints every event, the early stop too, once
        res = watch(job_id, client=client, on_event=view, early_stop=early_stop,
                    poll_interval=poll, backend=backend, sleep=lambda s: SLEEP(s))  # fmt: skip
    if res.interrupted:
        click.echo(_after_ctrl_c(job_id, detached), err=True)
        return 130
    best = res.early_stop.checkpoint if res.early_stop else None
    if as_json:
        _out(_asdict(res))
    elif train_json is not None:
        _out({**train_json, "status": res.status, "fine_tuned_model": res.fine_tuned_model,
              "early_stop": _asdict(res.early_stop), "best_checkpoint": best})  # fmt: skip
    if res.succeeded or best:
        # An early stop is a success: the job was cancelled on purpose; its best checkpoint
        # is the model to use (printed like a fine-tuned model, for scripts).
        if not as_json and train_json is None:
            click.echo(res.fine_tuned_model or best)
        return 0
    if res.error:
        where = f" at {res.error.location}" if res.error.location else ""
        param = f" (param {res.error.param})" if res.error.param else ""
        raise JobFailed(
            f"job {job_id} failed{where}: {res.error.code}: {res.error.message}{param}",
            tip="fix the data and run `openai-ft train` again" if res.error.location else None,
        )
    if res.early_stop:
        raise JobFailed(
            f"job {job_id} was stopped early, but none of its checkpoints is usable",
            tip=f"see `openai-ft checkpoints {job_id}`; pass --new to train again",
        )
    raise JobFailed(f"job {job_id} ended {res.status}", tip="see `openai-ft status " + job_id + "`")


def _detached(settings: Any) -> bool:
    """Whether the job outlives this command: always on a service; for the in-process local
    backend only when jobs run in processes of their own (not with OPENAI_FT_LOCAL_DETACH=0)."""
    if settings.backend != "local" or settings.base_url:
        return True
    from openai_ft.client import local_service

    return local_service(settings.home).launcher is not None


def _after_ctrl_c(job_id: str, detached: bool) -> str:
    """What Ctrl-C in watch did to the job, truthfully, and the commands that come next."""
    if detached:
        head = f"stopped watching; job {job_id} keeps running."
    else:
        head = (
            f"stopped watching; job {job_id} trains inside this command"
            " (OPENAI_FT_LOCAL_DETACH=0), so it pauses now and continues once an openai-ft"
            " command uses this state folder again."
        )
    return f"{head}\n  reattach: openai-ft watch {job_id}\n  cancel:   openai-ft cancel {job_id}"


@click.command("watch")
@click.argument("job_id", callback=job_id_arg)
@click.option("--early-stop", type=click.IntRange(min=1), default=None, metavar="PATIENCE",
              help="Cancel when validation loss has not improved for PATIENCE validation steps.")  # fmt: skip
@click.option(
    "--poll-interval",
    type=float,
    default=None,
    callback=positive_seconds,
    help="Seconds between polls.",
)
@_backend_options
def watch_cmd(job_id: str, early_stop: int | None, poll_interval: float | None, backend: str | None,
              base_url: str | None, as_json: bool) -> int:  # fmt: skip
    """Follow a job live until it ends (exit 0 on success, 1 on failure or cancel)."""
    settings, client = _client(backend, base_url)
    local = settings.backend == "local" and not settings.base_url
    poll = poll_interval or (0.5 if local else 5.0)
    return _watch(
        client, settings.name, job_id, early_stop, poll, as_json, None, _detached(settings)
    )


from openai_ft.cli.jobs_more import (  # noqa: E402 - the other job commands live one module over
    cancel_cmd,
    checkpoints_cmd,
    jobs_cmd,
    metrics_cmd,
    pause_cmd,
    resume_cmd,
    runs_cmd,
    status_cmd,
)

__all__ = [
    "cancel_cmd", "checkpoints_cmd", "jobs_cmd", "metrics_cmd", "pause_cmd", "resume_cmd",
    "runs_cmd", "status_cmd", "train_cmd", "upload_cmd", "watch_cmd",
]  # fmt: skip
