"""A line of 100,000 nested ``[`` is invalid JSON on that line, never an internal error: the
standard parser raises RecursionError on it, in every reader of user files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from openai_ft.cli import main
from openai_ft.dataset import validate as validate_mod
from openai_ft.dataset.validate import validate
from tests.jobs_helpers import chat_rows

DEEP = "[" * 100_000


def _deep_file(tmp_path: Path, rows: list[Any]) -> Path:
    path = tmp_path / "deep.jsonl"
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), "utf-8"
    )
    return path


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err
    return lines[0]


def test_validate_reports_the_deep_line_and_checks_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = chat_rows(12)
    bad_role = {"messages": [{"role": "robot", "content": "x"}, *good[0]["messages"][1:]]}
    path = _deep_file(tmp_path, [*good[:5], DEEP, *good[5:], bad_role])
    assert main(["validate", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    errors = {(e["line"], e["code"]) for e in out["errors"]}
    assert (6, "invalid_json") in errors
    assert any(line == 14 for line, _ in errors)  # the lines after it were checked too
    deep = next(e for e in out["errors"] if e["line"] == 6)
    assert "nested too deeply" in deep["message"]
    assert out["examples"] == 14


def test_deep_json_inside_an_example_and_in_tool_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nested = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "yo", "x": "PLACEHOLDER"},
        ]
    }
    inner = json.dumps(nested).replace('"PLACEHOLDER"', DEEP + "]" * len(DEEP))
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": DEEP}}
    tools = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [call]}]
    }
    path = _deep_file(tmp_path, [*chat_rows(10), inner, tools])
    serial = validate(path, workers=1)
    found = {(e.line, e.code) for e in serial.errors}
    assert (11, "invalid_json") in found
    assert (12, "invalid_tool_arguments") in found
    monkeypatch.setattr(validate_mod, "CHUNK_BYTES", 4096)  # pool workers parse it too
    assert validate(path, workers=2) == serial


@pytest.mark.parametrize("command", ["upload", "train"])
def test_upload_and_train_refuse_it_as_invalid_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = _deep_file(tmp_path, [*chat_rows(12), DEEP])
    args = (
        ["upload", str(path)]
        if command == "upload"
        else ["train", "--training-file", str(path), "--yes", "--no-wait"]
    )
    assert main([*args, "--backend", "local"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert f"{path}:13: not valid JSON: arrays/objects nested too deeply" in line


def test_prepare_names_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _deep_file(tmp_path, [{"text": "a", "label": "x"}, DEEP])
    assert main(["prepare", str(path), "--out-dir", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert (
        line
        == f"ERROR {path}: line 2: not valid JSON (arrays/objects nested too deeply at column 1)"
    )


def test_prepare_a_deep_csv_cell_and_a_deep_json_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = tmp_path / "t.csv"
    with table.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["messages"], [DEEP]])
    assert main(["prepare", str(table), "--out-dir", str(tmp_path / "o1")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{table}: row 2, column 'messages': not valid JSON (arrays/objects nested" in line
    whole = tmp_path / "t.json"
    whole.write_text(DEEP, "utf-8")
    assert main(["prepare", str(whole), "--out-dir", str(tmp_path / "o2")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{whole}: line 1: not valid JSON (arrays/objects nested too deeply)" in line


def test_eval_data_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _deep_file(tmp_path, [*chat_rows(3), DEEP])
    assert main(["eval", "--data", str(path), "--model", "gpt-4o-mini"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{path}:4: not valid JSON: arrays/objects nested too deeply" in line


def test_a_number_of_too_many_digits_is_invalid_json_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """json raises a plain ValueError (int_max_str_digits) on it: it was an internal error in
    the eval-set loader and a CSV cell, and a message about sys.set_int_max_str_digits elsewhere."""
    big = '{"messages": ' + "1" * 5000 + "}"
    path = _deep_file(tmp_path, [*chat_rows(10), big])
    assert main(["validate", str(path), "--json"]) == 1
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert {"line": 11, "code": "invalid_json"}.items() <= errors[-1].items()
    assert errors[-1]["message"] == "not valid JSON: a number of more than 4,300 digits at column 1"
    assert main(["eval", "--data", str(path), "--model", "gpt-4o-mini"]) == 2
    assert f"{path}:11: not valid JSON: a number of more than 4,300 digits" in _one_error_line(
        capsys.readouterr().err
    )
    table = tmp_path / "t.csv"
    table.write_text("messages\n" + "1" * 5000 + "\n", "utf-8")
    assert main(["prepare", str(table), "--out-dir", str(tmp_path / "o")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"{table}: row 2, column 'messages': not valid JSON (a number of more than" in line


def test_a_lone_surrogate_escape_is_invalid_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """json accepts "\\ud800" alone, but no UTF-8 text holds it: eval crashed sending it
    (UnicodeEncodeError), validate passed it. A proper pair (an emoji) stays valid."""
    lone = '{"messages": [{"role": "user", "content": "hi \\ud800"}, {"role": "assistant", "content": "a"}]}'
    pair = '{"messages": [{"role": "user", "content": "hi \\ud83d\\ude00 \\u00e9"}, {"role": "assistant", "content": "b"}]}'
    path = _deep_file(tmp_path, [*chat_rows(10), pair, lone])
    assert main(["validate", str(path), "--json"]) == 1
    errors = json.loads(capsys.readouterr().out)["errors"]
    assert [(e["line"], e["code"]) for e in errors] == [(12, "invalid_json")]
    assert "\\ud800 is half of a UTF-16 surrogate pair, not a character" in errors[0]["message"]
    assert main(["eval", "--data", str(path), "--model", "gpt-4o-mini"]) == 2
    assert f"{path}:12: not valid JSON: \\ud800 is half" in _one_error_line(capsys.readouterr().err)
    assert main(["prepare", str(path), "--out-dir", str(tmp_path / "o")]) == 2
    assert f"{path}: line 12: not valid JSON (\\ud800" in _one_error_line(capsys.readouterr().err)
