"""The model catalog: training-example limits, prices (dated, with their source), epochs, cost.

The data lives in ``openai_ft/_data/models.json``. Users can override or extend it with a JSON
file of the same shape named by ``OPENAI_FT_PRICES``; its models are merged by name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from openai_ft.errors import UsageError

DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"
# OpenAI's "auto" epochs rule, as its fine-tuning data preparation cookbook states it: 3 epochs,
# changed (by integer division) so that examples x epochs stays within 100..25,000.
DEFAULT_EPOCHS = 3
MIN_TRAINED_EXAMPLES = 100
MAX_TRAINED_EXAMPLES = 25_000
MIN_EPOCHS, MAX_EPOCHS = 1, 25  # the range OpenAI's "auto" rule picks from
MAX_N_EPOCHS = 50  # the most epochs a job may ask for
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class ModelInfo:
    """What we know about one model; ``known`` is False for the conservative fallback.

    ``input/output_usd_per_1m`` are the prices of the fine-tuned model; ``base_input/
    base_output_usd_per_1m`` those of the base model (None: not published, use the fine-tuned).
    """

    name: str
    encoding: str
    context_limit: int
    training_usd_per_1m: float
    input_usd_per_1m: float
    output_usd_per_1m: float
    shutdown_date: str | None
    trainable: bool
    known: bool = True
    base_input_usd_per_1m: float | None = None
    base_output_usd_per_1m: float | None = None

    def inference_prices(self, fine_tuned: bool) -> tuple[float, float]:
        """USD per 1M (input, output) tokens for calling the fine-tuned or the base model."""
        if fine_tuned or self.base_input_usd_per_1m is None or self.base_output_usd_per_1m is None:
            return (self.input_usd_per_1m, self.output_usd_per_1m)
        return (self.base_input_usd_per_1m, self.base_output_usd_per_1m)


@dataclass(frozen=True)
class Estimate:
    """A training cost estimate."""

    n_epochs: int
    trained_tokens: int
    usd: float
    price_source: str
    tokens_per_epoch: int = 0  # what one epoch trains on: each example capped at the context limit


def _load_builtin() -> dict[str, Any]:
    text = resources.files("openai_ft").joinpath("_data/models.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=4)
def _table(override: str | None) -> dict[str, Any]:
    data = _load_builtin()
    if override:
        path = Path(override)
        try:
            extra = json.loads(path.read_text("utf-8"))
        except OSError as exc:
            raise UsageError(
                f"{path}: cannot read the price table: {exc.strerror}",
                tip="fix or unset OPENAI_FT_PRICES",
            ) from None
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{path}:{exc.lineno}: price table is not valid JSON: {exc.msg}",
                tip="fix or unset OPENAI_FT_PRICES",
            ) from None
        if not isinstance(extra, dict) or not isinstance(extra.get("models", {}), dict):
            raise UsageError(
                f"{path}: price table must be an object with a 'models' object",
                tip="copy the shape of openai_ft/_data/models.json",
            )
        merged = {**data["models"]}
        for name, fields in extra.get("models", {}).items():
            merged[name] = {**merged.get(name, _FALLBACK), **fields}
        data = {
            **data,
            "models": merged,
            "aliases": {**data["aliases"], **extra.get("aliases", {})},
            "source": extra.get("source", f"{path} (over {data['source']})"),
            "date": extra.get("date", data["date"]),
        }
    return data


def _current() -> dict[str, Any]:
    return _table(os.environ.get("OPENAI_FT_PRICES") or None)


# Unknown models get the largest published price and the smallest published limit.
_FALLBACK: dict[str, Any] = {
    "encoding": "o200k_base",
    "context_limit": 16385,
    "training_usd_per_1m": 25.0,
    "input_usd_per_1m": 3.75,
    "output_usd_per_1m": 15.0,
    "shutdown_date": None,
    "trainable": False,
}

PRICE_TABLE_DATE: str = _load_builtin()["date"]
PRICE_SOURCE: str = _load_builtin()["source"]


def price_source() -> str:
    """The source and date of the price table in use (the override when one is set)."""
    table = _current()
    return f"{table['source']} as of {table['date']}"


def resolve_model_name(model: str) -> str:
    """Map an alias or a fine-tuned ``ft:BASE:...`` (or Azure ``BASE.ft-...``) id to the base."""
    name = model.strip()
    if name.startswith("ft:"):
        name = name.split(":")[1]
    elif ".ft-" in name:  # Azure's fine-tuned ids: BASE.ft-<hex>[-suffix][:ckpt-step-N]
        name = name.split(".ft-")[0]
    aliases: dict[str, str] = _current()["aliases"]
    return aliases.get(name, name)


def model_info(model: str) -> ModelInfo:
    """Limits and prices for a snapshot, alias or ``ft:`` id; unknown models get a safe default."""
    name = resolve_model_name(model)
    fields = _current()["models"].get(name)
    known = fields is not None
    merged = {**_FALLBACK, **(fields or {})}
    return ModelInfo(
        name=name,
        encoding=str(merged["encoding"]),
        context_limit=int(merged["context_limit"]),
        training_usd_per_1m=float(merged["training_usd_per_1m"]),
        input_usd_per_1m=float(merged["input_usd_per_1m"]),
        output_usd_per_1m=float(merged["output_usd_per_1m"]),
        shutdown_date=merged["shutdown_date"],
        trainable=bool(merged["trainable"]) and known,
        known=known,
        base_input_usd_per_1m=_price(merged.get("base_input_usd_per_1m")),
        base_output_usd_per_1m=_price(merged.get("base_output_usd_per_1m")),
    )


def model_field(model: str, key: str) -> Any:
    """One raw field of a model's row in the dated table, e.g. ``azure_fine_tune_retirement``."""
    return (_current()["models"].get(resolve_model_name(model)) or {}).get(key)


