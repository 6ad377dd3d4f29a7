"""The training engines of the local service: the :class:`Engine` interface, the registry
(:func:`get_engine`), and the service's few hooks into them.

An engine resolves hyperparameters, counts steps and trains with callbacks; the model it returns
answers with ``complete``. Two engines: ``ngram`` (:mod:`openai_ft.local.engines.ngram`, the
built-in stand-in that really learns) and ``hf`` (:mod:`openai_ft.local.engines.hf`, open-weight
models, the optional ``hf`` extra).

The service asks, for a model id, which engine serves it: a base model registered for the ``hf``
engine (see :mod:`openai_ft.local.engines.hf.registry`), or a ``ft:`` model trained from one, is
the ``hf`` engine's; everything else is the service's default engine. Nothing here imports torch
(nor numpy): a service that never meets an ``hf`` model never loads it.
"""

from __future__ import annotations

import importlib.util
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from openai_ft.errors import UsageError

if TYPE_CHECKING:
    from openai_ft.local.api.hyperparams import HyperparameterSpec
    from openai_ft.local.engines.ngram.model import TrainedModel
    from openai_ft.local.engines.ngram.train import Hyperparameters, StepMetrics
    from openai_ft.local.http.app import Service
    from openai_ft.local.http.core import Response

HF_PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate")
INSTALL_HF = "pip install 'openai-ft[hf]'"
ENGINE_ENV = "OPENAI_FT_ENGINE"


def require_hf() -> None:
    """Raise one usage error naming the install command when the ``hf`` extra is missing."""
    missing = [p for p in HF_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        raise UsageError(
            f"the hf engine needs {', '.join(missing)}, which is not installed",
            tip=f"install the extra: {INSTALL_HF} (or `make install-hf`)",
        )


def default_engine_name() -> str:
    """The engine a service uses for models no engine claims: ``$OPENAI_FT_ENGINE`` or ngram."""
    return os.environ.get(ENGINE_ENV, "").strip() or "ngram"


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
        from openai_ft.local.engines.ngram.train import Hyperparameters

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


def _ngram_default() -> Engine:
    from openai_ft.local.engines.ngram.engine import NGramEngine

    return NGramEngine()


def _hf_default() -> Engine:
    require_hf()
    from openai_ft.local.engines.hf.engine import HFServiceEngine

    return HFServiceEngine()


_ENGINES: dict[str, Callable[[], Engine]] = {"ngram": _ngram_default, "hf": _hf_default}


def get_engine(name: str | None = None) -> Engine:
    """The engine called ``name`` ("ngram" or "hf"; default ``$OPENAI_FT_ENGINE`` or "ngram")."""
    if name is None:
        name = default_engine_name()
    factory = _ENGINES.get(name)
    if factory is None:
        raise UsageError(
            f"unknown training engine {name!r}", tip=f"use one of: {', '.join(sorted(_ENGINES))}"
        )
    return factory()


def hf_alias(svc: Service, model: str) -> str | None:
    """The registered hf base alias behind ``model`` (a base alias or an ``ft:`` id), or None."""
    from openai_ft.local.engines.hf.registry import lookup

    if model.startswith("ft:"):
        obj = svc.state.get("model", model)
        if obj is None or obj.get("x_engine") != "hf":
            return None
        return str(model.split(":")[1])
    return model if lookup(svc.state.root, model) is not None else None


def hf_base_models(svc: Service) -> list[dict[str, Any]]:
    """``GET /v1/models`` entries of the registered hf base models."""
    from openai_ft.local.engines.hf.registry import registered

    return [
        {"id": alias, "object": "model", "created": 1700000000, "owned_by": "system"}
        for alias in sorted(registered(svc.state.root))
    ]


def engine_for(svc: Service, model: str, job_id: str | None = None) -> Engine:
    """The engine that trains ``model`` (a job's work folder under the service for hf)."""
    alias = hf_alias(svc, model)
    if alias is None:
        return svc.engine
    require_hf()
    from openai_ft.local.engines.hf.engine import HFEngine
    from openai_ft.local.engines.hf.registry import lookup

    base = lookup(svc.state.root, alias)
    if base is None:
        raise UsageError(f"base model {alias!r} is no longer registered for the hf engine")
    work = svc.state.root / "hf_work" / job_id if job_id else None
    return HFEngine(alias, base.path(), work)


def job_spec(svc: Service, model: str) -> HyperparameterSpec:
    """The hyperparameters a job on ``model`` may set (OpenAI's, plus the hf engine's).

    A service whose engine is ``hf`` refuses (400) a model that is not a registered hf model.
    """
    from openai_ft.local.api.hyperparams import OPENAI_HYPERPARAMETERS
    from openai_ft.local.http.core import ApiError

    if hf_alias(svc, model) is None:
        try:
            name = svc.engine.name
        except UsageError as exc:  # OPENAI_FT_ENGINE=hf without the extra installed
            raise ApiError(400, f"{exc.message}; {exc.tip}", code="engine_not_available") from None
        if name == "hf":
            raise ApiError(
                400,
                f"Model {model} is not a registered open-weight model; this service trains "
                "those only (register it in hf_models.toml or OPENAI_FT_HF_MODELS).",
                param="model",
                code="model_not_available",
            )
        return OPENAI_HYPERPARAMETERS
    from openai_ft.local.engines.hf.hparams import HF_HYPERPARAMETERS

    return HF_HYPERPARAMETERS


def load_trained(data: bytes) -> TrainedModel:
    """A stored model of any engine, from its blob (an hf model is duck-typed as one: the
    service only stores, caches and hands it back to its engine)."""
    from openai_ft.local.engines.hf.model import MAGIC

    if data.startswith(MAGIC):
        require_hf()
        from openai_ft.local.engines.hf.model import HFModel

        return cast("TrainedModel", HFModel.from_bytes(data))
    from openai_ft.local.engines.ngram.model import TrainedModel

    return TrainedModel.from_bytes(data)


def chat(svc: Service, model: str, body: dict[str, Any]) -> Response | None:
    """The answer of an hf model to a chat request, or None when ``model`` is not one."""
    if hf_alias(svc, model) is None:
        return None
    require_hf()
    from openai_ft.local.engines.hf.chat import answer

    return answer(svc, model, body)


__all__ = [
    "ENGINE_ENV",
    "INSTALL_HF",
    "Engine",
    "chat",
    "default_engine_name",
    "engine_for",
    "get_engine",
    "hf_alias",
    "hf_base_models",
    "job_spec",
    "load_trained",
    "require_hf",
]
