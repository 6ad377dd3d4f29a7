"""``sweep``: train a grid of hyperparameters, choose on the validation split, test once.

The steps: plan (validate the inputs, count the jobs, estimate the cost, refuse above the budget,
ask), then train every point (:mod:`openai_ft.sweep.run`), choose on the validation split and
evaluate only the winner and the base model on the test split (:mod:`openai_ft.sweep.select`).
Everything is recorded in the ledger (:mod:`openai_ft.sweep.state`): the same sweep run again
attaches to its jobs and creates none, and once the test split was used its verdict is read back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from openai_ft.errors import UsageError
from openai_ft.sweep.plan import SweepPlan, plan_sweep
from openai_ft.sweep.run import PointView, Scheduler, SweepUpdate, initial_points
from openai_ft.sweep.spec import SweepSpec, check_grid, parse_grid, sweep_table

if TYPE_CHECKING:
    import openai
    import pandas as pd

    from openai_ft.config import BackendSettings
    from openai_ft.evaluate.runner import ProgressFn
    from openai_ft.store import Ledger


@dataclass(frozen=True)
class SweepResult:
    """How a sweep ended: its points, the validation choice and the one test verdict."""

    sweep_id: str
    model: str
    points: tuple[PointView, ...]
    selection: dict[str, Any] | None
    test: dict[str, Any] | None
    test_reused: bool
    interrupted: bool
    cost_usd: dict[str, float]
    backend: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (points as dicts)."""
        out = asdict(self)
        out["points"] = [{**asdict(p), "model": p.model} for p in self.points]
        return out


