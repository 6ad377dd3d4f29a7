"""Options and helpers shared by the job commands."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import click


def _backend_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--base-url", default=None, help="Any OpenAI-compatible server.")(fn)
    fn = click.option(
        "--backend", type=click.Choice(["local", "openai", "azure"]), default=None,
        help="Service to use (default: $OPENAI_FT_BACKEND, the run config, or local).",
    )(fn)  # fmt: skip
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(fn)


def _client(backend: str | None, base_url: str | None, config: dict[str, Any] | None = None) -> Any:
    from openai_ft.client import make_client
    from openai_ft.config import resolve_backend

    settings = resolve_backend(backend, base_url, config)
    return settings, make_client(settings)


def _out(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _asdict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return obj
