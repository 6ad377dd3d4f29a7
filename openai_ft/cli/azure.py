"""deploy, deployments, undeploy: Azure deployments of fine-tuned models, through ARM."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from openai_ft.cli._jobs_common import _asdict, _out
from openai_ft.errors import UsageError

WIDTH = 80


def _account_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--account", default=None, help="Account name (default: from the endpoint).")(
        fn
    )
    fn = click.option(
        "--resource-group", default=None, help="Resource group (default: $AZURE_RESOURCE_GROUP)."
    )(fn)
    return click.option(
        "--subscription", default=None, help="Subscription id (default: $AZURE_SUBSCRIPTION_ID)."
    )(fn)


def _arm(subscription: str | None, resource_group: str | None, account: str | None) -> Any:
    from openai_ft.azure.arm import ArmClient
    from openai_ft.azure.target import resolve_target, token_provider

    target = resolve_target(subscription, resource_group, account)
    return ArmClient(target, token_provider(target.endpoint))


def _model_from_ref(ref: str) -> str:
    """A job id, checkpoint or @latest as its fine-tuned model (other text as it is)."""
    from openai_ft.azure.serving import fine_tuned_model

    if not ref.startswith(("ftjob-", "ftchkpt-", "@latest")):
        return ref
    from openai_ft.client import make_client
    from openai_ft.config import resolve_backend
    from openai_ft.store import Ledger

    settings = resolve_backend("azure")
    book = Ledger()
    try:
        client = make_client(settings) if ref.startswith("ftjob-") else None
        return fine_tuned_model(ref, client, book, settings.name)
    finally:
        book.close()


@click.command("deploy")
@click.argument("model")
@click.option("--name", default=None, help="Deployment name (default: derived from the model).")
@click.option(
    "--sku",
    "sku_name",
    type=click.Choice(["developer", "standard", "globalstandard"], case_sensitive=False),
    default=None,
    help="Deployment type [default: developer for a fine-tuned model, globalstandard for a"
    " base model] (developer: no hourly fee, deleted after 24 h).",
)
@click.option("--capacity", type=click.IntRange(min=1), default=None, help="Capacity units.")
@click.option("--wait", is_flag=True, help="Wait until provisioning has succeeded.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@_account_options
def deploy_cmd(
    model: str,
    name: str | None,
    sku_name: str | None,
    capacity: int | None,
    wait: bool,
    yes: bool,
    as_json: bool,
    subscription: str | None,
    resource_group: str | None,
    account: str | None,
) -> int:
    """Deploy a model on Azure (once per name: a rerun finds the same deployment)."""
    from openai_ft.azure.deployments import DeployPlan, deploy
    from openai_ft.azure.skus import sku
    from openai_ft.azure.target import poll_seconds
    from openai_ft.catalog import is_fine_tuned

    target_model = _model_from_ref(model)
    chosen = sku(sku_name or ("developer" if is_fine_tuned(target_model) else "globalstandard"))
    ask = not yes and sys.stdin.isatty()

    def confirm(plan: DeployPlan) -> bool:
        click.echo(
            f"deploy {plan.model} as {plan.name} ({plan.sku.arm_name}, capacity {plan.capacity})"
            f"\n  cost: {plan.sku.fee_text(plan.fine_tuned)}"
            f"\n  auto-deletion: {plan.sku.deletion_text(plan.fine_tuned)}",
            err=True,
        )
        if ask:
            return click.confirm("Create this deployment?", err=True)
        if not yes and plan.hourly_usd:
            raise UsageError(
                f"not deploying without confirmation: {plan.sku.arm_name} costs"
                f" ${plan.hourly_usd:.2f}/hour",
                tip="pass --yes to confirm (or --sku developer: no hourly fee)",
            )
        return True

    with _arm(subscription, resource_group, account) as arm:
        res = deploy(
            arm,
            target_model,
            chosen,
            name=name,
            capacity=capacity,
            wait=wait,
            confirm=confirm,
            on_wait=lambda: click.echo(_WAITING, err=True),
            on_state=lambda s: click.echo(f"provisioning: {s}", err=True),
            poll=poll_seconds(),
        )
    if not res.created:
        click.echo(
            f"nothing to do: deployment {res.name} of {res.model} exists ({res.state})", err=True
        )
    if as_json:
        _out(_asdict(res))
    else:
        click.echo(res.name)
    return 0


_WAITING = (
    "waiting: another `openai-ft deploy` of this name on this machine is creating it;"
    " this one finds it"
)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _fit(text: str, width: int) -> str:
    """Cut the middle of a long text (the end of a fine-tuned id is what tells them apart)."""
    if len(text) <= width:
        return text
    half = (width - 1) // 2
    return text[:half] + "…" + text[len(text) - (width - 1 - half) :]


@click.command("deployments")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@_account_options
def deployments_cmd(
    as_json: bool, subscription: str | None, resource_group: str | None, account: str | None
) -> int:
    """List the account's deployments: model, SKU, state, age and hosting fee so far."""
    from openai_ft.azure.deployments import list_deployments
    from openai_ft.azure.skus import PRICES_DATE

    with _arm(subscription, resource_group, account) as arm:
        rows = list_deployments(arm)
    now = time.time()
    if as_json:
        _out(
            [
                {**_asdict(r), "age_s": r.age_s(now), "cost_usd_so_far": r.cost_usd(now)}
                for r in rows
            ]
        )
        return 0
    if not rows:
        click.echo("no deployments on this account", err=True)
        return 0
    head = f"{'NAME':<20} {'MODEL':<22} {'SKU':<14} {'STATE':<9} {'AGE':>5} {'COST':>5}"
    click.echo(head)
    for r in rows:
        cost = r.cost_usd(now)
        money = "?" if cost is None else f"${cost:.0f}" if cost >= 100 else f"${cost:.2f}"
        click.echo(
            f"{_fit(r.name, 20):<20} {_fit(r.model, 22):<22} {_fit(r.sku, 14):<14}"
            f" {_fit(r.state, 9):<9} {_age(r.age_s(now)):>5} {money:>5}"
        )
    click.echo(
        f"cost: hosting fee since creation (prices as of {PRICES_DATE}); tokens not included",
        err=True,
    )
    return 0


@click.command("undeploy")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--no-wait", is_flag=True, help="Do not wait until Azure has removed it.")
@_account_options
def undeploy_cmd(
    name: str,
    yes: bool,
    no_wait: bool,
    subscription: str | None,
    resource_group: str | None,
    account: str | None,
) -> int:
    """Remove a deployment (it stops costing its hosting fee)."""
    from openai_ft.azure.deployments import check_name, undeploy
    from openai_ft.azure.target import poll_seconds

    check_name(name)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"not removing {name} without confirmation", tip="pass --yes")
        if not click.confirm(f"Remove deployment {name}?", err=True):
            raise UsageError("nothing removed: declined at the prompt", tip="pass --yes")
    with _arm(subscription, resource_group, account) as arm:
        existed = undeploy(arm, name, wait=not no_wait, poll=poll_seconds())
    if not existed:
        click.echo(f"nothing to do: no deployment {name} on this account", err=True)
    else:
        click.echo(f"removed deployment {name}", err=True)
    return 0
