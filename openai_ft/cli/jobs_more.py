"""The job commands: jobs, status, cancel, pause, resume, checkpoints, metrics, runs."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from openai_ft.cli._jobs_common import _asdict, _backend_options, _client, _out, job_id_arg


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _show_job(info: Any, as_json: bool, progress: Any = None) -> None:
    if as_json:
        _out({**_asdict(info), **(_asdict(progress) if progress is not None else {})})
        return
    click.echo(f"{info.id}  {info.status}  {info.model}")
    if progress is not None:
        for line in _progress_lines(progress):
            click.echo(line)
    if info.fine_tuned_model:
        click.echo(f"  model:  {info.fine_tuned_model}")
    if info.trained_tokens:
        click.echo(f"  tokens: {info.trained_tokens:,}")
    if info.estimated_finish:
        click.echo(f"  ETA:    {_when(info.estimated_finish)}")
    if info.error:
        click.echo(f"  error:  {info.error}")


def _loss(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _progress_lines(p: Any) -> list[str]:
    """Step, losses and hyperparameters of a job, for `status`."""
    lines = []
    if p.step is not None:
        total = f"/{p.total_steps}" if p.total_steps else ""
        lines.append(f"  step:   {p.step}{total}")
        lines.append(f"  loss:   train {_loss(p.train_loss)}  valid {_loss(p.valid_loss)}")
    else:
        lines.append("  step:   - (no training step yet)")
    if p.hyperparameters:
        hps = "  ".join(f"{k} {v}" for k, v in sorted(p.hyperparameters.items()))
        lines.append(f"  hyperparameters: {hps}")
    return lines


@click.command("jobs")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many jobs to list (newest first).",
)
@_backend_options
def jobs_cmd(limit: int, backend: str | None, base_url: str | None, as_json: bool) -> int:
    """List recent fine-tuning jobs."""
    from openai_ft.job_ops import list_jobs

    _, client = _client(backend, base_url)
    jobs = list_jobs(client, limit)
    if as_json:
        _out([_asdict(j) for j in jobs])
    else:
        click.echo(_jobs_table(jobs) if jobs else "no fine-tuning jobs yet")
    return 0


def _jobs_table(jobs: list[Any]) -> str:
    """JOB, STATUS, CREATED, base MODEL, FINE-TUNED MODEL; where that is too wide, one MODEL
    column: the fine-tuned model (whose id names its base), else the base model."""
    from openai_ft.console import output_width
    from openai_ft.console.jobs import table

    width = output_width()
    rows = [(j.id, j.status, _when(j.created_at), j.model, j.fine_tuned_model) for j in jobs]
    headers = ("JOB", "STATUS", "CREATED", "MODEL", "FINE-TUNED MODEL")
    text = table(headers, rows, width=width, shorten=(3, 4))
    if max(len(line) for line in text.splitlines()) <= width:
        return text
    merged = [(j.id, j.status, _when(j.created_at), j.fine_tuned_model or j.model) for j in jobs]
    return table(headers[:4], merged, width=width, shorten=(3,))


@click.command("status")
@click.argument("job_id", callback=job_id_arg)
@_backend_options
def status_cmd(job_id: str, backend: str | None, base_url: str | None, as_json: bool) -> int:
    """Show one job's status, latest step and losses, and hyperparameters."""
    from openai_ft.job_ops import job_progress, job_status

    _, client = _client(backend, base_url)
    _show_job(job_status(client, job_id), as_json, job_progress(client, job_id))
    return 0


def _control(action: str) -> click.Command:
    @click.command(action)
    @click.argument("job_id", callback=job_id_arg)
    @_backend_options
    def cmd(job_id: str, backend: str | None, base_url: str | None, as_json: bool) -> int:
        from openai_ft.job_ops import control_job

        _, client = _client(backend, base_url)
        _show_job(control_job(client, job_id, action), as_json)
        return 0

    cmd.help = f"{action.capitalize()} a fine-tuning job."
    return cmd


cancel_cmd = _control("cancel")
pause_cmd = _control("pause")
resume_cmd = _control("resume")


@click.command("checkpoints")
@click.argument("job_id", callback=job_id_arg)
@_backend_options
def checkpoints_cmd(job_id: str, backend: str | None, base_url: str | None, as_json: bool) -> int:
    """List a job's checkpoints with their metrics."""
    from openai_ft.console.jobs import table
    from openai_ft.job_ops import list_checkpoints

    _, client = _client(backend, base_url)
    ckpts = list_checkpoints(client, job_id)
    if as_json:
        _out([_asdict(c) for c in ckpts])
        return 0
    if not ckpts:
        click.echo(f"no checkpoints yet for {job_id}: a job saves one at the end of each epoch")
        return 0
    keys = sorted({k for c in ckpts for k in c.metrics if k != "step"})
    rows = [(c.step, c.model, *(f"{c.metrics[k]:.4f}" if k in c.metrics else "-" for k in keys))
            for c in ckpts]  # fmt: skip
    headers = ("STEP", "CHECKPOINT", *(_METRIC_HEADERS.get(k, k) for k in keys))
    click.echo(table(headers, rows, shorten=(1,)))
    return 0


