"""Numeric options of train/watch/jobs are checked up front: nan, inf and values outside OpenAI's
ranges are one ERROR line and exit 2, before any upload or request (flags and run config alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest

from openai_ft.cli import main
from openai_ft.local import LocalService
from tests.jobs_helpers import cli_service, train_files


class Counting(httpx2.BaseTransport):
    """The service's transport, remembering every request it is sent."""

    def __init__(self, inner: httpx2.BaseTransport, seen: list[str]) -> None:
        self.inner, self.seen = inner, seen

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Requests the CLI sends to the local service during the test."""
    svc: LocalService = cli_service(monkeypatch)
    requests: list[str] = []
    inner = svc.transport
    monkeypatch.setattr(svc, "transport", lambda: Counting(inner(), requests))
    return requests


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return train_files(tmp_path, valid_seed=1)[0]


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("ERROR ") and "internal error" not in err, err
    assert len([x for x in lines if x.startswith("ERROR")]) == 1
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--n-epochs", "0"], "--n-epochs 0: n_epochs must be a whole number from 1 to 50"),
        (["--n-epochs", "51"], "--n-epochs 51: n_epochs must be a whole number from 1 to 50"),
        (["--n-epochs", "nan"], "--n-epochs nan: n_epochs must be"),
        (["--batch-size", "0"], "--batch-size 0: batch_size must be a whole number from 1 to 256"),
        (["--batch-size", "257"], "--batch-size 257: batch_size must be"),
        (["--batch-size", "inf"], "--batch-size inf: batch_size must be"),
        (["--learning-rate-multiplier", "nan"], "--learning-rate-multiplier nan: learning_rate"),
        (["--learning-rate-multiplier", "inf"], "--learning-rate-multiplier inf: learning_rate"),
        (["--learning-rate-multiplier", "0"], "learning_rate_multiplier must be a number above 0"),
        (["--learning-rate-multiplier", "-0.5"], "--learning-rate-multiplier -0.5: learning"),
        (
            ["--method", "dpo", "--beta", "0"],
            "--beta 0: beta must be a number above 0 and at most 2",
        ),
        (["--method", "dpo", "--beta", "2.5"], "--beta 2.5: beta must be"),
        (["--method", "dpo", "--beta", "nan"], "--beta nan: beta must be"),
        (["--seed", "-1"], "--seed -1: seed must be a whole number from 0 to 2,147,483,647"),
        (["--seed", str(2**31)], f"--seed {2**31}: seed must be"),
        (["--suffix", ""], "--suffix '': suffix must be 1 to 64 characters"),
        (["--suffix", "x" * 65], "suffix must be 1 to 64 characters"),
        (["--budget-usd", "-1"], "--budget-usd -1.0: budget_usd must be a number of dollars, 0"),
        (["--budget-usd", "nan"], "--budget-usd nan: budget_usd must be"),
    ],
)
def test_train_flags_out_of_range_are_refused_before_any_request(
    seen: list[str],
    data: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    expected: str,
) -> None:
    args = ["train", "--training-file", str(data), "--yes", "--no-wait", *flags]
    assert main(args) == 2
    assert expected in _error(capsys)
    assert seen == []  # nothing uploaded, nothing asked


def test_the_limits_themselves_and_auto_are_accepted(
    seen: list[str], data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = [
        "--n-epochs",
        "50",
        "--batch-size",
        "256",
        "--learning-rate-multiplier",
        "auto",
        "--seed",
        str(2**31 - 1),
        "--suffix",
        "x" * 64,
        "--budget-usd",
        "0.5",
    ]
    assert main(["train", "--training-file", str(data), "--yes", "--no-wait", *flags]) == 0
    assert "POST /v1/fine_tuning/jobs" in seen
    assert capsys.readouterr().out.startswith("ftjob-")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[hyperparameters]\nn_epochs = 0\n", "run.toml: n_epochs = 0: n_epochs must be"),
        (
            "[hyperparameters]\nlearning_rate_multiplier = nan\n",
            "run.toml: learning_rate_multiplier = nan",
        ),
        ("n_epochs = true\n", "run.toml: n_epochs = True: n_epochs must be"),
        ("n_epochs = 'three'\n", "run.toml: n_epochs = 'three': n_epochs must be"),
        ("seed = -5\n", "run.toml: seed = -5: seed must be"),
        ("seed = 1.5\n", "run.toml: seed = 1.5: seed must be"),
        ("budget_usd = -inf\n", "run.toml: budget_usd = -inf: budget_usd must be"),
        ("[train]\nsuffix = ''\n", "run.toml: suffix = '': suffix must be 1 to 64 characters"),
        ("base_url = 5\n", "run.toml: base_url = 5: base_url must be a string"),
        ("model = 4.1\n", "run.toml: model = 4.1: model must be a string"),
        ("validation_file = []\n", "run.toml: validation_file = []: validation_file must be"),
    ],
)
def test_run_config_values_out_of_range_are_refused(
    seen: list[str],
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    toml: str,
    expected: str,
) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text(toml, "utf-8")
    args = ["train", "--training-file", str(data), "--config", str(cfg), "--yes", "--no-wait"]
    assert main(args) == 2
    assert f"ERROR {tmp_path}/{expected}" in _error(capsys)
    assert seen == []


def test_a_flag_overrides_a_bad_config_value(
    seen: list[str], data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text("[hyperparameters]\nn_epochs = 0\n", "utf-8")
    args = [
        "train",
        "--training-file",
        str(data),
        "--config",
        str(cfg),
        "--n-epochs",
        "2",
        "--yes",
        "--no-wait",
    ]
    assert main(args) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["watch", "ftjob-x", "--poll-interval", "-1"], "Invalid value for '--poll-interval'"),
        (["watch", "ftjob-x", "--poll-interval", "nan"], "nan is not a number of seconds above 0"),
        (["watch", "ftjob-x", "--poll-interval", "inf"], "inf is not a number of seconds above 0"),
        (["watch", "ftjob-x", "--poll-interval", "0"], "0.0 is not a number of seconds above 0"),
        (["jobs", "--limit", "0"], "Invalid value for '--limit'"),
        (["jobs", "--limit", "-3"], "Invalid value for '--limit'"),
    ],
)
def test_watch_and_jobs_numbers_are_usage_errors(
    seen: list[str], capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    assert main(args) == 2
    assert expected in _error(capsys)
    assert seen == []


def test_good_watch_and_jobs_numbers_still_work(
    seen: list[str], capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    assert main(["train", "--training-file", str(data), "--yes", "--no-wait"]) == 0
    job = capsys.readouterr().out.strip()
    assert main(["watch", job, "--poll-interval", "0.01"]) == 0
    assert main(["jobs", "--limit", "1", "--json"]) == 0
    out: Any = capsys.readouterr().out
    assert job in out


@pytest.mark.parametrize(
    "command", ["status", "watch", "cancel", "pause", "resume", "checkpoints", "metrics"]
)
@pytest.mark.parametrize("job_id", ["", " ", "a/b", "ftjob-1?after=x"])
def test_a_job_id_that_is_not_one_is_a_usage_error(
    seen: list[str], capsys: pytest.CaptureFixture[str], command: str, job_id: str
) -> None:
    """'' crashed the SDK (internal error); 'a/b' asked for another endpoint."""
    assert main([command, job_id]) == 2
    assert f"{job_id!r} is not a fine-tuning job id" in _error(capsys)
    assert seen == []


def test_whole_numbers_written_as_floats_are_accepted(
    seen: list[str], data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2.0 epochs is 2 (a TOML float, or a flag): train sends it as an integer."""
    cfg = tmp_path / "run.toml"
    cfg.write_text("seed = 7.0\n[hyperparameters]\nbatch_size = 4.0\n", "utf-8")
    args = [
        "train",
        "--training-file",
        str(data),
        "--config",
        str(cfg),
        "--n-epochs",
        "2.0",
        "--yes",
        "--no-wait",
        "--json",
    ]
    assert main(args) == 0, capsys.readouterr().err
    assert "POST /v1/fine_tuning/jobs" in seen
