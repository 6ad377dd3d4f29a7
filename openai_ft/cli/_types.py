"""Click parameter types shared by the commands."""

from __future__ import annotations

import math
from typing import Any

import click


class Finite(click.FloatRange):
    """A float range that refuses nan and inf (which pass every range comparison)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(number, param, ctx)
