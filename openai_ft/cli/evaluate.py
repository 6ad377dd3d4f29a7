"""``openai-ft eval`` and ``openai-ft report``: parse, call the library, print."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from openai_ft.cli._types import Finite
from openai_ft.errors import OpenAIFTError, UsageError


class Interrupted(OpenAIFTError):
    """Ctrl-C during a run (exit code 130, as for any interrupted command)."""

    exit_code = 130


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


def gate(
    summary: dict[str, Any],
    fail_under: float | None,
    require_better: bool,
    max_failures: int | None = None,
) -> str | None:
    """Why the run fails the CI gate (the last model on the first scorer), or None when it passes.

    A gate (--fail-under, --require-better or --max-failures) also fails when a model has more
    failed examples than --max-failures allows (0 unless given): a model that answered 10 of 100
    prompts has not passed anything.
    """
    models = summary["models"]
    target = models[-1]
    scorer = next(iter(target["scores"]))
    mean = target["scores"][scorer]["mean"]
    if fail_under is not None or require_better or max_failures is not None:
        allowed = max_failures or 0
        for m in models:
            if m["failed"] > allowed:
                return (
                    f"{m['model']}: {m['failed']} of {m['examples']} examples failed, more than"
                    f" --max-failures {allowed} allows; fix the cause and rerun with --retry-errors"
                )
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
    type=click.Path(dir_okay=False),
    help="Chat JSONL to evaluate on (required here or as `data` in the [eval] config).",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Model to evaluate (first = baseline); @latest = the newest fine-tuned model on"
    " this backend.",
)
@click.option(
    "--scorer",
    "scorers",
    multiple=True,
    metavar="NAME[:ARG]",
    help="Scorer (several allowed; default exact); names and ARG syntax above.",
)
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
@click.option("--limit", type=click.IntRange(min=1), help="Evaluate only the first N examples.")
@click.option("--temperature", type=Finite(0, 2), help="Sampling temperature (0-2).")
@click.option(
    "--max-completion-tokens", type=click.IntRange(min=1), help="Cap on each answer's tokens."
)
@click.option("--seed", type=click.IntRange(min=0), help="Sampling seed (best-effort determinism).")
@click.option(
    "--n", "n", type=click.IntRange(min=1), help="Samples per example (scores are averaged)."
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Requests in flight at once.  [default: 8]",
)
@click.option(
    "--rpm",
    type=Finite(min=0, min_open=True),
    help="Requests per minute to stay under (a cap; the service's x-ratelimit headers are followed too).",
)
@click.option(
    "--tpm",
    type=Finite(min=0, min_open=True),
    help="Tokens per minute to stay under (a cap; the service's x-ratelimit headers are followed too).",
)
@click.option("--retry-errors", is_flag=True, help="Send again the examples that failed before.")
@click.option("--batch", is_flag=True, help="Use the Batch API (half price, slower).")
@click.option(
    "--rubric", type=click.Path(exists=True, dir_okay=False), help="Rubric file for judge scorers."
)
@click.option(
    "--backend",
    type=click.Choice(["local", "openai", "azure"]),
    help="Service to use (default: $OPENAI_FT_BACKEND, the run config, or local).",
)
@click.option("--base-url", help="Any OpenAI-compatible server.")
@click.option(
    "--deploy", is_flag=True, help="Azure: deploy a fine-tuned model that has no deployment."
)
@click.option(
    "--undeploy-after",
    is_flag=True,
    help="Azure: remove the deployments --deploy made, even on Ctrl-C.",
)
@click.option(
    "--deploy-sku",
    type=click.Choice(["developer", "standard", "globalstandard"]),
    default="developer",
    show_default=True,
    help="Azure: the SKU of --deploy (developer: no hourly fee).",
)
@click.option(
    "--fail-under",
    type=Finite(0, 1),
    help="Exit 1 when the last model scores below this (0-1; failed examples score 0).",
)
@click.option(
    "--max-failures",
    type=click.IntRange(min=0),
    help="Failed examples a model may have before a gate fails.  [default: 0]",
)
@click.option(
    "--require-better", is_flag=True, help="Exit 1 unless the last model beats the first (CI > 0)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def eval_cmd(**kw: Any) -> int:
    """Evaluate models on held-out examples, compare them paired, and save the run.

    \b
    Scorers (--scorer NAME[:ARG], several allowed):
      exact                 answer == reference (outer whitespace trimmed)
      normalized            equal after case, whitespace, punctuation, full-width folding
      contains              normalised reference occurs in the answer
      regex[:PATTERN]       PATTERN found in the answer (quote it for the shell);
                            without PATTERN the reference is a regex the answer must match
      numeric[:TOL]         last number in answer and reference within TOL (absolute or
                            relative; default 1e-6), e.g. numeric:0.01
      json_valid            the answer parses as JSON (a ```json fence is allowed)
      json_schema:PATH      the answer is JSON valid against the JSON Schema file PATH
      json_field[:KEY]      answer and reference JSON agree on KEY (dotted: a.b);
                            without KEY the whole JSON values must be equal
      tool_call             same tool calls in order, arguments compared as parsed JSON
      classification        label accuracy, macro-F1, per-class P/R, confusion matrix
      bleu, chrf            sacrebleu BLEU / chrF (translation), scaled to 0-1
      rouge_l               ROUGE-L F1 (summaries)
      judge:MODEL           an LLM judge through the same runner; rubric from --rubric

    \b
    Run config (--config run.toml), an [eval] table; flags override it:
      data, models, scorers, checkpoints, limit, temperature, max_completion_tokens, seed, n,
      concurrency, rpm, tpm, retry_errors, batch, rubric, fail_under, max_failures,
      require_better
    (backend and base_url are read from the top level, as for train).
    """
    from openai_ft.config import load_run_config, resolve_backend
    from openai_ft.evaluate.api import evaluate_async
    from openai_ft.evaluate.runner import RunOptions

    cfg = load_run_config(kw["config_path"])
    models, scorers = _merge_run_config(kw, cfg)
    settings = resolve_backend(kw["backend"], kw["base_url"], cfg)
    client = None
    if settings.backend == "local" and not settings.base_url:
        from openai_ft.client import local_service, make_async_client

        svc = local_service(settings.home, **_local_service_options())
        client = make_async_client(settings, max_retries=0, service=svc)
    options = RunOptions(kw["concurrency"] or 8, kw["rpm"], kw["tpm"], kw["retry_errors"])
    rubric = Path(kw["rubric"]).read_text("utf-8") if kw["rubric"] else None
    extra: dict[str, Any] = {"rubric": rubric} if rubric else {}
    sampling = {k: kw[k] for k in ("temperature", "max_completion_tokens", "seed", "n")}
    from openai_ft.console.evaluate import live_progress, render_summary

    azure = _azure_serving(kw, settings)
    try:
        if azure is not None:  # fine-tuned models answer through deployments (made if asked)
            models = azure.resolve(models)
        with live_progress() as update:
            result = asyncio.run(
                evaluate_async(
                    kw["data"], models, scorers=scorers, settings=settings, client=client,
                    options=options, batch=kw["batch"], on_progress=update, checkpoints=kw["job_id"],
                    limit=kw["limit"], **sampling, **extra,
                )
            )  # fmt: skip
    except KeyboardInterrupt:
        raise Interrupted(
            "eval interrupted; every answer received so far is saved in the ledger",
            tip="run the same command again to resume: only the missing answers are sent",
        ) from None
    finally:
        if azure is not None:
            azure.finish()  # --undeploy-after: remove what it deployed, or say loudly what is left
    summary = result.summary
    from openai_ft.console import stdout_console

    # The tables and verdicts are the result (stdout); warnings and where it was saved, stderr.
    lines = closing_lines(summary)
    verdicts = [line for line in lines if not line.startswith(_STATUS_PREFIXES)]
    if kw["as_json"]:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        render_summary(summary, console=stdout_console())
        sys.stdout.write("".join(line + "\n" for line in verdicts))
        sys.stdout.flush()
    status = [line for line in lines if kw["as_json"] or line not in verdicts]
    sys.stderr.write("".join(line + "\n" for line in status))
    failure = (
        gate(summary, kw["fail_under"], kw["require_better"], kw["max_failures"])
        or unanswered(summary)
        or judge_unusable(summary)
    )
    if failure:
        sys.stderr.write(f"FAIL {failure}\n")
        return 1
    return 0


def _azure_serving(kw: dict[str, Any], settings: Any) -> Any:
    """The deployments of an Azure eval (:mod:`openai_ft.azure.serving`); None elsewhere."""
    if settings.backend != "azure":
        if kw["deploy"] or kw["undeploy_after"]:
            raise UsageError(
                "--deploy and --undeploy-after are for Azure OpenAI deployments",
                tip="add --backend azure, or drop them",
            )
        return None
    if kw["job_id"]:
        raise UsageError(
            "--checkpoints on Azure: each checkpoint answers only through a deployment of its own",
            tip="evaluate a checkpoint with --model ftchkpt-... --deploy --undeploy-after",
        )
    from openai_ft.azure.serving import serving_for_eval

    def note(text: str) -> None:
        sys.stderr.write(text + "\n")

    def left(text: str) -> None:
        sys.stderr.write(f"ERROR {text}\n")

    return serving_for_eval(
        settings, deploy=kw["deploy"], undeploy_after=kw["undeploy_after"],
        sku_option=kw["deploy_sku"], notify=note, on_left=left,
    )  # fmt: skip


def _merge_run_config(kw: dict[str, Any], cfg: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Fill unset flags from the run config's [eval] table and refuse what cannot work, before
    any request is sent; returns the models and scorers."""
    from openai_ft.evaluate.eval_config import eval_settings

    ev = eval_settings(cfg, str(kw["config_path"]))
    for key, value in ev.items():  # flags win over the run config
        if key in kw and (kw[key] is None or kw[key] is False):
            kw[key] = value
    kw["job_id"] = kw["job_id"] or ev.get("checkpoints")
    if not kw["data"]:
        raise UsageError(
            "no eval data given", tip="pass --data test.jsonl (or data = ... in the [eval] config)"
        )
    if kw["rubric"] and not Path(kw["rubric"]).is_file():
        raise UsageError(f"{kw['rubric']}: rubric file not found", tip="check the rubric path")
    models = list(kw["models"]) or list(ev.get("models", []))
    scorers = list(kw["scorers"]) or list(ev.get("scorers", ["exact"]))
    if kw["require_better"] and len(dict.fromkeys(models)) < 2 and not kw["job_id"]:
        raise UsageError(
            "--require-better compares two models, but "
            + (f"only {models[0]!r} was given" if models else "no model was given"),
            tip="pass the baseline first and the fine-tuned model last: --model BASE --model FT",
        )
    return models, scorers


def unanswered(summary: dict[str, Any]) -> str | None:
    """Why the run failed when a model answered no example at all (nothing was evaluated)."""
    empty = [m["model"] for m in summary["models"] if m["examples"] and not m["answered"]]
    if empty:
        return f"no example was answered by {', '.join(empty)}"
    return None


def judge_unusable(summary: dict[str, Any]) -> str | None:
    """Why the run failed when a judge scorer gave no score at all: every reply failed to parse,
    or every judge request failed."""
    for scorer, bad in summary.get("judge_unparsed", {}).items():
        if bad["replies"] and bad["count"] == bad["replies"]:
            return (
                f"{scorer}: none of the {bad['replies']} judge replies gave a score, so"
                " nothing was judged"
            )
        if not bad["replies"] and bad.get("failed"):
            return f"{scorer}: every judge request failed ({bad.get('first_error')})"
    return None


_STATUS_PREFIXES = ("WARN ", "saved: ", "report: ")  # the closing lines that are not verdicts


def closing_lines(summary: dict[str, Any]) -> list[str]:
    """The verdict of each comparison on the first scorer, then where the run and report are."""
    from openai_ft.evaluate.runs import run_dir
    from openai_ft.evaluate.summary import verdict

    first = next(iter(summary["models"][0]["scores"]), None) if summary["models"] else None
    lines = [verdict(c) for c in summary["comparisons"] if c["scorer"] == first]
    for m in summary["models"]:
        if m["failed"]:
            lines.append(
                f"WARN {m['model']}: {m['failed']} of {m['examples']} examples failed"
                f" ({m.get('first_error') or 'no answer'}); fix the cause and rerun with"
                " --retry-errors"
            )
    for scorer, bad in summary.get("judge_unparsed", {}).items():
        if bad.get("failed"):
            lines.append(
                f"WARN {scorer}: {bad['failed']} judge requests failed ({bad.get('first_error')});"
                " those examples have no score - fix the cause and rerun with --retry-errors"
            )
        if bad["count"]:
            lines.append(
                f"WARN {scorer}: {bad['count']} of {bad['replies']} judge replies could not be"
                f" parsed into a score (first: {bad['first']!r}); those examples have no score -"
                " ask for `Score: N` in the --rubric or pick another judge model"
            )
    run = summary["run"]
    lines.append(f"saved: {run_dir(run)}")
    lines.append(f"report: openai-ft report {run} --out-dir reports/{run}")
    return lines


@click.command("report")
@click.argument("run", default="latest")
@click.option(
    "--out-dir",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write report.md/html, CSV, JSONL here.",
)
@click.option(
    "--out",
    "out_legacy",
    type=click.Path(file_okay=False),
    hidden=True,
    help="Deprecated spelling of --out-dir.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def report_cmd(run: str, out_dir: str | None, out_legacy: str | None, as_json: bool) -> int:
    """Show a saved eval run (RUN or `latest`); with --out-dir, write Markdown/HTML/CSV/JSONL."""
    from openai_ft.evaluate.runs import load_run

    if out_dir and out_legacy and out_dir != out_legacy:
        raise UsageError(
            "--out and --out-dir name two folders",
            tip="pass only --out-dir (--out is its old name)",
        )
    out_dir = out_dir or out_legacy

    run_id, frame, summary, config = load_run(run)
    if out_dir:
        from openai_ft.report import write_report

        def warn(text: str) -> None:
            sys.stderr.write(f"WARN {text}\n")

        paths = write_report(run_id, frame, summary, Path(out_dir), config=config, on_warning=warn)
        for p in paths:
            sys.stderr.write(f"wrote {p}\n")
        html_path = next(p for p in paths if p.name == "report.html")
        # The report's path is the result (stdout) unless --json owns stdout.
        (sys.stderr if as_json else sys.stdout).write(f"report: {html_path}\n")
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    elif not out_dir:
        from openai_ft.console import stdout_console
        from openai_ft.console.evaluate import render_summary

        render_summary(summary, console=stdout_console())
    return 0
