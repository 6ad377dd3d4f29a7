"""``openai-ft retrain``: parse, call :func:`openai_ft.retrain.retrain`, show the diff and scores."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from openai_ft.cli._jobs_common import _backend_options, _out
from openai_ft.cli._types import Finite


@click.command("retrain")
@click.argument("table", type=click.Path(path_type=Path))
@click.option(
    "--from",
    "from_run",
    required=True,
    metavar="RUN",
    help="The run to start from: run id, job id, model id or @alias.",
)
@click.option(
    "--continue/--fresh",
    "cont",
    default=True,
    help="Train from the earlier fine-tuned model (default), or from its base model.",
)
@click.option(
    "--margin",
    type=Finite(),
    default=0.02,
    metavar="M",
    show_default=True,
    help="Promote unless the 95% CI of new - old reaches below -MARGIN.",
)
@click.option(
    "--fail-under",
    type=Finite(),
    default=None,
    metavar="F",
    help="Also refuse when the new model's mean on the test split is under this.",
)
@click.option(
    "--promote",
    "promote",
    default="prod",
    show_default=True,
    metavar="ALIAS",
    help="The alias to point at the new model when it passes.",
)
@click.option("--no-promote", is_flag=True, help="Compare only; set no alias.")
@click.option("--scorer", default="exact", show_default=True, help="Scorer of the comparison.")
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the prepared files (default: TABLE's folder/<stem>.retrain).",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_backend_options
def retrain_cmd(**o: Any) -> int:
    """Prepare a new version of the table like RUN's, train, compare on the regression set, promote."""
    from openai_ft.cli import jobs as cli_jobs
    from openai_ft.console.jobs import WatchView, upload_progress
    from openai_ft.console.retrain import diff_lines, result_lines
    from openai_ft.retrain import Refused, retrain

    ask = not o["yes"] and sys.stdin.isatty()
    local = (o["backend"] or "local") == "local" and not o["base_url"]

    def on_prepared(prepared: Any) -> None:
        if not o["as_json"]:
            click.echo("\n".join(diff_lines(prepared, o["from_run"])))

    def confirm(plan: Any) -> bool:
        est = plan.estimate
        cost = f"~${est.usd:.2f}" if est else "unknown"
        for notice in plan.notices:
            click.echo(f"NOTE {notice}", err=True)
        what = f"a {plan.method} job on {plan.model}, cost {cost}"
        if not ask:
            click.echo(f"estimate: {what}", err=True)
            return True
        return click.confirm(f"Create {what}?", err=True)

    bar: list[Any] = []

    def on_upload(p: Any) -> None:
        if not bar:
            bar.extend(upload_progress())
        bar[0](p)

    views: list[Any] = []  # the live view starts with the first job event, after the diff

    def on_event(event: Any) -> None:
        if not views:
            views.append(WatchView().__enter__())
        views[0](event)

    try:
        res = retrain(
            o["table"],
            from_run=o["from_run"],
            fresh=not o["cont"],
            margin=o["margin"],
            fail_under=o["fail_under"],
            promote=None if o["no_promote"] else o["promote"],
            scorer=o["scorer"],
            out_dir=o["out_dir"],
            backend=o["backend"],
            base_url=o["base_url"],
            confirm=confirm,
            on_prepared=on_prepared,
            on_event=on_event,
            on_upload=on_upload,
            sleep=lambda s: cli_jobs.SLEEP(s),
            poll_interval=0.5 if local else 5.0,
        )
    finally:
        if bar:
            bar[1]()
        if views:
            views[0].__exit__(None, None, None)
    if o["as_json"]:
        _out(dataclasses.asdict(res))
    else:
        click.echo("\n".join(result_lines(res)))
    if not res.passed:
        raise Refused(f"not promoted: {res.reason}", tip=_tip(res))
    return 0


def _tip(res: Any) -> str:
    return (
        f"{res.alias or 'the alias'} still names the model it named; look at the"
        f" examples in `openai-ft report {res.eval_run}` and fix the data, or raise --margin"
    )
