"""File-level validation: encoding, JSON, sizes, chunked/pooled scans, in-memory and first_error."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openai_ft.dataset import validate as validate_mod
from openai_ft.dataset.validate import first_error, validate, validate_examples, validate_many
from openai_ft.errors import InputError, UsageError


def row(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You summarise tickets."},
            {"role": "user", "content": f"Ticket {i}: the printer on floor {i} is jammed again."},
            {
                "role": "assistant",
                "content": f"Printer jam reported on floor {i}; a technician is on the way.",
            },
        ]
    }


def good_rows(n: int = 12) -> list[str]:
    return [json.dumps(row(i)) for i in range(n)]


def test_valid_file_report(write_jsonl: Callable[..., Path]) -> None:
    report = validate(write_jsonl(good_rows()))
    assert report.valid and report.examples == 12
    assert report.errors == () and report.warnings == ()
    assert report.tokens.total > report.tokens.assistant > 0
    assert report.tokens.min <= report.tokens.p50 <= report.tokens.p95 <= report.tokens.max
    assert (
        report.estimate.n_epochs == 8 and report.estimate.trained_tokens == 8 * report.tokens.total
    )
    data = report.to_dict()
    assert list(data) == [
        "path",
        "method",
        "model",
        "examples",
        "valid",
        "errors",
        "warnings",
        "tokens",
        "estimate",
    ]
    assert set(data["tokens"]["per_example"]) == {"min", "max", "mean", "p50", "p95"}


def test_invalid_utf8_and_json_are_reported_per_line(tmp_path: Path) -> None:
    lines = [r.encode() for r in good_rows()]
    lines[2] = b'{"messages": "caf\xe9"}'
    lines[5] = b'{"messages": [}'
    lines[7] = b"   "
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = validate(path)
    got = [(i.line, i.code) for i in report.errors]
    assert got == [(3, "invalid_utf8"), (6, "invalid_json"), (8, "empty_line")]
    assert "0xe9" in report.errors[0].message
    assert "column" in report.errors[1].message


def test_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(good_rows()).encode() + b"\r\n")
    report = validate(path)
    assert [(i.line, i.code) for i in report.errors] == [(1, "utf8_bom")]
    assert report.examples == 12
    assert first_error(path) is not None and first_error(path).code == "utf8_bom"  # type: ignore[union-attr]


def test_too_few_examples_is_a_file_level_error(write_jsonl: Callable[..., Path]) -> None:
    report = validate(write_jsonl(good_rows(9)))
    assert [(i.line, i.code) for i in report.errors] == [(None, "too_few_examples")]
    assert first_error(write_jsonl(good_rows(9), "b.jsonl")).code == "too_few_examples"  # type: ignore[union-attr]


def test_file_size_limits(
    write_jsonl: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(good_rows())
    size = path.stat().st_size
    monkeypatch.setattr(validate_mod, "FILES_API_LIMIT", size - 1)
    report = validate(path)
    assert report.valid and [i.code for i in report.warnings] == ["large_file"]
    monkeypatch.setattr(validate_mod, "UPLOADS_API_LIMIT", size - 1)
    report = validate(path)
    assert [(i.line, i.code) for i in report.errors] == [(None, "file_too_large")]


def test_missing_unreadable_and_directory_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        validate(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="directory"):
        validate(tmp_path)
    with pytest.raises(InputError):
        first_error(tmp_path / "nope.jsonl")
    with pytest.raises(UsageError, match="unknown method"):
        validate(tmp_path / "nope.jsonl", method="rlhf")


def test_chunked_pool_scan_equals_serial(
    write_jsonl: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = good_rows(300)
    rows[10] = '{"messages": [}'
    rows[150] = rows[3]
    rows[299] = json.dumps({"messages": [{"role": "user", "content": "x"}]})
    path = write_jsonl(rows)
    serial = validate(path, workers=1)
    monkeypatch.setattr(validate_mod, "CHUNK_BYTES", 4096)
    pooled = validate(path, workers=2)
    chunked = validate(path, workers=1)
    assert pooled == serial == chunked
    assert [(i.line, i.code) for i in serial.errors] == [
        (11, "invalid_json"),
        (300, "no_assistant_message"),
    ]
    assert (151, "duplicate") in [(i.line, i.code) for i in serial.warnings]


def test_validate_examples_uses_positions(write_jsonl: Callable[..., Path]) -> None:
    examples = [row(i) for i in range(12)]
    examples[4] = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "x", "weight": 5},
        ]
    }
    report = validate_examples(examples, source="prepared")
    assert report.path == "prepared"
    assert [(i.line, i.code) for i in report.errors] == [(5, "invalid_weight")]
    from_file = validate(write_jsonl([json.dumps(e) for e in examples]))
    assert from_file.tokens.total == report.tokens.total


def test_first_error_stops_at_the_first_bad_line(write_jsonl: Callable[..., Path]) -> None:
    rows = good_rows(20)
    rows[6] = json.dumps({"messages": [{"role": "bot", "content": "x"}]})
    rows[9] = "{oops"
    issue = first_error(write_jsonl(rows))
    assert issue is not None and (issue.line, issue.code) == (7, "unknown_role")
    assert first_error(write_jsonl(good_rows(), "ok.jsonl")) is None


def test_validate_many_warns_about_repeats_across_files(write_jsonl: Callable[..., Path]) -> None:
    train = write_jsonl(good_rows(20), "train.jsonl")
    val_rows = [json.dumps(row(i)) for i in range(100, 112)]
    val_rows[2] = good_rows(20)[5]
    val_rows[3] = good_rows(20)[6].upper()
    val = write_jsonl(val_rows, "validation.jsonl")
    r_train, r_val = validate_many([train, val])
    assert r_train.warnings == ()
    repeats = [
        (i.line, i.code, i.message) for i in r_val.warnings if i.code == "repeated_across_files"
    ]
    assert [(ln, c) for ln, c, _ in repeats] == [
        (3, "repeated_across_files"),
        (4, "repeated_across_files"),
    ]
    assert "train.jsonl line 6" in repeats[0][2] and "train.jsonl line 7" in repeats[1][2]


_CTRL_C_IN_A_WORKER = """
import os, signal, sys
from openai_ft.cli import main
from openai_ft.dataset import validate, validate_scan

