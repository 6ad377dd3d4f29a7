"""Options and helpers shared by the job commands."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from typing import Any

import click

from openai_ft.catalog import MAX_N_EPOCHS, MIN_EPOCHS
from openai_ft.errors import UsageError


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


# OpenAI's ranges for a fine-tuning job; checked before any upload or request, so that a typo
# costs one ERROR line instead of an upload and a 400 (or, for nan, a silently skipped check).
WHOLE_RANGES = {
    "n_epochs": (MIN_EPOCHS, MAX_N_EPOCHS),
    "batch_size": (1, 256),
    "seed": (0, 2**31 - 1),
}
AUTO_KEYS = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")
SUFFIX_CHARS = 64


def _as_number(value: Any) -> int | float | None:
    """A flag's text or a config value as a number (None when it is not one)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                continue
    return None


def _rule(key: str) -> str:
    """What a valid value of ``key`` is, in words."""
    if key in WHOLE_RANGES:
        low, high = WHOLE_RANGES[key]
        rule = f"a whole number from {low} to {high:,}"
    elif key == "learning_rate_multiplier":
        rule = "a number above 0"
    elif key == "beta":
        rule = "a number above 0 and at most 2"
    elif key == "budget_usd":
        rule = "a number of dollars, 0 or more"
    else:
        return f"1 to {SUFFIX_CHARS} characters"
    return f"{rule}, or 'auto'" if key in AUTO_KEYS else rule


def _valid(key: str, value: Any) -> bool:
    if key == "suffix":
        return 1 <= len(str(value)) <= SUFFIX_CHARS
    if value == "auto" and key in AUTO_KEYS:
        return True
    number = _as_number(value)
    if number is None or not math.isfinite(number):
        return False
    if key in WHOLE_RANGES:  # 2.0 is 2 (a TOML float; train sends it as an integer)
        low, high = WHOLE_RANGES[key]
        whole = isinstance(number, int) or number.is_integer()
        return whole and low <= number <= high
    if key == "beta":
        return 0 < number <= 2
    if key == "budget_usd":
        return number >= 0
    return number > 0  # learning_rate_multiplier


# Run-config keys whose value is text (a number there was an internal error for base_url).
TEXT_KEYS = (
    "training_file",
    "validation_file",
    "model",
    "method",
    "backend",
    "base_url",
    "wandb_project",
)


def check_train_values(flags: dict[str, Any], cfg: dict[str, Any], where: str) -> None:
    """Refuse nan, inf and out-of-range hyperparameters, seed, suffix and budget (flag or config)."""
    for key in TEXT_KEYS:
        if cfg.get(key) is not None and not isinstance(cfg[key], str):
            raise UsageError(
                f"{where}: {key} = {cfg[key]!r}: {key} must be a string",
                tip=f'quote it in the run config: {key} = "..."',
            )
    for key in (*AUTO_KEYS, "seed", "suffix", "budget_usd"):
        value, source = flags.get(key), "--" + key.replace("_", "-")
        if value is None:
            table = cfg.get("hyperparameters")
            in_table = isinstance(table, dict) and key in table
            value = table[key] if in_table else cfg.get(key)  # type: ignore[index]
            source = f"{where}: {key} ="
        if value is not None and not _valid(key, value):
            plain = isinstance(value, str) and value and source.startswith("--")
            shown = value if plain else repr(value)
            raise UsageError(
                f"{source} {shown}: {key} must be {_rule(key)}",
                tip="nothing was uploaded or created; fix the value and run the command again",
            )


def positive_seconds(_ctx: click.Context, param: click.Parameter, value: float | None) -> Any:
    """A click callback: a finite number of seconds above 0 (or the option's default)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value} is not a number of seconds above 0", param=param)
    return value


_JOB_ID = re.compile(r"^[\w.:-]+$")


def job_id_arg(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A click callback: a job id is one word of letters, digits and ``_.:-`` (it becomes part
    of a URL path, so ``a/b`` or ``?x`` would ask for another endpoint; '' crashed the SDK)."""
    if not _JOB_ID.match(value):
        raise click.BadParameter(
            f"{value!r} is not a fine-tuning job id (for example ftjob-abc123)", param=param
        )
    return value
