"""`openai-ft validate`: exit codes, the --json shape, the stderr report, light start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openai_ft.cli import main


def rows(n: int = 12) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"Hello number {i}, how are you?"},
                {"role": "assistant", "content": f"Fine, thanks for asking, person {i}."},
            ]
        }
        for i in range(n)
    ]


KEYS = ["path", "method", "model", "examples", "valid", "errors", "warnings", "tokens", "estimate"]


def test_valid_file_json_exit_0(
    write_jsonl: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(rows())
    assert main(["validate", str(path), "--json", "--model", "gpt-4o-mini"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == KEYS
    assert data["valid"] is True and data["examples"] == 12 and data["model"] == "gpt-4o-mini"
    assert list(data["tokens"]) == ["total", "assistant", "per_example"]
    assert list(data["estimate"]) == ["n_epochs", "trained_tokens", "usd", "price_source"]


def test_errors_exit_1_with_line_code_field(
    write_jsonl: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data_rows: list[Any] = rows()
    data_rows[3] = {
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": "y", "weight": 7},
        ]
    }
    path = write_jsonl(data_rows)
    assert main(["validate", str(path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is False
    assert data["errors"] == [
        {
            "line": 4,
            "code": "invalid_weight",
            "message": "weight must be 0 or 1, got 7",
            "field": "messages[1].weight",
        }
    ]


def test_several_paths_print_a_list(
    write_jsonl: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_jsonl(rows(), "train.jsonl")
    b = write_jsonl(rows()[:9], "validation.jsonl")
    # the 10-example minimum is a training file's: a 9-example validation file gets a warning
    assert main(["validate", str(a), str(b), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["path"] for d in data] == [str(a), str(b)]
    assert data[1]["valid"] is True and data[1]["errors"] == []
    assert {w["code"] for w in data[1]["warnings"]} == {"repeated_across_files", "too_few_examples"}
    assert main(["validate", str(b), "--role", "training", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["errors"][0]["code"] == "too_few_examples"


def test_missing_file_exit_2_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "none.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR ") and "none.jsonl: no such file" in err and "Traceback" not in err


def test_bad_method_is_usage_error(
    write_jsonl: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(write_jsonl(rows()))
    cases = [
        (["validate", path, "--method", "rlhf"], "Invalid value for '--method'"),
        (["validate", path, "--workers", "0"], "Invalid value for '--workers'"),
        (["validate", path, "--bogus"], "No such option '--bogus'"),
        (["validate"], "Missing argument 'PATHS...'"),
        (["prepare", path, "--out-dir", "o", "--val-size", "abc"], "'abc' is not a valid float"),
        (["prepare", path], "Missing option '--out-dir'"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        # one ERROR line naming the problem + a TIP, not click's multi-line usage block
        first, tip = err.splitlines()
        assert first.startswith("ERROR ") and message in first
        assert tip == f"TIP see 'openai-ft {argv[0]} --help'"
        assert "Usage:" not in err


def test_rich_report_on_stdout(
    write_jsonl: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data_rows: list[Any] = rows()
    data_rows[0] = "{broken"
    assert main(["validate", str(write_jsonl(data_rows))]) == 1
    out = capsys.readouterr()
    assert out.err == ""  # the report is the result: `validate f > report.txt` keeps it
    assert "invalid_json" in out.out and "tokens:" in out.out and "estimate:" in out.out


def test_json_mode_does_not_import_rich_pandas_or_openai(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl(rows())
    code = (
        "import sys; from openai_ft.cli import main; rc = main(['validate', sys.argv[1], '--json']);"
        "bad = [m for m in ('rich', 'pandas', 'openai', 'numpy') if m in sys.modules];"
        "print(bad, file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"
    assert json.loads(proc.stdout)["valid"] is True
