"""The learning engine of the local service, behind a small interface.

What this engine is: a stand-in that really learns, not a language model. It trains, on the CPU
in seconds, a softmax classifier over hashed character n-grams of the conversation (so Chinese
works as well as English) that predicts the assistant reply among those seen in training; when
replies are free-form (few repeats) it becomes nearest-neighbour retrieval over the training
prompts with a learned feature weighting. It can only ever answer with a reply it has seen.

The interface (:class:`Engine`: resolve hyperparameters, count steps, train with callbacks; then
:meth:`TrainedModel.complete`) is what the service uses, so that a trainer for open-weight models
can be added later as another engine. Base models answer with :func:`base_complete`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from openai_ft.catalog import resolve_epochs
from openai_ft.errors import UsageError
from openai_ft.local.engine_base import GENERIC_REPLY, base_complete
from openai_ft.local.engine_model import Completion, TrainedModel
from openai_ft.local.engine_train import Hyperparameters, StepMetrics, train_model
from openai_ft.local.hyperparams import OPENAI_HYPERPARAMETERS

__all__ = [
    "GENERIC_REPLY",
    "Completion",
    "Engine",
    "Hyperparameters",
    "NGramEngine",
    "StepMetrics",
    "TrainedModel",
    "base_complete",
    "get_engine",
]

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


class Engine(ABC):
    """A trainer the local service can run: hyperparameters, step count, training."""

    name: str = ""

    @abstractmethod
    def resolve_hyperparameters(
        self, n_train: int, method: str, requested: dict[str, Any]
    ) -> Hyperparameters:
        """Concrete hyperparameters: "auto" or missing values replaced by this engine's choice."""

    def total_steps(self, n_train: int, hp: Hyperparameters) -> int:
        """Optimisation steps of a run: epochs x batches per epoch."""
        return hp.n_epochs * math.ceil(n_train / hp.batch_size)

    def report_hyperparameters(self, hp: Hyperparameters, method: str) -> dict[str, Any]:
        """The resolved values a job shows: OpenAI's keys (``beta`` for DPO only)."""
        out: dict[str, Any] = {
            "n_epochs": hp.n_epochs,
            "batch_size": hp.batch_size,
            "learning_rate_multiplier": hp.learning_rate_multiplier,
        }
        if method == "dpo":
            out["beta"] = hp.beta
        return out

    def hyperparameters_from(self, raw: dict[str, Any]) -> Hyperparameters:
        """The hyperparameters back from what :meth:`report_hyperparameters` stored on the job."""
        return Hyperparameters(
            raw["n_epochs"], raw["batch_size"], raw["learning_rate_multiplier"], raw.get("beta")
        )

    @abstractmethod
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
        """Train on parsed JSONL lines, reporting each step; return the trained model."""


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


def _hf_default() -> Engine:
    from openai_ft.local.engines import require_hf

    require_hf()
    from openai_ft.local.engines.hf.engine import HFServiceEngine

    return HFServiceEngine()


_ENGINES: dict[str, Callable[[], Engine]] = {"ngram": NGramEngine, "hf": _hf_default}


def get_engine(name: str | None = None) -> Engine:
    """The engine called ``name`` ("ngram" or "hf"; default ``$OPENAI_FT_ENGINE`` or "ngram")."""
    if name is None:
        from openai_ft.local.engines import default_engine_name

        name = default_engine_name()
    factory = _ENGINES.get(name)
    if factory is None:
        raise UsageError(
            f"unknown training engine {name!r}", tip=f"use one of: {', '.join(sorted(_ENGINES))}"
        )
    return factory()
