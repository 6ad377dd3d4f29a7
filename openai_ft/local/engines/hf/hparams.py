"""The ``hf`` engine's hyperparameters: OpenAI's, plus the knobs open-weight training needs.

All travel in the job's one ``hyperparameters`` object; "auto" (or absent) means the engine
chooses, and the job reports the value it chose. Unknown keys are a 400 naming the key.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from openai_ft.catalog import resolve_epochs
from openai_ft.local.api.hyperparams import OPENAI_HYPERPARAMETERS, HyperparameterSpec, Range
from openai_ft.local.engines.ngram.train import Hyperparameters

BASE_LR = {"lora": 2e-4, "full": 2e-5}
DEFAULT_BETA = 0.1
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
FINE_TUNING = ("lora", "full")


@dataclass(frozen=True)
class Choice(Range):
    """A hyperparameter that takes one of a few words (``lr_scheduler``, ``fine_tuning``)."""

    choices: tuple[str, ...] = ()

    def accepts(self, value: Any) -> bool:
        """True for one of the words."""
        return isinstance(value, str) and value in self.choices

    def describe(self) -> str:
        """``one of 'a', 'b'``."""
        return "one of " + ", ".join(repr(c) for c in self.choices)


@dataclass(frozen=True)
class Words(Range):
    """A list of module names (``lora_target_modules``), or the word ``all-linear``."""

    def accepts(self, value: Any) -> bool:
        """A non-empty list of strings, or ``all-linear``."""
        if value == "all-linear":
            return True
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)

    def describe(self) -> str:
        """Shown in the 400."""
        return "'all-linear' or a list of module names such as ['q_proj', 'v_proj']"


_OPEN: dict[str, Range] = {
    "fine_tuning": Choice(int, choices=FINE_TUNING),
    "lora_rank": Range(int, 1, 1024),
    "lora_alpha": Range(int, 1, 4096),
    "lora_dropout": Range(float, 0, 1),
    "lora_target_modules": Words(int),
    "freeze_layers": Range(int, 0, 1000),
    "weight_decay": Range(float, 0, 10),
    "warmup_ratio": Range(float, 0, 1),
    "lr_scheduler": Choice(int, choices=SCHEDULERS),
    "max_seq_length": Range(int, 16, 131072),
    "gradient_accumulation_steps": Range(int, 1, 256),
    "eval_steps": Range(int, 1, 100000),
    "early_stopping_patience": Range(int, 0, 1000),
}
HF_HYPERPARAMETERS: HyperparameterSpec = OPENAI_HYPERPARAMETERS.extend(
    "supervised", **_OPEN
).extend("dpo", **_OPEN)


@dataclass(frozen=True)
class HFHyperparameters(Hyperparameters):
    """Concrete hyperparameters of an ``hf`` run (no "auto" left)."""

    fine_tuning: str = "lora"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: Any = "all-linear"
    freeze_layers: int = 0
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    lr_scheduler: str = "linear"
    max_seq_length: int = 1024
    gradient_accumulation_steps: int = 1
    eval_steps: int = 10
    early_stopping_patience: int = 0

    @property
    def learning_rate(self) -> float:
        """The optimiser's learning rate: the kind's base rate times the multiplier."""
        return BASE_LR[self.fine_tuning] * self.learning_rate_multiplier

    def report(self, method: str) -> dict[str, Any]:
        """Every value, as the job reports it (``beta`` for DPO only)."""
        out = asdict(self)
        if method != "dpo":
            out.pop("beta")
        return out


def _given(requested: dict[str, Any], name: str) -> Any:
    value = requested.get(name)
    return None if value is None or value == "auto" else value


def resolve(n_train: int, method: str, requested: dict[str, Any]) -> HFHyperparameters:
    """Fill "auto": OpenAI's epochs rule, batch 8 (at most the data), lr x1, beta 0.1, ..."""
    epochs = _given(requested, "n_epochs")
    batch = _given(requested, "batch_size") or max(1, min(8, n_train))
    # The batch is split into equal micro-batches: the most steps at or under the request that
    # divide it (a job that was accepted never fails on its options; the job reports the value).
    wanted = _given(requested, "gradient_accumulation_steps") or 1
    accumulation = max(d for d in range(1, min(wanted, batch) + 1) if batch % d == 0)
    values: dict[str, Any] = {
        "n_epochs": resolve_epochs(n_train) if epochs is None else int(epochs),
        "batch_size": int(batch),
        "learning_rate_multiplier": float(_given(requested, "learning_rate_multiplier") or 1.0),
        "beta": (float(_given(requested, "beta") or DEFAULT_BETA) if method == "dpo" else None),
    }
    values["gradient_accumulation_steps"] = accumulation
    defaults = HFHyperparameters(1, 1, 1.0)
    for f in fields(HFHyperparameters):
        if f.name not in values:
            given = _given(requested, f.name)
            values[f.name] = getattr(defaults, f.name) if given is None else given
    return HFHyperparameters(**values)


def from_job(raw: dict[str, Any]) -> HFHyperparameters:
    """The hyperparameters a job reported back as an object."""
    names = {f.name for f in fields(HFHyperparameters)}
    return HFHyperparameters(**{k: v for k, v in raw.items() if k in names})


def steps_per_epoch(n_rows: int, hp: HFHyperparameters) -> int:
    """Optimiser steps in one pass over ``n_rows`` examples."""
    return math.ceil(n_rows / hp.batch_size)


__all__ = ["HF_HYPERPARAMETERS", "HFHyperparameters", "from_job", "resolve", "steps_per_epoch"]
