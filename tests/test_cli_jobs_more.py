"""The job commands through main(argv): a rerun after a failed job, --early-stop, metrics, lineage."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from openai_ft.cli import main
from openai_ft.local import LocalService
from tests.jobs_helpers import chat_rows, cli_service, train_files, write_rows


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    """The process-wide local service for this test's home, advanced only by the fake sleep."""
    return cli_service(monkeypatch)


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "out" / "data"
    folder.mkdir(parents=True)
    return train_files(folder, valid_seed=2)


def _train(data: tuple[Path, Path], *more: str) -> list[str]:
    return ["train", "--training-file", str(data[0]), "--validation-file", str(data[1]),
            "--seed", "5", "--yes", *more]  # fmt: skip


def test_rerun_after_a_cancelled_job_creates_nothing_and_says_new_retrains(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_train(data, "--no-wait")) == 0
    job_id = capsys.readouterr().out.strip()
    assert main(["cancel", job_id]) == 0
    capsys.readouterr()
    for wait in ("--wait", "--no-wait"):
        assert main(_train(data, wait)) == 1
        out, err = capsys.readouterr()
        assert out.strip() == job_id
        lines = err.strip().splitlines()
        assert lines[0].startswith(f"ERROR job {job_id}") and "ended cancelled" in lines[0]
        assert "not creating another paid job" in lines[0]
        assert lines[1].startswith("TIP pass --new to retrain")
    assert len(svc.service.state.all("job")) == 1
    assert main(_train(data, "--new", "--no-wait")) == 0
    assert capsys.readouterr().out.strip() != job_id
    assert len(svc.service.state.all("job")) == 2


def test_rerun_of_a_failed_job_names_its_error(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[object] = [*chat_rows(12)]
    rows[3] = {"messages": [{"role": "user", "content": "no reply"}]}
    bad = write_rows(tmp_path / "bad.jsonl", rows)
    args = ["train", "--training-file", str(bad), "--yes", "--force"]
    assert main([*args, "--wait"]) == 1
    capsys.readouterr()
    assert main([*args, "--no-wait", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["attached"] is True and json.loads(out)["status"] == "failed"
    assert "ended failed: " in err and "--new" in err
    assert len(svc.service.state.all("job")) == 1


def test_early_stop_is_checked_before_anything_is_created(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_train(data, "--early-stop", "0", "--wait")) == 2
    assert "--early-stop" in capsys.readouterr().err
    assert main(_train(data, "--early-stop", "2", "--no-wait")) == 2
    assert "ERROR --early-stop needs --wait" in capsys.readouterr().err
    no_valid = ["train", "--training-file", str(data[0]), "--yes", "--wait", "--early-stop", "2"]
    assert main(no_valid) == 2
    assert "needs a validation file" in capsys.readouterr().err
    assert main(["watch", "ftjob-x", "--early-stop", "-1"]) == 2
    assert svc.service.state.all("job") == [] and svc.service.state.all("file") == []


def test_metrics_prints_a_terminal_chart_and_refuses_cleanly(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    assert main(_train(data, "--no-wait")) == 0
    job_id = capsys.readouterr().out.strip()
    out_dir = tmp_path / "m"
    assert main(["metrics", job_id, "--out-dir", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"ERROR job {job_id} has no metrics yet") and "openai-ft watch" in err
    assert not out_dir.exists()
    assert main(["watch", job_id]) == 0
    capsys.readouterr()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["metrics", job_id, "--out-dir", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ERROR {blocker / 'sub'}: cannot write") and "Traceback" not in err
    assert main(["metrics", job_id, "--out-dir", str(out_dir)]) == 0
    out, err = capsys.readouterr()
    chart = [line for line in err.splitlines() if line.startswith(("train_loss", "valid_loss"))]
    assert len(chart) == 2 and all(any(c in line for c in "▁▂▃▄▅▆▇█") for line in chart)
    assert out.split() == [
        str(out_dir / f"{job_id}.metrics.csv"),
        str(out_dir / f"{job_id}.loss.png"),
    ]


def test_runs_show_walks_from_the_source_table_to_the_model(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    train_sha = __import__("hashlib").sha256(data[0].read_bytes()).hexdigest()
    manifest = {
        "source": {"path": "data/tickets.csv", "format": "csv", "sha256": "ab" * 32, "rows": 907},
        "seed": 42,
        "counts": {"train": 24, "validation": 10, "test": 3},
        "files": {"train": {"path": "train.jsonl", "sha256": train_sha}},
    }
    (data[0].parent / "manifest.json").write_text(json.dumps(manifest))
    assert main(_train(data, "--wait")) == 0
    model = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["runs", "--json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert main(["runs", "show", run["run_id"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    kinds = [line.split()[0] for line in lines]
    assert kinds[:4] == ["source", "manifest", "dataset", "file"]
    assert kinds[-1] == "model" and lines[-1].split()[1] == model and "checkpoint" in kinds
    assert lines[0].split(None, 1)[1] == "data/tickets.csv (csv, 907 rows, sha256:abababababab)"
    assert (
        str(data[0].parent / "manifest.json") in lines[1] and "24 train / 10 validation" in lines[1]
    )
    assert kinds.count("source") == 1  # the validation file's bytes are not in this manifest
    ckpt = next(line for line in lines if line.startswith("checkpoint"))
    assert "step" in ckpt and " valid " in ckpt and "{" not in ckpt


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_estimate_comes_before_the_job_with_or_without_a_prompt(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    assert main(_train(data, "--no-wait")) == 0
    err = capsys.readouterr().err
    assert err.index("estimate: supervised job on") < err.index("created job ")
    # On a terminal without --yes: the same estimate in the question; "n" creates nothing.
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    args = [a for a in _train(data, "--no-wait", "--new") if a != "--yes"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Create a supervised job on gpt-4.1-mini" in err and "trained tokens" in err
    assert "no job created: declined" in err
    assert len(svc.service.state.all("job")) == 1


def test_the_run_config_can_choose_the_backend(
    svc: LocalService, data: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:  # fmt: skip
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'backend = "openai"\ntraining_file = "{data[0]}"\n')
    assert main(["train", "--config", str(cfg), "--yes", "--no-wait"]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    # The flag overrides the file.
    assert main(["train", "--config", str(cfg), "--backend", "local", "--yes", "--no-wait"]) == 0
    assert capsys.readouterr().out.startswith("ftjob-")