validate.CHUNK_BYTES = 16 * 1024  # several chunks, so a pool of 2 workers scans them
real = validate_scan.Scanner.feed_bytes
parent, marker = os.getpid(), sys.argv[2]

def feed_bytes(self, line, raw):
    if os.getpid() != parent and line == 20:
        try:  # the first worker to get here presses Ctrl-C: SIGINT to the whole group
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            os.killpg(0, signal.SIGINT)
        except FileExistsError:
            pass
    return real(self, line, raw)

validate_scan.Scanner.feed_bytes = feed_bytes
sys.exit(main(["validate", sys.argv[1], "--workers", "2"]))
"""


def test_ctrl_c_during_a_pooled_scan_is_one_line(
    write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    import subprocess
    import sys

    path = write_jsonl(good_rows(600))
    assert path.stat().st_size > 4 * 16 * 1024
    proc = subprocess.run(
        [sys.executable, "-c", _CTRL_C_IN_A_WORKER, str(path), str(tmp_path / "pressed")],
        capture_output=True,
        text=True,
        timeout=30,  # without the fix a worker's death could hang the pool
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    assert (tmp_path / "pressed").exists()
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and "ForkPoolWorker" not in proc.stderr
    # our ERROR/TIP pair (never click's bare "Aborted."): what stopped and what to do next
    assert proc.stderr.strip().splitlines() == [
        "ERROR validate interrupted (Ctrl-C)",
        "TIP nothing was written; run the same command again to validate the files",
    ]
