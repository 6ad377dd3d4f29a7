"""The plan of a sweep, made before anything is uploaded or created: the inputs checked, the
number of jobs to create and their estimated cost (the estimate ``train`` shows), the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.errors import BudgetExceeded, DataError, InputError, UsageError
from openai_ft.sweep.spec import SweepSpec, file_ident, sweep_id

if TYPE_CHECKING:
    from openai_ft.store import Ledger


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep would do; shown before anything is uploaded or created."""

    sweep_id: str
    model: str
    points: tuple[dict[str, Any], ...]
    estimates: tuple[float | None, ...]
    to_create: int

    @property
    def total_usd(self) -> float | None:
        """The estimated training cost of every point (None when a file is given by id)."""
        if any(e is None for e in self.estimates):
            return None
        return round(sum(e for e in self.estimates if e is not None), 4)


def _estimates(spec: SweepSpec, points: list[dict[str, Any]]) -> list[float | None]:
    """Each point's training cost, by the estimate ``train`` shows; refuses invalid data."""
    from openai_ft.catalog import estimate_training_cost, resolve_model_name
    from openai_ft.dataset.validate import validate

    path = Path(spec.training_file)
    if not path.is_file():
        if spec.training_file.startswith("file-"):
            return [None] * len(points)
        raise InputError(
            f"{path}: training file not found", tip="give a JSONL path or a file-... id"
        )
    report = validate(
        path, method=spec.method, model=resolve_model_name(spec.model), role="training"
    )
    if not report.valid:
        first = next((e for e in report.errors if e.line), report.errors[0])
        where = f"{path}:{first.line}" if first.line else str(path)
        raise DataError(
            f"{where}: {first.message} ({len(report.errors)} error(s) in all); no job created",
            tip=f"run `openai-ft validate {path}` to see every problem",
        )
    per_epoch = report.estimate.tokens_per_epoch
    return [
        estimate_training_cost(
            per_epoch, report.examples, spec.model, hp.get("n_epochs", "auto")
        ).usd
        for hp in points
    ]


def _check_eval_files(spec: SweepSpec) -> None:
    """The validation and test files must be readable eval sets before any job is created."""
    from openai_ft.evaluate.data import load_examples

    if spec.test_file and file_ident(spec.test_file) == file_ident(spec.validation_file):
        raise UsageError(
            f"{spec.test_file}: the test file is the validation file (the same examples)",
            tip="pass the test split to --test-file: the validation split chooses, the test split"
            " only confirms",
        )
    for role, value in (("validation", spec.validation_file), ("test", spec.test_file)):
        if value is None:
            continue
        if not Path(value).is_file():
            raise InputError(
                f"{value}: {role} file not found",
                tip=f"pass --{role}-file PATH (a chat JSONL the sweep evaluates on)",
            )
        load_examples(value)


def plan_sweep(spec: SweepSpec, backend: str, ledger: Ledger) -> SweepPlan:
    """Validate the inputs and say how many jobs a sweep creates and what they cost."""
    from openai_ft.sweep.state import load_points

    if spec.max_parallel < 1:
        raise UsageError(
            f"max_parallel must be at least 1, got {spec.max_parallel}",
            tip="pass --max-parallel 1 or more",
        )
    if spec.random is not None and spec.random < 1:
        raise UsageError(
            f"random must be at least 1, got {spec.random}", tip="pass --random N with N >= 1"
        )
    points = spec.points()
    if "beta" in spec.grid and spec.method != "dpo":
        raise UsageError("beta applies to --method dpo only", tip="drop beta or add --method dpo")
    _check_eval_files(spec)
    estimates = _estimates(spec, points)
    sid = sweep_id(spec, backend)
    known = load_points(ledger, sid)
    to_create = sum(1 for i in range(len(points)) if not (known.get(i) or {}).get("job_id"))
    plan = SweepPlan(sid, spec.model, tuple(points), tuple(estimates), to_create)
    if spec.budget_usd is not None:
        total = plan.total_usd
        if total is None:
            raise UsageError(
                "cannot check --budget-usd: no cost estimate for a file given by id",
                tip="pass the training file as a path, or drop --budget-usd",
            )
        if total > spec.budget_usd:
            raise BudgetExceeded(
                f"the sweep's {len(points)} jobs are estimated at ${total:.2f}, above the budget of"
                f" ${spec.budget_usd:.2f}; nothing was uploaded or created",
                tip="raise --budget-usd, use fewer values (or --random N), or a cheaper --model",
            )
    return plan
