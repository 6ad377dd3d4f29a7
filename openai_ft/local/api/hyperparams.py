"""What a fine-tuning job may ask for, checked when the job is created.

The ranges are those of OpenAI's published spec (``n_epochs`` 1-50, ``batch_size`` 1-256,
``learning_rate_multiplier`` > 0, DPO ``beta`` in (0, 2], ``seed`` 0..2^31-1, ``suffix`` 1-64
characters). Whatever passes here the engine must train: a job that was accepted never fails later
on one of its options. An engine that trains more knobs extends the table instead of editing it:

    LORA = OPENAI_HYPERPARAMETERS.extend("supervised", lora_rank=Range(int, 1, 256))
    options = check_job_options(body, LORA)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openai_ft.local.http.core import ApiError

SEED_MAX = 2**31 - 1
SUFFIX_MAX = 64
_SUFFIX = re.compile(r"^[A-Za-z0-9_\-.]+$")  # it becomes part of a "ft:base:org:suffix:id" name


@dataclass(frozen=True)
class Range:
    """The numbers one hyperparameter accepts besides "auto": a kind, bounds, open or closed."""

    kind: type[int] | type[float]
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def accepts(self, value: Any) -> bool:
        """True for a number of this kind inside the bounds (``bool`` is not a number here)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        """``an integer from 1 to 50``, ``a number greater than 0``..."""
        noun = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None and not self.low_open:
            return f"{noun} from {self.low:g} to {self.high:g}"
        parts = []
        if self.low is not None:
            parts.append(f"{'greater than' if self.low_open else 'at least'} {self.low:g}")
        if self.high is not None:
            parts.append(f"at most {self.high:g}")
        return f"{noun} {' and '.join(parts)}".strip()


_COMMON = {
    "n_epochs": Range(int, 1, 50),
    "batch_size": Range(int, 1, 256),
    "learning_rate_multiplier": Range(float, 0, None, low_open=True),
}


@dataclass(frozen=True)
class HyperparameterSpec:
    """The hyperparameters each fine-tuning method accepts, by name."""

    methods: Mapping[str, Mapping[str, Range]]

    def extend(self, method: str, **ranges: Range) -> HyperparameterSpec:
        """A copy that also accepts ``ranges`` for ``method`` (a new method if it is new)."""
        merged = {name: dict(keys) for name, keys in self.methods.items()}
        merged.setdefault(method, {}).update(ranges)
        return HyperparameterSpec(merged)


OPENAI_HYPERPARAMETERS = HyperparameterSpec(
    {
        "supervised": dict(_COMMON),
        "dpo": {**_COMMON, "beta": Range(float, 0, 2, low_open=True)},
    }
)


AZURE_ONLY = {
    "supervised": {"prompt_loss_weight": Range(float, 0, 1)},
    "dpo": {"l2_multiplier": Range(float, 0, None)},
}
AZURE_SUFFIX_MAX = 40
_AZURE_SUFFIX = re.compile(r"^[A-Za-z0-9_\-]+$")  # it becomes part of "<base>.ft-<hex>-<suffix>"
TRAINING_TYPES = {"standard": "Standard", "global": "Global", "developer": "Developer"}


def with_azure(spec: HyperparameterSpec) -> HyperparameterSpec:
    """``spec`` plus Azure's own hyperparameters, for the methods ``spec`` has."""
    for method, ranges in AZURE_ONLY.items():
        if method in spec.methods:
            spec = spec.extend(method, **ranges)
    return spec


def check_training_type(value: Any) -> str | None:
    """Azure's ``trainingType`` (Standard, Global or Developer, any case), or a 400."""
    if value is None:
        return None
    found = TRAINING_TYPES.get(value.lower()) if isinstance(value, str) else None
    if found is None:
        raise _invalid(
            "trainingType",
            f"Invalid 'trainingType': {value!r}; expected one of "
            f"{', '.join(TRAINING_TYPES.values())}.",
        )
    return found


