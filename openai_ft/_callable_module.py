"""Keep ``openai_ft.evaluate(...)`` and ``openai_ft.watch(...)`` callable once their modules load.

Python binds a submodule to its parent package's attribute of the same name when it first imports
it (``import openai_ft.watch`` sets ``openai_ft.watch`` to the module), which would hide the public
function of that name. Each such module calls :func:`make_callable` so that calling it calls the
function.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def make_callable(module_name: str, target: str) -> None:
    """Make module ``module_name`` callable as ``target`` (``"package.module:function"``)."""
    target_module, attr = target.split(":")

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(target_module), attr)(*args, **kwargs)

    sys.modules[module_name].__class__ = _CallableModule
