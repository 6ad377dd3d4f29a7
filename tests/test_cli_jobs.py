"""The job commands through main(argv): output, exit codes, reattach hints, no key anywhere."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from openai_ft.cli import jobs as cli_jobs
from openai_ft.cli import main
from openai_ft.local import LocalService
from tests.jobs_helpers import chat_rows, cli_service, train_files, write_rows

SECRET = "sk-test-SECRETSECRET0123456789"


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    """The process-wide local service for this test's home, advanced only by the fake sleep."""
    service = cli_service(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    return service


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return train_files(tmp_path, valid_seed=2)


def _train_args(data: tuple[Path, Path]) -> list[str]:
    return ["train", "--training-file", str(data[0]), "--validation-file", str(data[1]),
            "--suffix", "demo", "--seed", "42", "--yes"]  # fmt: skip


def test_upload_then_train_wait_then_rerun_does_nothing(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["upload", str(data[0]), str(data[1]), "--json"]) == 0
    uploaded = json.loads(capsys.readouterr().out)
    assert [u["reused"] for u in uploaded] == [False, False]
    assert main(["upload", str(data[0]), str(data[1])]) == 0
    assert "nothing to do" in capsys.readouterr().err
    assert main([*_train_args(data), "--wait"]) == 0
    first = capsys.readouterr()
    model = first.out.strip().splitlines()[-1]
    assert model.startswith("ft:gpt-4.1-mini") and "succeeded" in first.err
    assert main([*_train_args(data), "--wait"]) == 0
    again = capsys.readouterr()
    assert "nothing to do" in again.err and model in again.err
    assert len(svc.service.state.all("job")) == 1 and len(svc.service.state.all("file")) >= 2
    assert main(["runs", "--json"]) == 0  # the table shortens ids to fit: tests/test_runs_listing
    assert model in capsys.readouterr().out
    job_id = svc.service.state.all("job")[0]["id"]
    assert main(["runs", "show", job_id]) == 0
    shown = capsys.readouterr().out
    assert "dataset" in shown and model in shown
    assert main(["checkpoints", job_id]) == 0
    assert "ckpt-step" in capsys.readouterr().out
    out_dir = data[0].parent / "m"
    assert main(["metrics", job_id, "--out-dir", str(out_dir)]) == 0
    csv = (out_dir / f"{job_id}.metrics.csv").read_text()
    assert csv.startswith("step,train_loss") and len(csv.splitlines()) > 5
    assert (out_dir / f"{job_id}.loss.png").read_bytes()[:4] == b"\x89PNG"
    _no_secret(capsys.readouterr(), Path(os.environ["OPENAI_FT_HOME"]))


def test_status_pause_resume_cancel_and_jobs(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_train_args(data), "--no-wait"]) == 0
    job_id = capsys.readouterr().out.strip()
    assert job_id.startswith("ftjob-")
    assert main(["pause", job_id]) == 0 and "paused" in capsys.readouterr().out
    assert main(["resume", job_id]) == 0
    assert main(["status", job_id, "--json"]) == 0
    status = _last_json(capsys)
    assert status["id"] == job_id and status["status"] in ("queued", "validating_files")
    assert main(["cancel", job_id]) == 0 and "cancelled" in capsys.readouterr().out
    assert main(["watch", job_id]) == 1
    assert f"job {job_id} ended cancelled" in capsys.readouterr().err
    assert main(["jobs"]) == 0 and job_id in capsys.readouterr().out
    assert main(["cancel", job_id]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR ") and "Cannot cancel" in err


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capsys.readouterr().out
    data = json.loads(out[out.index("{") :])
    assert isinstance(data, dict)
    return data


def test_ctrl_c_prints_how_to_reattach_and_cancel(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    assert main([*_train_args(data), "--no-wait"]) == 0
    job_id = capsys.readouterr().out.strip()

    def interrupt(_s: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_jobs, "SLEEP", interrupt)
    assert main(["watch", job_id]) == 130
    err = capsys.readouterr().err
    assert f"openai-ft watch {job_id}" in err and f"openai-ft cancel {job_id}" in err
    assert svc.service.state.get("job", job_id)["status"] not in ("cancelled", "failed")
    # the service of this test trains in this process (no job processes): it does not run on
    assert "keeps running" not in err and "pauses now" in err


def test_failed_job_exit_code_and_line(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[object] = [*chat_rows(12)]
    rows[3] = {"messages": [{"role": "user", "content": "no reply"}]}
    bad = write_rows(tmp_path / "bad.jsonl", rows)
    assert main(["train", "--training-file", str(bad), "--yes", "--no-wait"]) == 1
    assert f"ERROR {bad}:4" in capsys.readouterr().err
    assert main(["train", "--training-file", str(bad), "--yes", "--force", "--wait"]) == 1
    err = capsys.readouterr().err
    assert f"at {bad}:4" in err and "param training_file" in err


def test_budget_guard_exit_code(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*_train_args(data), "--budget-usd", "0.000001", "--no-wait"]) == 1
    assert "above the budget" in capsys.readouterr().err
    assert svc.service.state.all("job") == []


def test_missing_key_for_openai_backend_says_how_to_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["jobs", "--backend", "openai"]) == 2
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and "make demo" in err


def test_wrong_key_error_never_shows_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import openai

    from openai_ft.job_ops import list_jobs

    home = Path(os.environ["OPENAI_FT_HOME"])
    svc = LocalService(home, autostart=False, api_key="the-right-key-123")
    import httpx2

    client = openai.OpenAI(api_key=SECRET, base_url="http://local/v1", max_retries=0,
                           http_client=httpx2.Client(transport=svc.transport()))  # fmt: skip
    from openai_ft.errors import AuthError

    with pytest.raises(AuthError) as err:
        list_jobs(client)
    assert SECRET not in str(err.value) and SECRET not in (err.value.tip or "")


def _no_secret(captured: object, home: Path) -> None:
    assert SECRET not in str(captured)
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
