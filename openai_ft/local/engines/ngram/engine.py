"""The ``ngram`` engine: :class:`NGramEngine`, the service's default trainer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from openai_ft.catalog import resolve_epochs
from openai_ft.errors import UsageError
from openai_ft.local.api.hyperparams import OPENAI_HYPERPARAMETERS
from openai_ft.local.engines import Engine
from openai_ft.local.engines.ngram.model import TrainedModel
from openai_ft.local.engines.ngram.train import Hyperparameters, StepMetrics, train_model

DEFAULT_BETA = 0.1


def _number(requested: dict[str, Any], name: str, method: str) -> Any:
    """The requested value, None for "auto"; the ranges are the job-create check's, so a job the
    service accepted never fails here."""
    value = requested.get(name, "auto")
    if value is None or value == "auto":
        return None
    allowed = OPENAI_HYPERPARAMETERS.methods[method][name]
    if not allowed.accepts(value):
        raise UsageError(
            f"hyperparameter {name} must be 'auto' or {allowed.describe()}, got {value!r}",
            tip=f"omit {name} to let the service choose",
        )
    return value


class NGramEngine(Engine):
    """Hashed character n-gram softmax classifier / retrieval model trained with Adam."""

    name = "ngram"

    def resolve_hyperparameters(
        self, n_train: int, method: str, requested: dict[str, Any]
    ) -> Hyperparameters:
        """Fill "auto": OpenAI's epochs rule, batch ~0.2% of the data (8..256), lr x1, beta 0.1."""
        epochs = _number(requested, "n_epochs", method)
        n_epochs = resolve_epochs(n_train) if epochs is None else int(epochs)
        batch = _number(requested, "batch_size", method)
        if batch is None:
            batch = max(8, min(256, 2 ** round(math.log2(max(0.002 * n_train, 1.0)))))
            batch = max(1, min(batch, n_train))
        lr = _number(requested, "learning_rate_multiplier", method)
        beta = _number(requested, "beta", method) if method == "dpo" else None
        if method == "dpo" and beta is None:
            beta = DEFAULT_BETA
        return Hyperparameters(n_epochs, int(batch), 1.0 if lr is None else float(lr), beta)

    def train(
        self,
        train: list[dict[str, Any]],
        valid: list[dict[str, Any]] | None,
        hp: Hyperparameters,
        *,
        method: str,
        seed: int,
        base: TrainedModel | None,
        on_step: Callable[[StepMetrics], None],
        on_epoch_end: Callable[[int, int, TrainedModel], None],
        should_stop: Callable[[], bool],
        start_step: int = 0,
    ) -> TrainedModel:
        """Train; steps up to ``start_step`` are replayed silently (resume after a crash)."""
        return train_model(
            train,
            valid,
            hp,
            method=method,
            seed=seed,
            base=base,
            on_step=on_step,
            on_epoch_end=on_epoch_end,
            should_stop=should_stop,
            start_step=start_step,
        )
