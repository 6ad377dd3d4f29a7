"""``openai-ft sweep`` end to end on the local service: 4 points trained, chosen on the
validation split, the winner and the base model tested once; a rerun creates nothing and sends
nothing. Requests are counted where the service receives them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from openai_ft.cli import main
from openai_ft.cli import sweep as cli_sweep
from openai_ft.local import FaultRule, LocalService
from tests.jobs_helpers import chat_rows, cli_service, write_rows

BASE = "gpt-4.1-mini-2025-04-14"
SECRET = "sk-test-SECRETSECRET0123456789"


class Counted:
    """The service's requests: creates of jobs, and chat completions by model."""

    def __init__(self, svc: LocalService, monkeypatch: pytest.MonkeyPatch) -> None:
        self.creates = 0
        self.chats: Counter[str] = Counter()
        inner = svc.service.handle

        def handle(request: Any) -> Any:
            if request.method == "POST" and request.path.rstrip("/").endswith("/fine_tuning/jobs"):
                self.creates += 1
            if request.method == "POST" and request.path.endswith("/chat/completions"):
                self.chats[json.loads(request.body)["model"]] += 1
            return inner(request)

        monkeypatch.setattr(svc.service, "handle", handle)


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    service = cli_service(monkeypatch)
    monkeypatch.setattr(cli_sweep, "SLEEP", lambda _s: service.run_jobs(max_steps=20))
    return service


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "train": write_rows(tmp_path / "train.jsonl", chat_rows(24)),
        "valid": write_rows(tmp_path / "validation.jsonl", chat_rows(10, seed=2)),
        "test": write_rows(tmp_path / "test.jsonl", chat_rows(12, seed=3)),
    }


def _inputs(files: dict[str, Path], *extra: str) -> list[str]:
    """``sweep`` with the training and validation files, then ``extra``."""
    return [
        "sweep",
        "--training-file",
        str(files["train"]),
        "--validation-file",
        str(files["valid"]),
        *extra,
    ]


def _args(files: dict[str, Path], *extra: str) -> list[str]:
    """The 4-point sweep (2 learning rates x 2 epoch counts) with a test split."""
    grid = ["--grid", "learning_rate_multiplier=0.5,2", "--grid", "n_epochs=1,3"]
    return _inputs(
        files, "--test-file", str(files["test"]), "--model", BASE, *grid, "--yes", *extra
    )


