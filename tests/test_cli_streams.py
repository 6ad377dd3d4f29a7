"""Results on stdout, status on stderr; a closed pipe, Ctrl-C and bad paths end in one clear way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from openai_ft.cli import main
from tests.jobs_helpers import chat_rows, write_rows

BASE = "gpt-4.1-mini-2025-04-14"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "OPENAI_FT_HOME": str(tmp_path / "state"), "OPENAI_FT_BACKEND": "local"}
    env.pop("OPENAI_API_KEY", None)
    return env


def test_validate_report_goes_to_stdout_so_a_redirect_keeps_it(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "train.jsonl", chat_rows(12))
    report = tmp_path / "report.txt"
    with report.open("w") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "openai_ft", "validate", str(path)],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path),
            timeout=60,
        )
    assert proc.returncode == 0 and proc.stderr == ""
    text = report.read_text()
    assert f"{path} - 12 examples" in text and "tokens:" in text and "estimate:" in text


def test_prepare_summary_on_stdout_notes_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "t.csv"
    rows = [{"q": f"ticket {i}", "a": ["yes", "no"][i % 2]} for i in range(40)]
    pd.DataFrame(rows).to_csv(src, index=False)
    args = [
        "prepare",
        str(src),
        "--user",
        "q",
        "--assistant",
        "a",
        "--out-dir",
        str(tmp_path / "o"),
    ]
    assert main([*args, "--test-size", "0"]) == 0
    out, err = capsys.readouterr()
    assert "40 rows read" in out and "written to" in out and "estimate for" in out
    assert "NOTE test split is empty" in err and "40 rows read" not in err


def test_eval_tables_and_verdict_on_stdout_status_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_FT_BACKEND", "local")
    data = write_rows(tmp_path / "test.jsonl", chat_rows(6))
    args = ["eval", "--data", str(data), "--model", BASE, "--model", "gpt-4o-mini-2024-07-18"]
    assert main([*args, "--temperature", "0"]) == 0
    out, err = capsys.readouterr()
    verdict = f"gpt-4o-mini-2024-07-18 is not significantly different from {BASE} on exact"
    assert "exact" in out and verdict in out  # the table and the verdict line
    assert "saved: " in err and "report: openai-ft report" in err and "--out-dir" in err
    assert "saved: " not in out
    assert main([*args, "--temperature", "0", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["models"][0]["model"] == BASE  # --json: one document, nothing else
    assert verdict in err  # with --json the verdict is status: stdout is the JSON document


def _first_line_then_close(cmd: list[str], env: dict[str, str]) -> tuple[str, int, str]:
    """Run ``cmd | head -1``: read one line, close the pipe, return (line, exit code, stderr)."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline().decode()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    return line, proc.wait(timeout=120), err


def _reader_gone(cmd: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``cmd`` with stdout a pipe nobody reads any more: its first write meets EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.Popen(
        cmd, stdout=write_end, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL
    )
    os.close(write_end)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode()


def test_a_closed_pipe_ends_quietly_with_exit_0(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "train.jsonl", chat_rows(12))
    # far more report than a pipe buffers, so the writer meets the closed pipe for sure
    cmd = [sys.executable, "-m", "openai_ft", "validate", *[str(path)] * 400]
    line, code, err = _first_line_then_close(cmd, {**_env(tmp_path), "COLUMNS": "100"})
    assert str(path) in line
    assert code == 0, err
    assert err == ""  # no BrokenPipeError traceback, no "Exception ignored" line
    json_cmd = [*cmd, "--json"]
    line, code, err = _first_line_then_close(json_cmd, _env(tmp_path))
    assert line.startswith("[") and code == 0 and err == ""
    # eval's tables (rich) meet the closed pipe too: its progress on stderr, no traceback
    data = write_rows(tmp_path / "test.jsonl", chat_rows(40))
    evaluate = [sys.executable, "-m", "openai_ft", "eval", "--data", str(data), "--model", BASE,
                "--model", "gpt-4o-mini-2024-07-18", "--scorer", "exact", "--scorer",
                "classification", "--temperature", "0"]  # fmt: skip
    code, err = _reader_gone(evaluate, {**_env(tmp_path), "COLUMNS": "100"})
    assert code == 0, err
    assert "Traceback" not in err and "Exception ignored" not in err and "ERROR" not in err
    assert "done" in err  # its progress still went to stderr


def test_ctrl_c_during_validate_and_upload_is_our_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai_ft.dataset import validate_scan

    path = write_rows(tmp_path / "train.jsonl", chat_rows(12))

    def pressed(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(validate_scan, "scan_chunk", pressed)
    monkeypatch.setattr("openai_ft.dataset.validate.scan_chunk", pressed)
    for command, tip in (
        ("validate", "TIP nothing was written; run the same command again"),
        ("upload", "TIP files already uploaded are reused and an interrupted upload resumes"),
    ):
        assert main([command, str(path)]) == 130
        err = capsys.readouterr().err
        assert "Aborted." not in err and "Traceback" not in err
        lines = err.strip().splitlines()
        assert lines[0] == f"ERROR {command} interrupted (Ctrl-C)"
        assert lines[1].startswith(tip)


def test_upload_of_a_directory_or_a_dpo_file_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data"
    folder.mkdir()
    assert main(["upload", str(folder)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"ERROR {folder}: is a directory, not a JSONL file",
        "TIP pass the .jsonl file itself (for example train.jsonl inside it)",
    ]
    # no Makefile here: `make prepare` would not help; a prepared name gets the prepare command
    assert main(["upload", "out/data/train.jsonl"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "make prepare" not in err and "openai-ft prepare" in err
    assert main(["upload", "elsewhere.jsonl"]) == 2
    assert capsys.readouterr().err.splitlines()[1] == "TIP check the path"
    (tmp_path / "Makefile").write_text("prepare: install\n\t$(OFT) prepare ...\n")
    assert main(["upload", "out/data/train.jsonl"]) == 2
    assert "run `make prepare` first" in capsys.readouterr().err

    pair = {
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "preferred_output": [{"role": "assistant", "content": "hello"}],
        "non_preferred_output": [{"role": "assistant", "content": "go away"}],
    }
    dpo = write_rows(tmp_path / "pairs.jsonl", [pair] * 12)
    assert main(["upload", str(dpo)]) == 1
    tip = capsys.readouterr().err.splitlines()[1]
    assert tip == f"TIP {dpo} is a DPO file: pass --method dpo"
    assert main(["train", "--training-file", str(dpo), "--yes", "--no-wait"]) == 1
    assert capsys.readouterr().err.splitlines()[1] == f"TIP {dpo} is a DPO file: pass --method dpo"
