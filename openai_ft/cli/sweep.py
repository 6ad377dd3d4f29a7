"""``openai-ft sweep``: parse, call :func:`openai_ft.sweep.sweep`, hand the result to the console."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Mapping
from typing import Any

import click

from openai_ft.cli._jobs_common import AUTO_KEYS, _backend_options, _out, _rule, _valid
from openai_ft.errors import JobFailed, UsageError

# Looked up at call time so that tests can advance the local service instead of sleeping.
SLEEP = time.sleep


def _pick(flag: Any, table: Mapping[str, Any], key: str, default: Any = None) -> Any:
    if flag is not None and flag != ():
        return flag
    return table.get(key, default)


def _grid(flags: tuple[str, ...], table: Mapping[str, Any], where: str) -> dict[str, list[Any]]:
    """The grid from ``--grid`` flags (which replace the config's) or ``[sweep.grid]``; each
    value checked against the hyperparameter's range before anything is created."""
    from openai_ft.sweep import check_grid, parse_grid

    grid = (
        parse_grid(flags) if flags else check_grid(table.get("grid") or {}, f"{where} [sweep.grid]")
    )
    for key, values in grid.items():
        bad = [v for v in values if key in AUTO_KEYS and not _valid(key, v)]
        if bad:
            raise UsageError(
                f"grid {key}={bad[0]}: {key} must be {_rule(key)}",
                tip="nothing was uploaded or created; fix the value and run again",
            )
    return grid


# Whole-number settings of [sweep] and their least value (flags are checked by click).
WHOLE = {"random": 1, "seed": 0, "max_parallel": 1, "early_stop": 1}


def _whole(value: Any, key: str, low: int) -> int | None:
    """A whole-number setting; ``early_stop = true`` in a config is the default patience 3."""
    if value is None or value is False:
        return None
    if value is True and key == "early_stop":
        return 3
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(
            f"[sweep] {key} = {value!r}: {key} must be a whole number, at least {low}",
            tip="fix the value in the run config",
        )
    return value


def _spec(o: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The sweep's spec from flags over the run config's ``[sweep]`` table."""
    from openai_ft.catalog import DEFAULT_MODEL
    from openai_ft.config import load_run_config
    from openai_ft.evaluate.scorers import as_scorer
    from openai_ft.sweep import SweepSpec, sweep_table

    where = o["config_path"] or "run config"
    table = sweep_table(load_run_config(o["config_path"]), where)

    def get(key: str) -> Any:
        return _pick(o.get(key), table, key)

    whole = {key: _whole(get(key), key, low) for key, low in WHOLE.items()}
    for key, flag in (
        ("training_file", "--training-file"),
        ("validation_file", "--validation-file"),
    ):
        if not get(key):
            raise UsageError(
                f"no {key.replace('_', ' ')} given",
                tip=f"pass {flag} PATH (a sweep chooses on the validation split)",
            )
    picked = _pick(o["scorers"], table, "scorers", ("exact",))
    scorers = (picked,) if isinstance(picked, str) else tuple(picked)
    for name in scorers:
        as_scorer(str(name))  # an unknown scorer fails here, before any job
    budget = get("budget_usd")
    if budget is not None and not _valid("budget_usd", budget):
        raise UsageError(f"--budget-usd {budget}: must be {_rule('budget_usd')}", tip="fix it")
    spec = SweepSpec(
        training_file=str(get("training_file")),
        validation_file=str(get("validation_file")),
        model=str(get("model") or DEFAULT_MODEL),
        grid=_grid(o["grid"], table, where),
        test_file=str(get("test_file")) if get("test_file") else None,
        method=str(get("method") or "supervised"),
        suffix=get("suffix"),
        random=whole["random"],
        seed=whole["seed"] or 0,
        scorers=tuple(str(s) for s in scorers),
        max_parallel=whole["max_parallel"] or 3,
        budget_usd=float(budget) if budget is not None else None,
        early_stop=whole["early_stop"],
        checkpoints=bool(o["checkpoints"] or table.get("checkpoints")),
    )
    return spec, table


def reattach_command(spec: Any, backend: str | None, base_url: str | None) -> str:
    """The command that attaches to this sweep again (the same inputs give the same sweep)."""
    args = [
        "openai-ft",
        "sweep",
        "--training-file",
        spec.training_file,
        "--validation-file",
        spec.validation_file,
        "--model",
        spec.model,
    ]
    if spec.test_file:
        args += ["--test-file", spec.test_file]
    for key, values in spec.grid.items():
        args += ["--grid", f"{key}=" + ",".join(str(v) for v in values)]
    if spec.method != "supervised":
        args += ["--method", spec.method]
    if spec.suffix:
        args += ["--suffix", str(spec.suffix)]
    if spec.random is not None:
        args += ["--random", str(spec.random), "--seed", str(spec.seed)]
    for name in spec.scorers if list(spec.scorers) != ["exact"] else ():
        args += ["--scorer", name]
    if spec.checkpoints:
        args.append("--checkpoints")
    if spec.early_stop:
        args += ["--early-stop", str(spec.early_stop)]
    if backend:
        args += ["--backend", backend]
    if base_url:
        args += ["--base-url", base_url]
    return shlex.join(args)


@click.command("sweep")
@click.option("--training-file", default=None, help="Training JSONL (uploaded once).")
@click.option("--validation-file", default=None, help="Validation JSONL: the split that chooses.")
@click.option("--test-file", default=None, help="Test JSONL: the winner and the base, once.")
@click.option("--model", default=None, help="Base model.")
@click.option(
    "--method",
    type=click.Choice(["supervised", "dpo"]),
    default=None,
    help="Training method of every point (default: supervised, or the run config's).",
)
@click.option(
    "--suffix", default=None, help="Suffix of the fine-tuned model names (ft:...:SUFFIX)."
)
@click.option(
    "--grid",
    "grid",
    multiple=True,
    metavar="KEY=V1,V2",
    help="Values of one hyperparameter, repeatable (the points are every combination).",
)
@click.option(
    "--random",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Train N points sampled from the grid instead of all.",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed of --random.")
@click.option(
    "--scorer", "scorers", multiple=True, help="Scorer(s) of the selection (first decides)."
)
@click.option(
    "--max-parallel",
    type=click.IntRange(min=1),
    default=None,
    metavar="K",
    help="At most K jobs at once (default 3).",
)
@click.option(
    "--budget-usd", type=float, default=None, help="Refuse if the sweep's estimate is higher."
)
@click.option(
    "--early-stop",
    type=click.IntRange(min=1),
    is_flag=False,
    flag_value=3,
    default=None,
    metavar="[PATIENCE]",
    help="Early stopping for every point (default patience 3).",
)
@click.option("--checkpoints", is_flag=True, default=False, help="Select among checkpoints too.")
@click.option("--report-dir", default=None, help="Write report.md and report.html here.")
@click.option("--config", "config_path", default=None, help="TOML run config with a [sweep] table.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_backend_options
def sweep_cmd(**o: Any) -> int:
    """Train a grid of hyperparameters, choose on validation, test the winner once."""
    from openai_ft.console.sweep import SweepView, plan_text, result_table
    from openai_ft.sweep import SweepPlan, sweep

    spec, table = _spec(o)
    backend = o["backend"] or table.get("backend")
    base_url = o["base_url"] or table.get("base_url")
    ask = not o["yes"] and sys.stdin.isatty()
    again = reattach_command(spec, o["backend"], o["base_url"])

    def confirm(plan: SweepPlan) -> bool:
        click.echo(plan_text(plan), err=True)
        if not ask or not plan.to_create:
            return True
        return click.confirm(f"Create {plan.to_create} fine-tuning job(s)?", err=True)

    from openai_ft.config import resolve_backend

    settings = resolve_backend(backend, base_url)
    local = settings.backend == "local" and not settings.base_url
    try:
        with SweepView() as view:
            result = sweep(
                spec,
                backend=backend,
                base_url=base_url,
                confirm=confirm,
                on_event=view,
                sleep=lambda s: SLEEP(s),
                poll_interval=0.5 if local else 5.0,
                on_eval_progress=view.eval_progress,
            )
    except KeyboardInterrupt:
        result = None
    if result is None or result.interrupted:
        click.echo(f"stopped; the sweep's jobs keep running.\n  reattach: {again}", err=True)
        return 130
    attached = sum(1 for p in result.points if p.job_id) if result.test_reused else None
    if attached:
        click.echo(
            f"nothing to do: sweep {result.sweep_id} already chose and used its test split",
            err=True,
        )
    report_dir = o["report_dir"] or table.get("report_dir")
    if report_dir:
        _report(result, settings, report_dir)
    if o["as_json"]:
        _out(result.to_json())
    else:
        from openai_ft.sweep_report import choice_lines, cost_lines

        click.echo(result_table(result))
        for line in (*choice_lines(result), *cost_lines(result)):
            click.echo(line)
    if result.selection is None:
        raise JobFailed(
            f"no point of sweep {result.sweep_id} produced a model",
            tip="see each point's error above; fix the data or settings and rerun",
        )
    return 0


def _report(result: Any, settings: Any, folder: str) -> None:
    from openai_ft.client import make_client
    from openai_ft.sweep import loss_curves
    from openai_ft.sweep_report import write_sweep_report

    curves = loss_curves(
        make_client(settings), result, lambda text: click.echo(f"WARN {text}", err=True)
    )
    for path in write_sweep_report(result, curves, folder):
        click.echo(f"wrote {path}", err=True)
