"""Azure's differences when creating a fine-tuning job: training type, extra hyperparameters,
suffix rule, and model retirement dates read from ARM.

- ``trainingType`` (Standard / Global / Developer) is not in the SDK: sent in ``extra_body``.
- ``prompt_loss_weight`` (supervised) and ``l2_multiplier`` (DPO) exist on Azure only; other
  backends refuse them here, before anything is uploaded.
- A suffix is at most 40 characters of ``a-z A-Z 0-9 - _`` (the authoring spec's rule).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from openai_ft.errors import UsageError

# `train --training-type` -> the value sent in "trainingType" (the words; Azure's
# authoring spec of 2024-10-21 predates the field, and no real Azure call checked the spelling).
TRAINING_TYPES = {"standard": "Standard", "global": "Global", "developer": "Developer"}
# Azure-only hyperparameters and the method each applies to.
AZURE_HYPERPARAMETERS = {"prompt_loss_weight": "supervised", "l2_multiplier": "dpo"}
SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def training_type_body(training_type: str | None) -> dict[str, Any]:
    """The ``extra_body`` of a job create for ``--training-type`` ({} when not given)."""
    if training_type is None:
        return {}
    value = TRAINING_TYPES.get(training_type.lower())
    if value is None:
        raise UsageError(
            f"unknown training type {training_type!r}",
            tip=f"choose one of {', '.join(TRAINING_TYPES)}",
        )
    return {"trainingType": value}


def check_azure_options(
    backend: str,
    method: str,
    hyperparameters: Mapping[str, Any],
    training_type: str | None,
    suffix: Any,
) -> None:
    """Refuse Azure-only settings elsewhere and settings Azure does not accept; nothing sent yet."""
    azure = backend.partition(":")[0] == "azure"
    if training_type is not None and not azure:
        raise UsageError(
            f"--training-type is an Azure OpenAI setting; backend {backend!r} has none",
            tip="drop --training-type, or use --backend azure",
        )
    training_type_body(training_type)
    for key, applies in AZURE_HYPERPARAMETERS.items():
        if key not in hyperparameters:
            continue
        if not azure:
            raise UsageError(
                f"hyperparameter {key} exists on Azure OpenAI only; backend {backend!r} refuses it",
                tip=f"drop {key}, or use --backend azure",
            )
        if method != applies:
            raise UsageError(
                f"hyperparameter {key} applies to --method {applies} only",
                tip=f"drop {key} or add --method {applies}",
            )
        value = hyperparameters[key]
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise UsageError(
                f"hyperparameter {key}={value!r} must be a number, 0 or more",
                tip=f"for example --hp {key}=0.1",
            )
    if azure and suffix is not None and not SUFFIX.match(str(suffix)):
        raise UsageError(
            f"--suffix {str(suffix)!r}: Azure takes at most 40 characters of a-z, A-Z, 0-9,"
            " '-' and '_'",
            tip="shorten the suffix or drop the other characters",
        )


def arm_retirement(model: str) -> dict[str, str]:
    """Retirement dates ARM lists for a base model in the account's region ({} when ARM cannot
    be asked: no credentials or account settings, or any error; the catalog's date is used)."""
    from openai_ft.azure.arm import ArmClient
    from openai_ft.azure.target import has_credentials, resolve_target, token_provider
    from openai_ft.errors import OpenAIFTError

    if not has_credentials():
        return {}
    try:
        target = resolve_target()
        with ArmClient(target, token_provider(target.endpoint), timeout=15.0) as arm:
            location = arm.location()
            return arm.retirement(model, location) if location else {}
    except OpenAIFTError:
        return {}
