"""prepare and validate agree: the 10-example minimum is a training file's; empty splits get no file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from openai_ft.cli import main
from openai_ft.local import LocalService
from tests.jobs_helpers import cli_service


def _table(tmp_path: Path, n: int) -> Path:
    labels = ["billing", "shipping", "refund"]
    src = tmp_path / f"rows{n}.csv"
    rows = [{"q": f"ticket number {i} about {labels[i % 3]}", "a": labels[i % 3]} for i in range(n)]
    pd.DataFrame(rows).to_csv(src, index=False)
    return src


def _prepare(src: Path, out: Path, *more: str) -> list[str]:
    return ["prepare", str(src), "--user", "q", "--assistant", "a", "--out-dir", str(out), *more]


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    return cli_service(monkeypatch)


def test_a_60_row_table_gives_files_that_validate_upload_and_train_accept(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(_prepare(_table(tmp_path, 60), out)) == 0
    err = capsys.readouterr().err
    # 6 validation examples: written, with a note that its scores will be noisy (not an error)
    assert "NOTE validation split has only 6 examples" in err and "--val-size" in err
    train, valid = out / "train.jsonl", out / "validation.jsonl"
    assert len(valid.read_text().splitlines()) == 6

    assert main(["validate", str(train), str(valid), "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert [r["valid"] for r in reports] == [True, True]
    assert "too_few_examples" in {w["code"] for w in reports[1]["warnings"]}

    assert main(["upload", str(train), str(valid), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    args = ["train", "--training-file", str(train), "--validation-file", str(valid), "--yes"]
    assert main([*args, "--no-wait"]) == 0
    assert capsys.readouterr().out.strip().startswith("ftjob-")
    # the job the service runs accepts the small validation file too
    assert main([*args, "--wait"]) == 0
    assert capsys.readouterr().out.split()[-1].startswith("ft:")  # the job succeeded


def test_a_training_file_under_10_is_still_refused_everywhere(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "validation.jsonl"
    out = tmp_path / "out"
    assert main(_prepare(_table(tmp_path, 60), out)) == 0
    small.write_bytes((out / "validation.jsonl").read_bytes())
    capsys.readouterr()
    # the same 6 examples as a training file: an error in train (the role is known there)
    assert main(["train", "--training-file", str(small), "--yes", "--no-wait"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR ") and "at least 10 are required in a training file" in err
    assert main(["validate", str(small), "--role", "training"]) == 1


def test_empty_splits_write_no_file_and_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = _table(tmp_path, 60), tmp_path / "out"
    assert main(_prepare(src, out)) == 0  # an earlier run left all three files
    capsys.readouterr()
    assert main(_prepare(src, out, "--val-size", "0", "--test-size", "0", "--json")) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "train.jsonl"]
    for name in ("validation", "test"):
        assert f"NOTE {name} split is empty" in captured.err
        assert f"no {name}.jsonl written" in captured.err
    data = json.loads(captured.out)
    assert set(data["paths"]) == {"train", "manifest"} and set(data["files"]) == {"train"}
    assert data["counts"]["validation"] == data["counts"]["test"] == 0
    assert any("no validation.jsonl written" in note for note in data["notes"])
    assert main(["validate", str(out / "train.jsonl")]) == 0
    # the human summary (stdout) marks the splits that have no file
    assert main(_prepare(src, out, "--val-size", "0", "--test-size", "0")) == 0
    assert "validation (no file)" in capsys.readouterr().out


def test_a_table_too_small_to_train_is_refused_with_the_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(_prepare(_table(tmp_path, 10), out)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("ERROR ") and "10 distinct examples split into 8 train" in err[0]
    assert "a training file needs at least 10 examples; nothing was written" in err[0]
    assert err[1] == "TIP add rows, or lower --val-size/--test-size (0 leaves a split out)"
    assert not out.exists()
