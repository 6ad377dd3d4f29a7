"""``openai-ft eval`` and ``openai-ft report``: parse, call the library, print."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from openai_ft.errors import UsageError


def _local_service_options() -> dict[str, Any]:
    """Service options for the in-process local backend, from hidden env vars (tests, demos)."""
    opts: dict[str, Any] = {}
    for env, key, cast in (
        ("OPENAI_FT_LOCAL_LATENCY_MS", "latency_ms", float),
        ("OPENAI_FT_LOCAL_RPM", "rpm", int),
        ("OPENAI_FT_LOCAL_TPM", "tpm", int),
        ("OPENAI_FT_LOCAL_FAIL_RATE", "fail_rate", float),
    ):
        value = os.environ.get(env)
        if value:
            try:
                opts[key] = cast(value)
            except ValueError:
                raise UsageError(f"{env}={value!r} is not a number") from None
    return opts


def gate(summary: dict[str, Any], fail_under: float | None, require_better: bool) -> str | None:
    """Why the run fails the CI gate (the last model on the first scorer), or None when it passes."""
    models = summary["models"]
    target = models[-1]
    scorer = next(iter(target["scores"]))
    mean = target["scores"][scorer]["mean"]
    if fail_under is not None and (mean is None or mean < fail_under):
        return f"{target['model']} scored {mean} on {scorer}, under --fail-under {fail_under}"
    if require_better:
        if len(models) < 2:
            return (
                "--require-better needs two models: the baseline first, the fine-tuned model last"
            )
        from openai_ft.evaluate.summary import verdict, verdict_kind

        comp = next(
            (
                c
                for c in summary["comparisons"]
                if c["model"] == target["model"] and c["scorer"] == scorer
            ),
            None,
        )
        if comp is None:
            return f"{target['model']} has no answered examples to compare on {scorer}"
        if verdict_kind(comp) != "better":
            return verdict(comp)
    return None


@click.command("eval")
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(dir_okay=False),
    help="Chat JSONL to evaluate on.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Model to evaluate (first = baseline); @latest allowed.",
)
@click.option("--scorer", "scorers", multiple=True, help="Scorer NAME[:ARG]; several allowed.")
@click.option(
    "--checkpoints",
    "job_id",
    help="Evaluate this job's checkpoints and final model; name the best.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="TOML run config ([eval] table).",
)
@click.option("--temperature", type=float)
@click.option("--max-completion-tokens", type=int)
@click.option("--seed", type=int)
@click.option("--n", "n", type=int, help="Samples per example (scores are averaged).")
@click.option("--concurrency", type=int, default=8, show_default=True)
@click.option("--rpm", type=float, help="Requests per minute to stay under.")
@click.option("--tpm", type=float, help="Tokens per minute to stay under.")
@click.option("--retry-errors", is_flag=True, help="Send again the examples that failed before.")
@click.option("--batch", is_flag=True, help="Use the Batch API (half price, slower).")
@click.option(
    "--rubric", type=click.Path(exists=True, dir_okay=False), help="Rubric file for judge scorers."
)
@click.option("--backend", help="local, openai or azure.")
@click.option("--base-url", help="Any OpenAI-compatible server.")
@click.option("--fail-under", type=float, help="Exit 1 when the last model scores below this.")
@click.option(
    "--require-better", is_flag=True, help="Exit 1 unless the last model beats the first (CI > 0)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def eval_cmd(**kw: Any) -> int:
    """Evaluate models on held-out examples, compare them paired, and save the run."""
    from openai_ft.config import load_run_config, resolve_backend
    from openai_ft.evaluate.api import evaluate_async
    from openai_ft.evaluate.runner import RunOptions

    cfg = load_run_config(kw["config_path"])
    ev = cfg.get("eval", {}) if isinstance(cfg.get("eval"), dict) else {}
    settings = resolve_backend(kw["backend"], kw["base_url"], cfg)
    models = list(kw["models"]) or list(ev.get("models", []))
    scorers = list(kw["scorers"]) or list(ev.get("scorers", ["exact"]))
    client = None
    if settings.backend == "local" and not settings.base_url:
        from openai_ft.client import local_service, make_async_client

        svc = local_service(settings.home, **_local_service_options())
        client = make_async_client(settings, max_retries=0, service=svc)
    options = RunOptions(kw["concurrency"], kw["rpm"], kw["tpm"], kw["retry_errors"])
    rubric = Path(kw["rubric"]).read_text("utf-8") if kw["rubric"] else None
    extra: dict[str, Any] = {"rubric": rubric} if rubric else {}
    sampling = {k: kw[k] for k in ("temperature", "max_completion_tokens", "seed", "n")}
    from openai_ft.console.evaluate import live_progress, render_summary

    with live_progress() as update:
        result = asyncio.run(
            evaluate_async(
                kw["data"], models, scorers=scorers, settings=settings, client=client,
                options=options, batch=kw["batch"], on_progress=update, checkpoints=kw["job_id"],
                **sampling, **extra,
            )
        )  # fmt: skip
    summary = result.summary
    if kw["as_json"]:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        render_summary(summary)
    sys.stderr.write("".join(line + "\n" for line in closing_lines(summary)))
    failure = gate(summary, kw["fail_under"], kw["require_better"])
    if failure:
        sys.stderr.write(f"FAIL {failure}\n")
        return 1
    return 0


def closing_lines(summary: dict[str, Any]) -> list[str]:
    """The verdict of each comparison on the first scorer, then where the run and report are."""
    from openai_ft.evaluate.runs import run_dir
    from openai_ft.evaluate.summary import verdict

    first = next(iter(summary["models"][0]["scores"]), None) if summary["models"] else None
    lines = [verdict(c) for c in summary["comparisons"] if c["scorer"] == first]
    run = summary["run"]
    lines.append(f"saved: {run_dir(run)}")
    lines.append(f"report: openai-ft report {run} --out reports/{run}")
    return lines


@click.command("report")
@click.argument("run", default="latest")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write report.md/html, CSV, JSONL here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def report_cmd(run: str, out_dir: str | None, as_json: bool) -> int:
    """Show a saved eval run (RUN or `latest`); with --out, write Markdown/HTML/CSV/JSONL reports."""
    from openai_ft.evaluate.runs import load_run

    run_id, frame, summary, config = load_run(run)
    if out_dir:
        from openai_ft.report import write_report

        paths = write_report(run_id, frame, summary, Path(out_dir), config=config)
        for p in paths:
            sys.stderr.write(f"wrote {p}\n")
        html_path = next(p for p in paths if p.name == "report.html")
        sys.stderr.write(f"report: {html_path}\n")
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    elif not out_dir:
        from openai_ft.console.evaluate import render_summary

        render_summary(summary)
    return 0
