"""The job commands: jobs, status, cancel, pause, resume, checkpoints, metrics, runs."""

from __future__ import annotations

import time
from typing import Any

import click

from openai_ft.cli._jobs_common import _asdict, _backend_options, _client, _out, job_id_arg


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _show_job(info: Any, as_json: bool) -> None:
    if as_json:
        _out(_asdict(info))
        return
    click.echo(f"{info.id}  {info.status}  {info.model}")
    if info.fine_tuned_model:
        click.echo(f"  model:  {info.fine_tuned_model}")
    if info.trained_tokens:
        click.echo(f"  tokens: {info.trained_tokens:,}")
    if info.estimated_finish:
        click.echo(f"  ETA:    {_when(info.estimated_finish)}")
    if info.error:
        click.echo(f"  error:  {info.error}")


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
    from openai_ft.console.jobs import table
    from openai_ft.job_ops import list_jobs

    _, client = _client(backend, base_url)
    jobs = list_jobs(client, limit)
    if as_json:
        _out([_asdict(j) for j in jobs])
    else:
        rows = [(j.id, j.status, j.model, j.fine_tuned_model, _when(j.created_at)) for j in jobs]
        click.echo(table(("JOB", "STATUS", "MODEL", "FINE-TUNED MODEL", "CREATED"), rows))
    return 0


@click.command("status")
@click.argument("job_id", callback=job_id_arg)
@_backend_options
def status_cmd(job_id: str, backend: str | None, base_url: str | None, as_json: bool) -> int:
    """Show one job's status."""
    from openai_ft.job_ops import job_status

    _, client = _client(backend, base_url)
    _show_job(job_status(client, job_id), as_json)
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
    keys = sorted({k for c in ckpts for k in c.metrics if k != "step"})
    rows = [(c.step, c.model, *(f"{c.metrics[k]:.4f}" if k in c.metrics else "-" for k in keys))
            for c in ckpts]  # fmt: skip
    click.echo(table(("STEP", "CHECKPOINT", *keys), rows))
    return 0


@click.command("metrics")
@click.argument("job_id", callback=job_id_arg)
@click.option("--out-dir", default="out/metrics", show_default=True)
@_backend_options
def metrics_cmd(
    job_id: str, out_dir: str, backend: str | None, base_url: str | None, as_json: bool
) -> int:
    """Download a job's per-step metrics: CSV, a PNG loss curve and a terminal chart."""
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
            click.echo(
                f"{col:<10} {values[0]:.4f} -> {values[-1]:.4f}  {sparkline(values, 60)}", err=True
            )
    click.echo(str(csv_path))
    click.echo(str(png_path))
    return 0


@click.group("runs", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def runs_cmd(ctx: click.Context, as_json: bool) -> int:
    """List training runs from the ledger (`runs show ID` for one run's lineage)."""
    if ctx.invoked_subcommand is not None:
        return 0
    from openai_ft.console.jobs import table
    from openai_ft.runs import list_runs
    from openai_ft.store import Ledger

    runs = list_runs(Ledger())
    if as_json:
        _out([_asdict(r) for r in runs])
    else:
        rows = [(r.run_id, r.backend, _when(r.created_at), r.job_id, r.status, r.fine_tuned_model)
                for r in runs]  # fmt: skip
        click.echo(table(("RUN", "BACKEND", "CREATED", "JOB", "STATUS", "MODEL"), rows))
    return 0


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
