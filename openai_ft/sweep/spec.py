"""What a sweep is: its inputs, the grid (``--grid key=v1,v2``), the points it trains, its id.

A sweep's id is a hash of what it trains and where it selects (file contents, model, method,
points, backend): the same command run again finds the same sweep in the ledger.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import random as _random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai_ft.errors import UsageError
from openai_ft.train_config import HYPERPARAMETERS, OPEN_WEIGHT_HYPERPARAMETERS

GRID_KEYS = HYPERPARAMETERS + OPEN_WEIGHT_HYPERPARAMETERS
# Keys of a run config's [sweep] table (flags override them).
SWEEP_KEYS = (
    "training_file",
    "validation_file",
    "test_file",
    "model",
    "method",
    "suffix",
    "grid",
    "random",
    "seed",
    "scorers",
    "max_parallel",
    "budget_usd",
    "early_stop",
    "checkpoints",
    "report_dir",
    "backend",
    "base_url",
)
MAX_POINTS = 64  # a typo in a grid (an extra value) should not start a hundred paid jobs


@dataclass(frozen=True)
class SweepSpec:
    """The inputs of a sweep; ``grid`` maps each hyperparameter to the values tried, in order."""

    training_file: str
    validation_file: str
    model: str
    grid: Mapping[str, Sequence[Any]]
    test_file: str | None = None
    method: str = "supervised"
    suffix: str | None = None
    random: int | None = None
    seed: int = 0
    scorers: tuple[str, ...] = ("exact",)
    max_parallel: int = 2
    budget_usd: float | None = None
    early_stop: int | None = None
    checkpoints: bool = False

    def points(self) -> list[dict[str, Any]]:
        """Every combination of the grid (first key slowest), or ``random`` of them (``seed``)."""
        keys = list(self.grid)
        combos = [
            dict(zip(keys, values, strict=True))
            for values in itertools.product(*(self.grid[k] for k in keys))
        ]
        if self.random is not None and self.random < len(combos):
            picked = sorted(_random.Random(self.seed).sample(range(len(combos)), self.random))
            combos = [combos[i] for i in picked]
        return combos


def _value(text: str) -> Any:
    """A grid value: an int, a float, ``auto``, or a word (``cosine``) as written."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["learning_rate_multiplier=0.5,1,2", "n_epochs=2,3"]`` as an ordered grid."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        values = [_value(v.strip()) for v in text.split(",") if v.strip()]
        if not sep or not key or not values:
            raise UsageError(
                f"--grid {item!r} is not KEY=V1,V2,...",
                tip="for example --grid learning_rate_multiplier=0.5,1,2",
            )
        grid[key] = values
    return check_grid(grid, "--grid")


def check_grid(grid: Mapping[str, Any], where: str) -> dict[str, list[Any]]:
    """Refuse unknown hyperparameters, empty value lists, repeated values and huge grids."""
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        if key not in GRID_KEYS:
            close = difflib.get_close_matches(key, GRID_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"{where}: {key!r} is not a hyperparameter",
                tip=f"{hint}known: {', '.join(GRID_KEYS[:4])}, ...",
            )
        vals = list(values) if isinstance(values, list | tuple) else [values]
        if not vals:
            raise UsageError(f"{where}: {key} has no values", tip=f"give {key} one value or more")
        if len({json.dumps(v) for v in vals}) != len(vals):
            raise UsageError(f"{where}: {key} lists a value twice", tip="list each value once")
        out[key] = vals
    if not out:
        raise UsageError(
            "no grid given: nothing to sweep",
            tip="pass --grid KEY=V1,V2 (repeatable) or a [sweep.grid] table",
        )
    size = 1
    for vals in out.values():
        size *= len(vals)
    if size > MAX_POINTS:
        raise UsageError(
            f"the grid has {size} points; at most {MAX_POINTS} are swept",
            tip="use fewer values, or --random N to sample N points",
        )
    return out


def sweep_table(cfg: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The ``[sweep]`` table of a run config, with its keys checked (typos refused)."""
    table = cfg.get("sweep", {})
    if not isinstance(table, Mapping):
        raise UsageError(f"{where}: 'sweep' must be a table", tip="write it as [sweep]")
    for key in table:
        if key not in SWEEP_KEYS:
            close = difflib.get_close_matches(key, SWEEP_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UsageError(
                f"{where}: unknown key {key!r} in [sweep]",
                tip=f"{hint}known keys: {', '.join(sorted(SWEEP_KEYS))}",
            )
    grid = table.get("grid")
    if grid is not None and not isinstance(grid, Mapping):
        raise UsageError(
            f"{where}: 'grid' must be a table",
            tip="write it as [sweep.grid] with lists: n_epochs = [2, 3]",
        )
    return dict(table)


def file_ident(value: str) -> str:
    """A file by content (``sha256:...``) or a file id as given."""
    from openai_ft.files import sha256_file

    path = Path(value)
    return f"sha256:{sha256_file(path)}" if path.is_file() else value


def sweep_id(spec: SweepSpec, backend: str) -> str:
    """The id of this sweep: the same inputs, points and backend give the same id."""
    body = {
        "backend": backend,
        "model": spec.model,
        "method": spec.method,
        "suffix": spec.suffix,
        "training": file_ident(spec.training_file),
        "validation": file_ident(spec.validation_file),
        "test": file_ident(spec.test_file) if spec.test_file else None,
        "points": spec.points(),
        "scorers": list(spec.scorers),
        "checkpoints": spec.checkpoints,
    }
    text = json.dumps(body, sort_keys=True, default=str)
    return "sweep-" + hashlib.sha256(text.encode()).hexdigest()[:12]
