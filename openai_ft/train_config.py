"""The run config of ``train`` (``--config run.toml``): known keys, and the job's metadata.

A typo in a run config must not silently train with a default (``n_epoch = 1`` would otherwise
start a paid job with "auto" epochs), so unknown keys are refused with the closest known one.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from openai_ft.errors import UsageError

HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier", "beta")
# What the local service's hf engine (open-weight models) also trains; other servers refuse them.
OPEN_WEIGHT_HYPERPARAMETERS = (
    "fine_tuning", "lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules",
    "freeze_layers", "weight_decay", "warmup_ratio", "lr_scheduler", "max_seq_length",
    "gradient_accumulation_steps", "eval_steps", "early_stopping_patience",
)  # fmt: skip
# Azure OpenAI's own (openai_ft.azure.training refuses them on other backends).
AZURE_HYPERPARAMETERS = ("prompt_loss_weight", "l2_multiplier")
TRAIN_KEYS = (
    "training_file", "validation_file", "model", "method", "suffix", "seed", "metadata",
    "wandb_project", "budget_usd", "backend", "base_url", "hyperparameters", "training_type",
    *HYPERPARAMETERS,
)  # fmt: skip
# Tables other commands read from the same file (``eval --config run.toml`` reads [eval]).
OTHER_TABLES = ("eval", "train", "sweep")
# OpenAI's limits on job metadata; two keys are ours (run id and config hash).
MAX_METADATA_KEYS = 16
RESERVED_METADATA = 2
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 512


def _unknown(key: str, known: tuple[str, ...], where: str) -> UsageError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return UsageError(
        f"{where}: unknown key {key!r} in the run config",
        tip=f"{hint}known keys: {', '.join(sorted(set(known)))}",
    )


def check_run_config(cfg: Mapping[str, Any], where: str = "run config") -> dict[str, Any]:
    """The train settings of a run config (top level, merged with a ``[train]`` table); refuse typos."""
    flat = {k: v for k, v in cfg.items() if k not in OTHER_TABLES}
    table = cfg.get("train")
    if table is not None:
        if not isinstance(table, Mapping):
            raise UsageError(f"{where}: 'train' must be a table", tip="write it as [train]")
        flat.update(table)
    for key, value in flat.items():
        if key not in TRAIN_KEYS:
            raise _unknown(key, (*TRAIN_KEYS, *OTHER_TABLES), where)
        if key in ("hyperparameters", "metadata") and not isinstance(value, Mapping):
            raise UsageError(f"{where}: {key!r} must be a table", tip=f"write it as [{key}]")
    known = HYPERPARAMETERS + OPEN_WEIGHT_HYPERPARAMETERS + AZURE_HYPERPARAMETERS
    for key in flat.get("hyperparameters", {}):
        if key not in known:
            raise _unknown(key, known, f"{where} [hyperparameters]")
    return flat


def merge_metadata(
    from_config: Mapping[str, Any] | None, from_flags: Mapping[str, str] | None
) -> dict[str, str]:
    """The job's user metadata: the run config's, each ``--metadata`` flag overriding its key."""
    merged = {str(k): str(v) for k, v in dict(from_config or {}).items()}
    merged.update({str(k): str(v) for k, v in dict(from_flags or {}).items()})
    limit = MAX_METADATA_KEYS - RESERVED_METADATA
    if len(merged) > limit:
        raise UsageError(
            f"{len(merged)} metadata keys given; at most {limit} fit next to the 2 that openai-ft adds",
            tip="drop some --metadata k=v pairs",
        )
    for key, value in merged.items():
        if key.startswith("openai_ft_"):
            raise UsageError(
                f"metadata key {key!r} is reserved for openai-ft", tip="choose another key"
            )
        if not key or len(key) > MAX_KEY_CHARS or len(value) > MAX_VALUE_CHARS:
            raise UsageError(
                f"metadata {key[:40]!r}: keys are 1-{MAX_KEY_CHARS} characters, values at most"
                f" {MAX_VALUE_CHARS}",
                tip="shorten the --metadata key or value",
            )
    return merged