def _price(value: Any) -> float | None:
    return None if value is None else float(value)


def is_fine_tuned(model: str) -> bool:
    """True for a fine-tuned model id or one of its checkpoints (``ft:...``, or Azure's
    ``BASE.ft-<hex>``, which has no ``ft:``)."""
    text = model.strip()
    return text.startswith("ft:") or ".ft-" in text


def resolve_epochs(n_examples: int, n_epochs: int | str = "auto") -> int:
    """Epochs for a job: the given number, or OpenAI's "auto" rule for ``n_examples``."""
    if n_epochs != "auto":
        try:
            value = int(n_epochs)
        except (TypeError, ValueError):
            raise UsageError(
                f"n_epochs must be 'auto' or an integer, got {n_epochs!r}",
                tip=f"use a whole number from {MIN_EPOCHS} to {MAX_N_EPOCHS}",
            ) from None
        if not MIN_EPOCHS <= value <= MAX_N_EPOCHS:
            raise UsageError(
                f"n_epochs must be between {MIN_EPOCHS} and {MAX_N_EPOCHS}, got {value}",
                tip="use 'auto' to let the service choose",
            )
        return value
    if n_examples <= 0:
        return DEFAULT_EPOCHS
    epochs = DEFAULT_EPOCHS
    if n_examples * epochs < MIN_TRAINED_EXAMPLES:  # 30 examples: 100 // 30 = 3 epochs, not 4
        epochs = min(MAX_EPOCHS, MIN_TRAINED_EXAMPLES // n_examples)
    elif n_examples * epochs > MAX_TRAINED_EXAMPLES:
        epochs = max(MIN_EPOCHS, MAX_TRAINED_EXAMPLES // n_examples)
    return epochs


def billed_tokens(per_example: Iterable[int], model: str) -> int:
    """Tokens one epoch trains on: each example's tokens, capped at ``model``'s context limit
    (the service truncates a longer example, and bills what it trains on)."""
    limit = model_info(model).context_limit
    return sum(min(int(n), limit) for n in per_example)


def estimate_training_cost(
    tokens_per_epoch: int, n_examples: int, model: str, n_epochs: int | str = "auto"
) -> Estimate:
    """Trained tokens (tokens x epochs) and their price for ``model``.

    ``tokens_per_epoch`` should already be capped per example (:func:`billed_tokens`).
    """
    epochs = resolve_epochs(n_examples, n_epochs)
    info = model_info(model)
    trained = tokens_per_epoch * epochs
    usd = round(trained / 1_000_000 * info.training_usd_per_1m, 4)
    return Estimate(epochs, trained, usd, price_source(), tokens_per_epoch=tokens_per_epoch)


def inference_cost(
    model: str, prompt_tokens: int, completion_tokens: int, batch: bool = False
) -> float:
    """USD for calling ``model``: fine-tuned prices for ``ft:`` ids (and their checkpoints), base
    prices otherwise; the Batch API costs half.
    """
    price_in, price_out = model_info(model).inference_prices(is_fine_tuned(model))
    usd = (prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000
    return usd * BATCH_DISCOUNT if batch else usd
