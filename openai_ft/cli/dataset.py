"""Dataset commands: ``validate`` (and ``prepare``, added beside it)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from openai_ft.catalog import DEFAULT_MODEL
from openai_ft.dataset.validate_rules import METHODS

ROLES = ("auto", "training", "validation")  # dataset.validate.ROLES, without importing it here


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="supervised",
    show_default=True,
    help="Training method whose format to check.",
)
@click.option(
    "--model", default=DEFAULT_MODEL, show_default=True, help="Base model: token limit and price."
)
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default="auto",
    show_default=True,
    help="training: under 10 examples is an error; validation: a warning. auto: validation"
    " for files named validation*, val*, test*, eval*, dev*, training otherwise.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON on stdout.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes for big files (default: up to 2).",
)
def validate_cmd(
    paths: tuple[Path, ...], method: str, model: str, role: str, as_json: bool, workers: int | None
) -> int:
    """Check JSONL training files against OpenAI's formats; exit 1 when any has errors."""
    from openai_ft.console import busy
    from openai_ft.dataset.validate import validate, validate_many

    with busy(f"validating {', '.join(str(p) for p in paths)}"):  # a big file takes seconds
        if len(paths) == 1:
            reports = [validate(paths[0], method=method, model=model, workers=workers, role=role)]
        else:
            reports = validate_many(paths, method=method, model=model, workers=workers, role=role)
    if as_json:
        data = reports[0].to_dict() if len(reports) == 1 else [r.to_dict() for r in reports]
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        from openai_ft.console.dataset import render_validation

        render_validation(reports)
    return 0 if all(r.valid for r in reports) else 1


# `prepare` lives in its own module (owned separately); COMMANDS finds it here.
from openai_ft.cli.prepare import prepare_cmd  # noqa: E402

__all__ = ["prepare_cmd", "validate_cmd"]