def test_sweep_of_four_points_end_to_end_then_rerun_creates_and_sends_nothing(
    svc: LocalService,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    counted = Counted(svc, monkeypatch)
    report = tmp_path / "report"
    assert main(_args(files, "--max-parallel", "2", "--report-dir", str(report), "--json")) == 0
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert "Traceback" not in out.err and "4 points" in out.err and "4 new job(s)" in out.err
    assert "40/40 done" in out.err and "24/24 done" in out.err  # validation, then test progress

    # Four jobs, each created once, each succeeded.
    assert counted.creates == 4 and len(svc.service.state.all("job")) == 4
    points = result["points"]
    assert [p["status"] for p in points] == ["succeeded"] * 4
    assert [p["hyperparameters"] for p in points] == [
        {"learning_rate_multiplier": lr, "n_epochs": ep} for lr in (0.5, 2) for ep in (1, 3)
    ]
    tuned = {p["fine_tuned_model"] for p in points}

    # Selection on validation: the winner has the best validation mean, compared with the 3
    # others, each p-value Holm-corrected (never below the raw one).
    sel = result["selection"]
    assert {c["model"] for c in sel["candidates"]} == tuned
    best = max(c["mean"] for c in sel["candidates"])
    assert sel["winner"]["mean"] == best and sel["winner"]["model"] in tuned
    assert len(sel["comparisons"]) == 3
    assert all(c["p_holm"] >= c["p_value"] for c in sel["comparisons"])
    assert isinstance(sel["distinguishable"], bool)

    # Only the winner and the base met the test split: the base answered the 12 test examples
    # and nothing else, the winner 10 validation + 12 test, every other point 10 validation.
    winner = sel["winner"]["model"]
    assert counted.chats[BASE] == 12
    assert counted.chats[winner] == 10 + 12
    assert all(counted.chats[m] == 10 for m in tuned - {winner})
    test = result["test"]
    assert test["winner"]["model"] == winner and test["base"]["model"] == BASE
    assert test["comparison"]["vs"] == BASE and test["comparison"]["model"] == winner
    assert result["test_reused"] is False
    assert result["cost_usd"]["training"] > 0 and result["cost_usd"]["total"] > 0

    db = sqlite3.connect(Path(os.environ["OPENAI_FT_HOME"]) / "runs.db")
    [(used,)] = db.execute("SELECT test_used_at FROM sweeps").fetchall()
    db.close()
    assert used is not None

    md = (report / "report.md").read_text()
    assert all(f"| p{i}" in md for i in range(4)) and "Holm-corrected" in md
    assert "Loss curves" in (report / "report.html").read_text()
    assert (report / "report.html").read_text().count("data:image/png;base64,") == 3

    # The rerun: attaches to the 4 jobs, creates none, and neither re-chooses nor re-tests.
    counted.chats.clear()
    assert main(_args(files, "--json")) == 0
    again = capsys.readouterr()
    rerun = json.loads(again.out)
    assert counted.creates == 4 and len(svc.service.state.all("job")) == 4
    assert sum(counted.chats.values()) == 0
    assert [p["job_id"] for p in rerun["points"]] == [p["job_id"] for p in points]
    assert rerun["selection"]["winner"] == sel["winner"] and rerun["test"] == test
    assert rerun["test_reused"] is True and "0 new job(s)" in again.err
    # The key reaches no output, report or ledger row.
    home = Path(os.environ["OPENAI_FT_HOME"])
    texts = [out.out, out.err, again.out, again.err, (report / "report.html").read_text()]
    assert not any(SECRET in t for t in texts)
    assert not any(SECRET.encode() in f.read_bytes() for f in home.glob("runs.db*"))


def test_too_many_jobs_is_waited_on_and_a_failed_point_is_reported(
    svc: LocalService,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openai_ft.local.jobs.worker import fail_job

    counted = Counted(svc, monkeypatch)
    # The second create is refused with a 429 (OpenAI's answer to too many active jobs).
    svc.faults.add(FaultRule("429", r"fine_tuning/jobs$", method="POST", nth=2, times=1))
    failed: list[str] = []

    def sleep(_s: float) -> None:
        jobs = svc.service.state.all("job")
        if not failed and jobs:
            failed.append(jobs[0]["id"])
            fail_job(svc.service, jobs[0]["id"], "invalid_training_file", "set by the test", None)
        svc.run_jobs(max_steps=20)

    monkeypatch.setattr(cli_sweep, "SLEEP", sleep)
    args = _args(files, "--max-parallel", "2")
    args[args.index("n_epochs=1,3")] = "n_epochs=1"
    assert main(args) == 0
    out = capsys.readouterr()
    assert "refused a new job for now" in out.err and "trying again" in out.err
    assert counted.creates == 3  # two jobs made, one refused attempt in between
    assert "failed" in out.out and "set by the test" in out.err
    assert "Winner on the validation split: p1" in out.out
    assert "Only one point produced a model" in out.out


def test_ctrl_c_leaves_jobs_running_and_says_how_to_reattach(
    svc: LocalService,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted = Counted(svc, monkeypatch)

    def interrupt(_s: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_sweep, "SLEEP", interrupt)
    assert main(_args(files, "--max-parallel", "2")) == 130
    err = capsys.readouterr().err
    assert "the sweep's jobs keep running" in err and "reattach: openai-ft sweep" in err
    assert counted.creates == 2
    assert all(j["status"] not in ("cancelled", "failed") for j in svc.service.state.all("job"))
    # The printed command attaches to the two jobs and creates only the other two.
    again = err.split("reattach: ", 1)[1].strip().split(" ")[1:]
    monkeypatch.setattr(cli_sweep, "SLEEP", lambda _s: svc.run_jobs(max_steps=20))
    assert main([*(a.strip("'") for a in again), "--yes"]) == 0
    assert counted.creates == 4 and len(svc.service.state.all("job")) == 4


def test_budget_refusal_uploads_and_creates_nothing(
    svc: LocalService, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(files, "--budget-usd", "0.001")) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR the sweep's 4 jobs are estimated at $0.03, above the budget")
    assert "nothing was uploaded or created" in err and "Traceback" not in err
    assert svc.service.state.all("file") == [] and svc.service.state.all("job") == []


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("n_epochs=0,2", "ERROR grid n_epochs=0: n_epochs must be a whole number from 1"),
        ("learning_rate=1,2", "did you mean 'learning_rate_multiplier'?"),
        ("n_epochs", "ERROR --grid 'n_epochs' is not KEY=V1,V2,..."),
        ("n_epochs=2,2", "n_epochs lists a value twice"),
    ],
)
def test_bad_grid_is_one_line_and_exit_2(
    svc: LocalService,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    grid: str,
    message: str,
) -> None:
    args = _inputs(files, "--grid", grid, "--yes")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert svc.service.state.all("job") == []


def test_sweep_from_a_toml_table_with_checkpoints_and_early_stop(
    svc: LocalService, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        "[sweep]\n"
        f'training_file = "{files["train"]}"\nvalidation_file = "{files["valid"]}"\n'
        f'model = "{BASE}"\nmax_parallel = 2\ncheckpoints = true\nearly_stop = 2\n'
        "[sweep.grid]\nlearning_rate_multiplier = [0.5, 2]\nn_epochs = [3]\n"
    )
    start = time.monotonic()
    assert main(["sweep", "--config", str(cfg), "--yes", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["points"]) == 2 and result["test"] is None
    labels = [c["label"] for c in result["selection"]["candidates"]]
    # Each point's checkpoints are candidates too (p0@step, ...), then its final model.
    assert any("@" in label for label in labels) and {"p0", "p1"} <= set(labels) | {
        label.split("@")[0] for label in labels
    }
    assert time.monotonic() - start < 60
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\ntraining_fle = "x"\n')
    assert main(["sweep", "--config", str(bad)]) == 2
    assert "did you mean 'training_file'?" in capsys.readouterr().err
    same = _inputs(files, "--test-file", str(files["valid"]), "--grid", "n_epochs=1")
    assert main(same) == 2
    assert "the test file is the validation file" in capsys.readouterr().err
    bad.write_text("[sweep]\nmax_parallel = 'two'\n")
    assert main(["sweep", "--config", str(bad)]) == 2
    assert "max_parallel must be a whole number" in capsys.readouterr().err


def test_at_most_k_jobs_at_once_and_a_lost_sweep_record_still_attaches(
    svc: LocalService,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted = Counted(svc, monkeypatch)
    most: list[int] = []

    def sleep(_s: float) -> None:
        jobs = svc.service.state.all("job")
        most.append(sum(j["status"] not in ("succeeded", "failed", "cancelled") for j in jobs))
        svc.run_jobs(max_steps=3)  # slow enough that jobs overlap

    monkeypatch.setattr(cli_sweep, "SLEEP", sleep)
    args = _args(files, "--max-parallel", "1")
    assert main(args) == 0
    capsys.readouterr()
    assert counted.creates == 4 and max(most) == 1
    # The sweep's own record is lost (another machine, a deleted ledger table): each point is
    # an ordinary train, so it attaches to its job by the config hash.
    db = sqlite3.connect(Path(os.environ["OPENAI_FT_HOME"]) / "runs.db")
    db.execute("DELETE FROM sweep_points")
    db.execute("DELETE FROM sweeps")
    db.commit()
    db.close()
    assert main(args) == 0
    out = capsys.readouterr()
    assert counted.creates == 4 and out.err.count("attached to job") == 4


def test_a_create_refused_for_its_settings_fails_the_point_not_the_sweep(
    svc: LocalService, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # lora_rank is an open-weight hyperparameter: the service refuses it for a GPT model (400).
    args = _inputs(files, "--grid", "lora_rank=4,8", "--yes")
    assert main(args) == 1
    out = capsys.readouterr()
    assert out.err.count("the service refused its job") == 2 and "Traceback" not in out.err
    assert "ERROR no point of sweep" in out.err and out.out.count("failed") == 2
    assert svc.service.state.all("job") == []


def test_early_stop_cancels_a_point_and_its_best_checkpoint_competes(
    svc: LocalService,
    files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openai_ft.sweep import run as sweep_run
    from openai_ft.watch import EarlyStopper

    class StopAtSecond(EarlyStopper):
        """The engine's validation loss may keep improving on tiny data: stop at the second."""

        def feed(self, step: int, valid_loss: float) -> bool:
            first = self.best is None
            super().feed(step, valid_loss)
            return not first

    monkeypatch.setattr(sweep_run, "EarlyStopper", StopAtSecond)
    monkeypatch.setattr(cli_sweep, "SLEEP", lambda _s: svc.run_jobs(max_steps=4))
    args = _inputs(files, "--grid", "n_epochs=3,4", "--early-stop", "--yes", "--json")
    assert main(args) == 0
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert "early stop: no validation improvement" in out.err
    for p in result["points"]:
        assert p["status"] == "cancelled" and p["model"] == p["checkpoint"]
        assert ":ckpt-step-" in p["model"] and "using checkpoint" in p["note"]
    assert {c["model"] for c in result["selection"]["candidates"]} == {
        p["checkpoint"] for p in result["points"]
    }
    assert all(j["status"] == "cancelled" for j in svc.service.state.all("job"))


def test_declining_the_plan_creates_nothing(svc: LocalService, files: dict[str, Path]) -> None:
    from openai_ft.errors import UsageError
    from openai_ft.sweep import SweepPlan, SweepSpec, sweep

    seen: list[SweepPlan] = []

    def decline(plan: SweepPlan) -> bool:
        seen.append(plan)
        return False

    spec = SweepSpec(
        str(files["train"]), str(files["valid"]), BASE, {"n_epochs": [1, 2], "batch_size": [1, 2]}
    )
    with pytest.raises(UsageError, match="declined at the prompt"):
        sweep(spec, confirm=decline)
    [plan] = seen
    assert plan.to_create == 4 and len(plan.points) == 4
    # The estimate train shows, per point: 2 epochs (points 2, 3) cost twice 1 epoch.
    assert plan.estimates[2] == pytest.approx(2 * plan.estimates[0])  # type: ignore[operator]
    assert plan.total_usd == pytest.approx(sum(plan.estimates))  # type: ignore[arg-type]
    assert svc.service.state.all("file") == [] and svc.service.state.all("job") == []


def test_a_second_sweep_on_the_same_test_split_is_warned(
    svc: LocalService, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Another scorer is another sweep (the jobs are reused): it may use the test split again,
    but says the split has been seen, and records which sweeps saw it."""
    grid = ["--grid", "learning_rate_multiplier=0.5,2"]
    args = _inputs(files, "--test-file", str(files["test"]), "--model", BASE, *grid, "--yes")
    assert main([*args, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["test"]["test_used_before"] == [] and len(first["test"]["test_sha256"]) == 64
    assert main([*args, "--scorer", "classification", "--json"]) == 0
    out = capsys.readouterr()
    second = json.loads(out.out)
    assert second["sweep_id"] != first["sweep_id"]
    assert [p["job_id"] for p in second["points"]] == [p["job_id"] for p in first["points"]]
    assert second["test"]["test_used_before"] == [first["sweep_id"]]
    assert (
        f"WARN the test split {files['test']} was already used by sweep(s) {first['sweep_id']}"
        in out.err
    )
    # its rerun reads the verdict back, and the summary still says the split had been seen
    assert main([*args, "--scorer", "classification"]) == 0
    assert f"had been used before, by sweep(s) {first['sweep_id']}" in capsys.readouterr().out
