"""``openai-ft alias``: name the model an application uses (``prod``), with its history."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from openai_ft.cli._jobs_common import _backend_options, _out


def _settings(backend: str | None, base_url: str | None) -> Any:
    from openai_ft.config import resolve_backend

    return resolve_backend(backend, base_url)


def _check_model(settings: Any, model: str) -> None:
    """Ask the backend for the model, so that a typo is refused before anyone relies on it."""
    from openai_ft.client import make_client, translate_errors

    client = make_client(settings)
    with translate_errors(f"looking up model {model}"):
        client.models.retrieve(model)


@click.group("alias", invoke_without_command=False)
def alias_cmd() -> None:
    """Model aliases: `alias set prod MODEL`, then `--model @prod` anywhere a model is named."""


@alias_cmd.command("set")
@click.argument("name")
@click.argument("model")
@click.option("--reason", default=None, help="Why (kept in the history).")
@click.option("--no-check", is_flag=True, help="Do not ask the backend whether the model exists.")
@_backend_options
def set_cmd(
    name: str,
    model: str,
    reason: str | None,
    no_check: bool,
    backend: str | None,
    base_url: str | None,
    as_json: bool,
) -> int:
    """Point an alias at a model of this backend.

    MODEL is a model id, @latest or another @alias; the backend is asked whether it exists.
    """
    from openai_ft.aliases import check_name, set_alias
    from openai_ft.evaluate.api import resolve_models
    from openai_ft.store import Ledger

    check_name(name)  # a bad name fails before any lookup
    settings = _settings(backend, base_url)
    ledger = Ledger()
    try:
        [resolved] = resolve_models([model], settings.name, ledger)
        if not no_check:
            _check_model(settings, resolved)
        entry = set_alias(name, resolved, backend=settings.name, reason=reason, ledger=ledger)
    finally:
        ledger.close()
    if as_json:
        _out(dataclasses.asdict(entry))
        return 0
    was = f" (was {entry.previous_model})" if entry.previous_model else ""
    click.echo(f"{entry.name} -> {entry.model}{was}")
    return 0


@alias_cmd.command("get")
@click.argument("name")
@_backend_options
def get_cmd(name: str, backend: str | None, base_url: str | None, as_json: bool) -> int:
    """Print the model id an alias names (for scripts).

    Only the id is printed; exit 1 when the alias is not set. With --backend or --base-url,
    an alias that names another backend's model is refused.
    """
    from openai_ft.aliases import get_alias, resolve_alias

    if backend or base_url:
        resolve_alias(name, _settings(backend, base_url).name)
    entry = get_alias(name)
    if as_json:
        _out(dataclasses.asdict(entry))
    else:
        click.echo(entry.model)
    return 0


@alias_cmd.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def list_cmd(as_json: bool) -> int:
    """Every alias and the model it names.

    With who set it (user@host), when and why.
    """
    from openai_ft.aliases import list_aliases
    from openai_ft.console.alias import alias_lines

    entries = list_aliases()
    if as_json:
        _out([dataclasses.asdict(e) for e in entries])
    elif not entries:
        click.echo("no aliases yet; set one with `openai-ft alias set prod MODEL`", err=True)
    else:
        click.echo("\n".join(alias_lines(entries)))
    return 0


@alias_cmd.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def history_cmd(name: str, as_json: bool) -> int:
    """Every model an alias has named, oldest first.

    Each change with who made it (user@host), when, why, and the model before.
    """
    from openai_ft.aliases import alias_history
    from openai_ft.console.alias import history_lines

    entries = alias_history(name)
    if as_json:
        _out([dataclasses.asdict(e) for e in entries])
    else:
        click.echo("\n".join(history_lines(entries)))
    return 0