@dataclass(frozen=True)
class JobOptions:
    """A job request's method, hyperparameters (``auto`` where unset), seed and suffix."""

    method: str
    hyperparameters: dict[str, Any]
    seed: int | None
    suffix: str | None


def _invalid(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_value")


def _requested(body: Mapping[str, Any], spec: HyperparameterSpec) -> tuple[str, Any, str]:
    """The method type, the raw hyperparameters object and the param path it came from."""
    method = body.get("method")
    legacy = body.get("hyperparameters")
    if method is None:
        return "supervised", legacy, "hyperparameters"
    kinds = tuple(spec.methods)
    if not isinstance(method, dict) or method.get("type") not in kinds:
        raise _invalid("method.type", f"Invalid 'method.type': expected one of {', '.join(kinds)}.")
    kind: str = method["type"]
    config = method.get(kind)
    if config is None:
        return kind, legacy, "hyperparameters"
    if not isinstance(config, dict):
        raise _invalid(f"method.{kind}", f"Invalid 'method.{kind}': expected an object.")
    param = f"method.{kind}.hyperparameters"
    inner = config.get("hyperparameters")
    return (kind, inner, param) if inner is not None else (kind, legacy, "hyperparameters")


def check_hyperparameters(
    body: Mapping[str, Any], spec: HyperparameterSpec = OPENAI_HYPERPARAMETERS
) -> tuple[str, dict[str, Any]]:
    """The method and its hyperparameters ("auto" where unset), or a 400 naming the bad one."""
    kind, requested, param = _requested(body, spec)
    if requested is None:
        requested = {}
    if not isinstance(requested, dict):
        raise _invalid(param, f"Invalid '{param}': expected an object.")
    ranges = spec.methods[kind]
    unknown = sorted(set(requested) - set(ranges))
    if unknown:
        raise _invalid(
            f"{param}.{unknown[0]}",
            f"Unknown hyperparameter(s) for {kind}: {', '.join(map(str, unknown))}; "
            f"accepted: {', '.join(ranges)}.",
        )
    out: dict[str, Any] = {}
    for key, allowed in ranges.items():
        value = requested.get(key)
        if value is None or value == "auto":
            out[key] = "auto"
        elif allowed.accepts(value):
            out[key] = value
        else:
            raise _invalid(
                f"{param}.{key}",
                f"Invalid '{param}.{key}': {value!r}; expected 'auto' or {allowed.describe()}.",
            )
    return kind, out


def check_job_options(
    body: Mapping[str, Any], spec: HyperparameterSpec = OPENAI_HYPERPARAMETERS, azure: bool = False
) -> JobOptions:
    """Everything a job-create body asks of the trainer, checked against the spec's ranges.

    ``azure``: Azure's suffix rule (up to 40 letters, digits, '-' or '_').
    """
    kind, hps = check_hyperparameters(body, spec)
    suffix = body.get("suffix")
    most, pattern, chars = (
        (AZURE_SUFFIX_MAX, _AZURE_SUFFIX, "'-' or '_'")
        if azure
        else (SUFFIX_MAX, _SUFFIX, "'-', '_' or '.'")
    )
    if suffix is not None and (
        not isinstance(suffix, str) or len(suffix) > most or not pattern.match(suffix)
    ):
        raise _invalid("suffix", f"Invalid 'suffix': 1 to {most} letters, digits, {chars}.")
    seed = body.get("seed")
    if seed is not None and not Range(int, 0, SEED_MAX).accepts(seed):
        raise _invalid(
            "seed", f"Invalid 'seed': {seed!r}; expected an integer from 0 to {SEED_MAX}."
        )
    return JobOptions(kind, hps, seed, suffix)


__all__ = [
    "AZURE_ONLY",
    "OPENAI_HYPERPARAMETERS",
    "TRAINING_TYPES",
    "HyperparameterSpec",
    "JobOptions",
    "Range",
    "check_hyperparameters",
    "check_job_options",
    "check_training_type",
    "with_azure",
]