# Short headers, so that six metrics and the checkpoint fit 80 columns.
_METRIC_HEADERS = {
    "train_loss": "TRAIN", "valid_loss": "VALID", "full_valid_loss": "FULL VALID",
    "train_mean_token_accuracy": "TRAIN ACC", "valid_mean_token_accuracy": "VALID ACC",
    "full_valid_mean_token_accuracy": "FULL ACC",
}  # fmt: skip


@click.command("metrics")
@click.argument("job_id", callback=job_id_arg)
@click.option(
    "--out-dir",
    default="out/metrics",
    show_default=True,
    help="Folder for JOB.metrics.csv and JOB.loss.png.",
)
@_backend_options
def metrics_cmd(
    job_id: str, out_dir: str, backend: str | None, base_url: str | None, as_json: bool
) -> int:
    """Download a job's per-step metrics: CSV, a PNG loss curve and a terminal chart."""
    from openai_ft.console import output_width
    from openai_ft.console.jobs import sparkline
    from openai_ft.job_ops import job_metrics, write_metrics

    _, client = _client(backend, base_url)
    frame = job_metrics(client, job_id)
    csv_path, png_path = write_metrics(frame, out_dir, job_id)
    if as_json:
        _out({"csv": str(csv_path), "png": str(png_path), "rows": len(frame)})
        return 0
    for col in ("train_loss", "valid_loss"):
        values = frame[col].dropna().tolist() if col in frame else []
        if values:
            head = f"{col:<10} {values[0]:.4f} -> {values[-1]:.4f}  "
            # The whole curve, downsampled to what is left of the line.
            chart = sparkline(values, max(10, output_width(sys.stderr) - len(head) - 1))
            click.echo(head + chart, err=True)
    click.echo(str(csv_path))
    click.echo(str(png_path))
    return 0


@click.group("runs", invoke_without_command=True)
@click.option(
    "--all", "show_all", is_flag=True, help="Also the trains refused before a job existed."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def runs_cmd(ctx: click.Context, show_all: bool, as_json: bool) -> int:
    """List training and eval runs from the ledger (`runs show ID` for one run's lineage)."""
    if ctx.invoked_subcommand is not None:
        return 0
    from openai_ft.runs import list_runs
    from openai_ft.store import Ledger

    runs = list_runs(Ledger(), include_all=show_all)
    if as_json:
        _out([_asdict(r) for r in runs])
    else:
        click.echo(_runs_table(runs, show_all))
    return 0


def _runs_table(runs: list[Any], show_all: bool) -> str:
    """RUN, CREATED, STATUS, MODEL, DATA, SCORE: CREATED goes first when 80 columns are too few
    (an eval run's id holds its time); the backend only when there are several."""
    from openai_ft.console import output_width
    from openai_ft.console.jobs import table

    if not runs:
        hidden = "" if show_all else " (`runs --all` includes refused trains)"
        return f"no runs yet{hidden}"
    backends = len({r.backend for r in runs}) > 1
    headers = ["RUN", "CREATED", "STATUS", "MODEL", "DATA", "SCORE"] + ["BACKEND"] * backends
    rows = [[r.run_id, _when(r.created_at), r.status, r.shown_model, r.data, r.score]
            + [r.backend] * backends for r in runs]  # fmt: skip
    width = output_width()
    text = table(headers, rows, width=width, shorten=(3, 4), paths=(4,))
    if max(len(line) for line in text.splitlines()) > width:
        del headers[1]
        for row in rows:
            del row[1]
        text = table(headers, rows, width=width, shorten=(2, 3), paths=(3,))
    return text


@runs_cmd.command("show")
@click.argument("ident")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def runs_show_cmd(ident: str, as_json: bool) -> int:
    """Show a run's lineage: source table, dataset, files, job, checkpoints, model."""
    from openai_ft.runs import lineage
    from openai_ft.store import Ledger

    lin = lineage(Ledger(), ident)
    if as_json:
        _out({"run_id": lin.run_id, "steps": [{"kind": k, "value": v} for k, v in lin.steps]})
    else:
        for kind, text in lin.steps:
            click.echo(f"{kind:<11}{text}")
    return 0
