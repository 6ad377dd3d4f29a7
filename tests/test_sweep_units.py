"""The sweep's parts without a service: grid and points, refusals waited on, the views."""

from __future__ import annotations

import io
import re

import pytest

from openai_ft.console.sweep import SweepView, plan_text, result_table
from openai_ft.errors import BackendError, RateLimited, UsageError
from openai_ft.evaluate.runner import Progress
from openai_ft.sweep import SweepPlan, SweepResult, SweepSpec, parse_grid
from openai_ft.sweep.run import PointView, SweepUpdate, is_too_many_jobs


def _spec(grid: dict[str, list[object]], **kw: object) -> SweepSpec:
    return SweepSpec("t.jsonl", "v.jsonl", "gpt-4.1-mini-2025-04-14", grid, **kw)  # type: ignore[arg-type]


def test_points_are_every_combination_first_key_slowest() -> None:
    grid = parse_grid(["learning_rate_multiplier=0.5,1,2", "n_epochs=2,3"])
    assert grid == {"learning_rate_multiplier": [0.5, 1, 2], "n_epochs": [2, 3]}
    points = _spec(grid).points()
    assert len(points) == 6
    assert points[:2] == [
        {"learning_rate_multiplier": 0.5, "n_epochs": 2},
        {"learning_rate_multiplier": 0.5, "n_epochs": 3},
    ]


def test_random_points_are_a_seeded_subset_in_grid_order() -> None:
    grid = parse_grid(["learning_rate_multiplier=0.5,1,2", "n_epochs=2,3"])
    every = _spec(grid).points()
    picked = _spec(grid, random=3, seed=7).points()
    assert len(picked) == 3 and all(p in every for p in picked)
    assert picked == sorted(picked, key=every.index)
    assert picked == _spec(grid, random=3, seed=7).points()  # the same seed, the same points
    assert _spec(grid, random=10).points() == every  # more than the grid: all of it


def test_grid_refusals() -> None:
    with pytest.raises(UsageError, match="at most 64 are swept"):
        parse_grid(
            [f"n_epochs={','.join(str(i) for i in range(1, 11))}", "batch_size=1,2,4,8,16,32,64"]
        )
    with pytest.raises(UsageError, match="no grid given"):
        parse_grid([])


def test_too_many_jobs_is_recognised_in_its_usual_wordings() -> None:
    assert is_too_many_jobs(RateLimited("creating the fine-tuning job failed (429)", status=429))
    for text in (
        "Too many active fine-tuning jobs for this organization",
        "You have reached the maximum number of active jobs (6)",
        "concurrent job limit reached",
    ):
        assert is_too_many_jobs(BackendError(text, status=400))
    assert not is_too_many_jobs(BackendError("Invalid 'suffix'", status=400))


def _points() -> tuple[PointView, ...]:
    hp = {"learning_rate_multiplier": 0.5, "n_epochs": 3, "batch_size": 8, "lora_rank": 16}
    return (
        PointView(
            0,
            hp,
            job_id="ftjob-" + "x" * 24,
            status="running",
            step=12,
            total_steps=90,
            train_loss=1.23456,
            valid_loss=0.98765,
        ),
        PointView(1, {**hp, "n_epochs": 2}, status="pending"),
        PointView(2, {**hp, "n_epochs": 1}, job_id="ftjob-y", status="failed", error="bad data"),
    )


def test_live_view_is_a_table_that_fits_80_columns() -> None:
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=True, color_system=None)
    with SweepView(buf, live=True, console=console) as view:
        view(SweepUpdate(_points(), "point 0: created job ftjob-x"))
        view.eval_progress(Progress(40, 12, 0, 0, 12, 0, 300, 12, 0.001, 2.0))
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue()).replace("\r", "\n")
    lines = plain.splitlines()
    assert any("running" in line and "12/90" in line and "1.2346" in line for line in lines)
    assert "point 0: created job ftjob-x" in plain
    assert "12/40 done" in plain  # the evaluation's line under the table
    assert all(len(line.rstrip()) <= 80 for line in lines)


def test_plain_view_prints_notes_and_status_changes_once() -> None:
    buf = io.StringIO()
    with SweepView(buf, live=False) as view:
        view(SweepUpdate(_points()))
        view(SweepUpdate(_points(), "point 0: created job ftjob-x"))
        view(SweepUpdate(_points()))
    text = buf.getvalue()
    assert text.count("p0 lr=0.5 ep=3 bs=8 lora_rank=16: running") == 1
    assert "p1" not in text  # pending: nothing to say yet
    assert "point 0: created job ftjob-x" in text and text.count("failed") == 1


def test_plan_and_result_text() -> None:
    plan = SweepPlan(
        "sweep-abc", "gpt-4.1-mini", ({"n_epochs": 1}, {"n_epochs": 2}), (0.01, 0.02), 1
    )
    text = plan_text(plan)
    assert "2 points" in text and "1 new job(s); 1 attach" in text and "~$0.03" in text
    sel = {"candidates": [{"point": 0, "step": None, "mean": 0.75, "ci95": [0.5, 1.0]}]}
    result = SweepResult(
        "sweep-abc",
        "gpt-4.1-mini",
        _points(),
        sel,
        None,
        False,
        False,
        {"training": 0.0, "eval": 0.0, "total": 0.0},
        "local",
    )
    table = result_table(result)
    assert "0.750" in table and "[0.50, 1.00]" in table
    assert all(len(line) <= 80 for line in table.splitlines())


def test_a_run_config_with_a_sweep_table_still_serves_train() -> None:
    from openai_ft.train_config import check_run_config

    cfg = {"model": "gpt-4.1-mini-2025-04-14", "sweep": {"grid": {"n_epochs": [1, 2]}}}
    assert check_run_config(cfg) == {"model": "gpt-4.1-mini-2025-04-14"}
