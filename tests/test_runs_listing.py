"""`runs` (issue 10): refused trains are hidden unless --all; eval runs show their models, data
and headline score; `runs show eval-...` shows the eval's summary; `status` shows step, losses
and hyperparameters; `checkpoints` says when there are none."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from openai_ft.cli import main
from openai_ft.local import LocalService
from tests.jobs_helpers import chat_rows, cli_service, train_files, write_rows

BASE = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    monkeypatch.setenv("COLUMNS", "120")
    return cli_service(monkeypatch)


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "out" / "data"
    folder.mkdir(parents=True)
    return train_files(folder, valid_seed=2)


def test_refused_trains_are_hidden_unless_all(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The service refuses the job (an unknown hyperparameter): the run is recorded not_created.
    refused = ["train", "--training-file", str(data[0]), "--hp", "foo=1", "--yes", "--no-wait"]
    assert main(refused) == 1
    assert "Unknown hyperparameter" in capsys.readouterr().err
    assert main(["runs"]) == 0
    assert capsys.readouterr().out.startswith("no runs yet (`runs --all` includes refused")
    assert main(["runs", "--all"]) == 0
    listing = capsys.readouterr().out
    assert "not_created" in listing and "train.jsonl" in listing
    assert main(["runs", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
    assert main(["train", "--training-file", str(data[0]), "--yes", "--no-wait"]) == 0
    capsys.readouterr()
    assert main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].split()[3] in ("validating_files", "queued")


def test_eval_runs_show_models_data_score_and_their_summary(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = write_rows(tmp_path / "test.jsonl", chat_rows(6, seed=3))
    other = "gpt-4o-mini-2024-07-18"
    assert main(["eval", "--data", str(test), "--model", BASE, "--model", other, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    run_id, score = summary["run"], summary["models"][-1]["scores"]["exact"]["mean"]
    assert main(["runs"]) == 0
    row = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(run_id))
    assert other in row and "test.jsonl" in row and f"exact {score:.3f}" in row
    assert " - " not in f" {row} "  # no column left empty
    assert main(["runs", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["kind"] == "eval" and listed["models"] == [BASE, other]
    assert listed["data"] == str(test) and listed["score"] == f"exact {score:.3f}"
    assert main(["runs", "show", run_id]) == 0
    shown = capsys.readouterr().out.splitlines()
    kinds = [ln.split()[0] for ln in shown]
    assert kinds[:2] == ["run", "data"] and kinds.count("model") == 2 and "verdict" in kinds
    assert any(
        ln.startswith("model") and other in ln and f"exact {score:.3f}" in ln for ln in shown
    )
    assert shown[-1].split(None, 1)[1] == f"openai-ft report {run_id}"


def test_status_shows_step_losses_and_hyperparameters(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    train = ["train", "--training-file", str(data[0]), "--validation-file", str(data[1]),
             "--n-epochs", "1", "--yes", "--no-wait"]  # fmt: skip
    assert main(train) == 0
    out, err = capsys.readouterr()
    job_id = out.strip()
    assert "1 epoch)" in err and "1 epochs" not in err
    assert main(["checkpoints", job_id]) == 0
    assert capsys.readouterr().out.startswith(f"no checkpoints yet for {job_id}")
    assert main(["status", job_id]) == 0
    before = capsys.readouterr().out
    assert "step:   - (no training step yet)" in before and "n_epochs 1" in before
    svc.run_jobs()
    assert main(["status", job_id]) == 0
    after = capsys.readouterr().out
    step = next(ln for ln in after.splitlines() if ln.strip().startswith("step:"))
    done, total = step.split()[1].split("/")
    assert done == total and int(total) > 0
    assert re.search(r"loss: +train \d+\.\d{4}  valid \d+\.\d{4}", after)
    assert "hyperparameters: batch_size " in after and "n_epochs 1" in after
    assert main(["status", job_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["step"] == int(total) and shown["hyperparameters"]["n_epochs"] == 1
