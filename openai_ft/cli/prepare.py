"""The ``prepare`` command (re-exported by cli/dataset.py, where COMMANDS looks for it)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from openai_ft.catalog import DEFAULT_MODEL

_FORMATS = ("csv", "tsv", "json", "jsonl", "parquet", "excel")


@click.command("prepare")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for train/validation/test.jsonl and manifest.json.",
)
@click.option("--user", metavar="COL", help="Column with the user message.")
@click.option(
    "--assistant", metavar="COL", help="Column with the assistant reply (or class label)."
)
@click.option("--system", metavar="TEXT", help="System prompt for every example.")
@click.option("--system-col", metavar="COL", help="Column with each row's system prompt.")
@click.option(
    "--template",
    metavar="TEXT",
    help='User message built from columns, e.g. "Order {order_id}: {text}".',
)
@click.option("--prompt", metavar="COL", help="DPO: column with the prompt.")
@click.option("--chosen", metavar="COL", help="DPO: column with the preferred reply.")
@click.option("--rejected", metavar="COL", help="DPO: column with the rejected reply.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    help="Input format (default: from the extension).",
)
@click.option("--sheet", help="Excel sheet name or 0-based index (default: the first sheet).")
@click.option(
    "--val-size",
    type=float,
    default=0.1,
    show_default=True,
    help="Fraction of prompts for validation.",
)
@click.option(
    "--test-size", type=float, default=0.1, show_default=True, help="Fraction of prompts for test."
)
@click.option(
    "--seed",
    type=int,
    default=42,
    show_default=True,
    help="Seed of the split (same seed, same files).",
)
@click.option(
    "--model", default=DEFAULT_MODEL, show_default=True, help="Base model: token limit and price."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def prepare_cmd(
    input_path: Path,
    out_dir: Path,
    user: str | None,
    assistant: str | None,
    system: str | None,
    system_col: str | None,
    template: str | None,
    prompt: str | None,
    chosen: str | None,
    rejected: str | None,
    fmt: str | None,
    sheet: str | None,
    val_size: float,
    test_size: float,
    seed: int,
    model: str,
    as_json: bool,
) -> int:
    """Turn a table (CSV, TSV, JSON, JSONL, Parquet, Excel) into validated training files."""
    from openai_ft.console.prepare import prepare_progress, render_notes, render_prepare
    from openai_ft.dataset.prepare import prepare

    with prepare_progress() as progress:
        result = prepare(
            input_path,
            out_dir=out_dir,
            user=user,
            assistant=assistant,
            system=system,
            system_col=system_col,
            template=template,
            prompt=prompt,
            chosen=chosen,
            rejected=rejected,
            fmt=fmt,
            sheet=sheet,
            val_size=val_size,
            test_size=test_size,
            seed=seed,
            model=model,
            progress=progress,
        )
    render_notes(result)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        render_prepare(result)
    return 0
