"""``--config`` that is a folder, binary, not TOML or unreadable: one ERROR line naming the file,
exit 2, never an internal error."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from openai_ft.cli import main
from openai_ft.config import load_run_config
from openai_ft.errors import UsageError


def _only_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("ERROR ") and lines[1].startswith("TIP ")
    return lines[0]


def test_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    assert main(["train", "--config", str(folder), "--training-file", "t.jsonl", "--yes"]) == 2
    assert _only_error(capsys) == f"ERROR {folder}: is a directory, not a run config"


def test_a_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blob = tmp_path / "run.toml.gz"
    blob.write_bytes(gzip.compress(b"n_epochs = 3\n"))
    assert main(["train", "--config", str(blob), "--training-file", "t.jsonl", "--yes"]) == 2
    assert _only_error(capsys) == f"ERROR {blob}: not a TOML file (byte 2 is not UTF-8 text)"
    assert main(["eval", "--config", str(blob), "--data", "x.jsonl", "--model", "m"]) == 2
    assert _only_error(capsys) == f"ERROR {blob}: not a TOML file (byte 2 is not UTF-8 text)"


def test_text_that_is_not_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notes = tmp_path / "README.md"
    notes.write_text("# My runs\n\nTrain with three epochs.\n", "utf-8")
    assert main(["train", "--config", str(notes), "--training-file", "t.jsonl", "--yes"]) == 2
    assert _only_error(capsys).startswith(f"ERROR {notes}: not valid TOML: ")


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_a_file_that_cannot_be_read() -> None:
    # /proc/self/mem opens but every read at offset 0 fails with EIO: a plain OSError.
    with pytest.raises(UsageError, match=r"^/proc/self/mem: cannot read the run config: "):
        load_run_config("/proc/self/mem")