def sweep(
    spec: SweepSpec,
    *,
    backend: str | None = None,
    base_url: str | None = None,
    client: openai.OpenAI | None = None,
    ledger: Ledger | None = None,
    confirm: Callable[[SweepPlan], bool] | None = None,
    on_event: Callable[[SweepUpdate], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = 5.0,
    on_eval_progress: ProgressFn | None = None,
) -> SweepResult:
    """Run a sweep to its end (or attach to the one these inputs started) and return its result.

    ``confirm`` sees the plan before anything is uploaded or created (also when every point has
    its job already); False stops there. ``on_event`` sees every change of the points, and
    ``on_eval_progress`` the progress of the validation and test evaluations. Ctrl-C returns ``interrupted=True`` with the jobs left
    running: the same call attaches again.
    """
    from openai_ft.client import make_client
    from openai_ft.config import resolve_backend
    from openai_ft.store import Ledger
    from openai_ft.sweep import state

    settings = resolve_backend(backend, base_url)
    cli = client or make_client(settings)
    own = ledger is None
    led = state.open_sweeps(ledger or Ledger())
    try:
        plan = plan_sweep(spec, settings.name, led)
        if confirm is not None and not confirm(plan):
            raise UsageError("no job created: declined at the prompt", tip="pass --yes to skip it")
        state.record_sweep(led, plan.sweep_id, settings.name, _spec_json(spec))
        recorded = state.load_points(led, plan.sweep_id)
        points = initial_points(plan.points, recorded, plan.estimates)
        for p in points:
            state.save_point(led, plan.sweep_id, p.index, p.hyperparameters)
        done = _train_points(
            spec, points, cli, settings, led, plan.sweep_id, on_event, sleep, poll_interval
        )
        final = tuple(done.points)
        if not done.finished:
            return _result(plan, final, None, None, False, True, settings.name)
        say = (lambda text: on_event(SweepUpdate(final, text))) if on_event else (lambda _t: None)
        return _select_and_test(spec, plan, final, cli, settings, led, say, on_eval_progress)
    finally:
        if own:
            led.close()


@dataclass(frozen=True)
class _Trained:
    points: list[PointView]
    finished: bool


def _train_points(
    spec: SweepSpec,
    points: list[PointView],
    client: Any,
    settings: BackendSettings,
    led: Ledger,
    sid: str,
    on_event: Callable[[SweepUpdate], None] | None,
    sleep: Callable[[float], None],
    poll_interval: float,
) -> _Trained:
    """Train (or attach to) every point, at most ``max_parallel`` at once."""
    from openai_ft.jobs import train
    from openai_ft.runs import record_job
    from openai_ft.sweep.state import save_point

    def start(point: PointView) -> Any:
        return train(
            spec.training_file,
            spec.validation_file,
            model=spec.model,
            method=spec.method,
            suffix=spec.suffix,
            hyperparameters=point.hyperparameters,
            client=client,
            backend=settings.backend,
            base_url=settings.base_url,
            ledger=led,
            sleep=sleep,
        )

    def save(p: PointView) -> None:
        save_point(
            led,
            sid,
            p.index,
            p.hyperparameters,
            job_id=p.job_id,
            status=p.status,
            fine_tuned_model=p.fine_tuned_model,
            error=p.error,
            note=p.note,
            trained_tokens=p.trained_tokens,
            checkpoint=p.checkpoint,
        )

    sched = Scheduler(
        client,
        start,
        save,
        lambda job: record_job(led, settings.name, job),
        on_event or (lambda _u: None),
        sleep,
        max_parallel=spec.max_parallel,
        early_stop=spec.early_stop,
        poll_interval=poll_interval,
        points=points,
    )
    finished = sched.run()
    return _Trained(sched.points, finished)


def _select_and_test(
    spec: SweepSpec,
    plan: SweepPlan,
    points: tuple[PointView, ...],
    client: Any,
    settings: BackendSettings,
    led: Ledger,
    say: Callable[[str], None],
    progress: ProgressFn | None = None,
) -> SweepResult:
    """Choose on validation; evaluate the winner and the base on test once (read back after)."""
    from openai_ft.evaluate.api import evaluate
    from openai_ft.evaluate.scorers import as_scorer
    from openai_ft.job_ops import list_checkpoints
    from openai_ft.sweep import select, state

    row = state.load_sweep(led, plan.sweep_id) or {}
    if row.get("test") is not None and row.get("selection") is not None:
        # The test split was used for this sweep: its choice and verdict stand.
        return _result(plan, points, row["selection"], row["test"], True, False, settings.name)
    scorer_objs = [as_scorer(s) for s in spec.scorers]
    ckpts = (lambda job_id: list_checkpoints(client, job_id)) if spec.checkpoints else None
    cands = select.candidates(points, ckpts)
    if not cands:
        return _result(plan, points, None, None, False, False, settings.name)
    sampling = {"temperature": 0, "seed": spec.seed, "on_progress": progress}
    models = list(dict.fromkeys(c.model for c in cands))
    say(f"choosing on the validation split: {len(models)} model(s) on {spec.validation_file}")
    val = evaluate(
        spec.validation_file,
        models,
        scorers=list(spec.scorers),
        settings=settings,
        ledger=led,
        **sampling,
    )
    selection = select.choose(val, cands, scorer_objs)
    test = None
    if spec.test_file:
        winner = selection["winner"]["model"]
        say(
            f"winner {selection['winner']['label']}; testing it and the base model {spec.model}"
            f" on {spec.test_file} (once)"
        )
        res = evaluate(
            spec.test_file,
            [spec.model, winner],
            scorers=list(spec.scorers),
            settings=settings,
            ledger=led,
            **sampling,
        )
        test = select.test_verdict(res, spec.model, winner, scorer_objs[0].name)
        test.update(_test_reuse(spec.test_file, settings.name, plan.sweep_id, led, say))
        state.save_test(led, plan.sweep_id, selection, test)
    else:
        state.save_selection(led, plan.sweep_id, selection)
    return _result(plan, points, selection, test, False, False, settings.name)


def _test_reuse(
    test_file: str, backend: str, sweep_id: str, led: Ledger, say: Callable[[str], None]
) -> dict[str, Any]:
    """The test file's hash, and the other sweeps that already used it (said as a WARN: each
    use lets the test set take part in a choice, so its score stops being an untouched figure)."""
    from pathlib import Path

    from openai_ft.files import sha256_file
    from openai_ft.sweep import state

    if not Path(test_file).is_file():
        return {}
    sha = sha256_file(test_file)
    earlier = state.earlier_test_uses(led, backend, sha, sweep_id)
    if earlier:
        say(
            f"WARN the test split {test_file} was already used by sweep(s) {', '.join(earlier)}:"
            " with each sweep that sees it, its score is less of an untouched estimate; keep"
            " fresh held-out examples for the final figure"
        )
    return {"test_sha256": sha, "test_used_before": earlier}


def _result(
    plan: SweepPlan,
    points: tuple[PointView, ...],
    selection: dict[str, Any] | None,
    test: dict[str, Any] | None,
    reused: bool,
    interrupted: bool,
    backend: str,
) -> SweepResult:
    from openai_ft.catalog import model_info

    price = model_info(plan.model).training_usd_per_1m
    training = 0.0
    for p in points:
        if p.trained_tokens:
            training += p.trained_tokens / 1_000_000 * price
        elif p.job_id and p.estimate_usd:
            training += p.estimate_usd  # not reported yet: the estimate stands in
    evals = (selection or {}).get("cost_usd", 0.0) + (test or {}).get("cost_usd", 0.0)
    cost = {
        "training": round(training, 4),
        "eval": round(evals, 6),
        "total": round(training + evals, 4),
    }
    return SweepResult(
        plan.sweep_id, plan.model, points, selection, test, reused, interrupted, cost, backend
    )


def loss_curves(
    client: Any, result: SweepResult, on_warning: Callable[[str], None] | None = None
) -> dict[str, pd.DataFrame]:
    """Each point's per-step losses (``p0``, ``p1``...); one that cannot be read is left out."""
    from openai_ft.errors import OpenAIFTError
    from openai_ft.job_ops import job_metrics

    out: dict[str, pd.DataFrame] = {}
    for p in result.points:
        if p.job_id is None:
            continue
        try:
            out[f"p{p.index}"] = job_metrics(client, p.job_id)
        except OpenAIFTError as exc:
            if on_warning is not None:
                on_warning(f"loss curve of p{p.index} ({p.job_id}) left out: {exc.message}")
    return out


def _spec_json(spec: SweepSpec) -> dict[str, Any]:
    out = asdict(spec)
    out["grid"] = {k: list(v) for k, v in spec.grid.items()}
    return out


__all__ = [
    "PointView",
    "SweepPlan",
    "SweepResult",
    "SweepSpec",
    "SweepUpdate",
    "check_grid",
    "loss_curves",
    "parse_grid",
    "plan_sweep",
    "sweep",
    "sweep_table",
]
