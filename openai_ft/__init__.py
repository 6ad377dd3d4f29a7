"""openai-ft: from a table of examples to a measurably better fine-tuned model.

The public Python API. Attributes are imported on first use so that ``import openai_ft`` stays
cheap (the CLI's start-up time matters for ``openai-ft validate`` in scripts).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "alias": "openai_ft.aliases",
    "validate": "openai_ft.dataset.validate",
    "prepare": "openai_ft.dataset.prepare",
    "evaluate": "openai_ft.evaluate.api",
    "evaluate_async": "openai_ft.evaluate.api",
    "upload": "openai_ft.files",
    "train": "openai_ft.jobs",
    "watch": "openai_ft.watch",
    "latest_model": "openai_ft.runs",
    "job_metrics": "openai_ft.job_ops",
    "LocalService": "openai_ft.local",
    "FaultRule": "openai_ft.local",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'openai_ft' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    # Importing openai_ft.watch / openai_ft.evaluate binds the module to this name; the function wins.
    globals()[name] = value
    return value
