"""train --early-stop: a success that names the best checkpoint, once, and again on a rerun;
Ctrl-C in watch says what really happens to a local job (the in-process case: test_cli_jobs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from openai_ft.cli import jobs as cli_jobs
from openai_ft.cli import main
from openai_ft.config import resolve_backend
from openai_ft.early_stop import early_stop_of
from openai_ft.local import LocalService
from openai_ft.store import Ledger
from tests.jobs_helpers import INTENTS, chat_rows, cli_service, write_rows


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    return cli_service(monkeypatch)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    # Validation answers contradict what training teaches: the validation loss rises as it learns.
    valid = chat_rows(12, seed=5)
    for row in valid:
        answer = row["messages"][-1]
        answer["content"] = INTENTS[(INTENTS.index(answer["content"]) + 1) % len(INTENTS)]
    return (
        write_rows(tmp_path / "train.jsonl", chat_rows(24)),
        write_rows(tmp_path / "validation.jsonl", valid),
    )


def test_early_stop_exits_0_names_the_checkpoint_once_and_again_on_rerun(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, valid = _files(tmp_path)
    args = ["train", "--training-file", str(train), "--validation-file", str(valid),
            "--n-epochs", "8", "--early-stop", "1", "--yes", "--wait"]  # fmt: skip
    assert main(args) == 0
    out, err = capsys.readouterr()
    job_id, checkpoint = out.split()
    assert (
        job_id.startswith("ftjob-") and checkpoint.startswith("ft:") and "ckpt-step" in checkpoint
    )
    assert err.count("early stop:") == 1 and err.count(checkpoint) == 1
    assert f"best usable checkpoint: {checkpoint}" in err
    assert svc.service.state.get("job", job_id)["status"] == "cancelled"

    # the ledger knows it was an early stop, with the checkpoint and the run it belongs to
    stop = early_stop_of(Ledger(), resolve_backend(None).name, job_id)
    assert stop is not None and stop.checkpoint == checkpoint and stop.patience == 1
    row = Ledger().one("SELECT run_id FROM early_stops WHERE job_id = ?", (job_id,))
    assert row is not None and row["run_id"]

    # a rerun attaches to the cancelled job: the same success, the same checkpoint, nothing new
    for again in (args, [*args[:-4], "--yes", "--no-wait"]):  # --early-stop is a watch option
        assert main(again) == 0
        out, err = capsys.readouterr()
        assert out.split() == [checkpoint]
        assert "was stopped early" in err and err.count("early stop:") == 1
        assert "ERROR" not in err
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["attached"] is True and data["best_checkpoint"] == checkpoint
    assert data["early_stop"]["checkpoint"] == checkpoint
    assert len(svc.service.state.all("job")) == 1

    # watching the job later says the same
    assert main(["watch", job_id]) == 0
    out, err = capsys.readouterr()
    assert out.split() == [checkpoint] and err.count("early stop:") == 1

    # the run history tells an early stop from a job cancelled by hand, and names its model
    assert main(["runs", "--json"]) == 0
    (run,) = [r for r in json.loads(capsys.readouterr().out) if r["job_id"] == job_id]
    assert run["status"] == "early-stopped" and run["fine_tuned_model"] == checkpoint
    assert main(["runs", "show", job_id]) == 0
    assert f"best checkpoint {checkpoint}" in capsys.readouterr().out


def test_a_job_cancelled_by_hand_still_fails_a_rerun(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, valid = _files(tmp_path)
    args = ["train", "--training-file", str(train), "--validation-file", str(valid), "--yes"]
    assert main([*args, "--no-wait"]) == 0
    job_id = capsys.readouterr().out.strip()
    assert main(["cancel", job_id]) == 0
    capsys.readouterr()
    assert main([*args, "--wait"]) == 1
    assert "ended cancelled" in capsys.readouterr().err
    assert main(["runs", "--json"]) == 0
    assert [r["status"] for r in json.loads(capsys.readouterr().out)] == ["cancelled"]


def test_ctrl_c_says_a_detached_or_remote_job_keeps_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai_ft import client as client_mod

    home = Path(os.environ["OPENAI_FT_HOME"]).resolve()
    detached = LocalService(home, autostart=False, speed=0, detach=True)
    monkeypatch.setitem(client_mod._services, home, detached)
    assert cli_jobs._detached(resolve_backend("local")) is True
    monkeypatch.setitem(client_mod._services, home, LocalService(home, autostart=False, speed=0))
    assert cli_jobs._detached(resolve_backend("local")) is False
    assert cli_jobs._detached(resolve_backend("local", "http://127.0.0.1:8089/v1")) is True
    text = cli_jobs._after_ctrl_c("ftjob-1", True)
    assert text.startswith("stopped watching; job ftjob-1 keeps running.")
