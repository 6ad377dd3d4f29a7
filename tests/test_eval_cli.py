"""The eval and report commands: exit codes, --json shape, report files, resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from openai_ft.cli import main

BASE = "gpt-4.1-mini-2025-04-14"
OTHER = "gpt-4o-mini-2024-07-18"
LABELS = ["billing", "shipping", "refund", "login"]


def rows(n: int) -> list[dict[str, Any]]:
    """``n`` intent-classification chats whose label is named in the system prompt."""
    system = "Classify the ticket as one of: " + ", ".join(LABELS)
    return [
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": f"my {LABELS[i % 4]} problem number {i}"},
                {"role": "assistant", "content": LABELS[i % 4]},
            ]
        }
        for i in range(n)
    ]


def test_eval_json_gate_and_report(
    write_jsonl: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(8))
    args = ["eval", "--data", str(data), "--model", BASE, "--model", OTHER, "--scorer", "exact",
            "--scorer", "classification", "--json"]  # fmt: skip
    assert main([*args, "--fail-under", "0.5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) >= {"run", "models", "comparisons"}
    m = summary["models"][1]
    assert {"model", "examples", "answered", "failed", "scores", "cost_usd"} <= set(m)
    assert set(m["scores"]["exact"]) == {"mean", "ci95", "answered_mean"}
    assert {"model", "vs", "scorer", "diff", "ci95", "p_value"} <= set(summary["comparisons"][0])
    # Equal models: --require-better fails the CI gate with exit 1; a bar outside 0-1 is a usage error.
    assert main([*args, "--require-better"]) == 1
    assert main([*args, "--fail-under", "1.5"]) == 2
    capsys.readouterr()
    out = tmp_path / "rep"
    assert main(["report", "latest", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"report: {out / 'report.html'}\n"  # the result: stdout
    for name in ("report.md", "report.html", "results.csv", "results.jsonl"):
        assert (out / name).stat().st_size > 100
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "Confusion matrix" in page
    assert len((out / "results.jsonl").read_text().splitlines()) == 16
    assert main(["report", summary["run"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"] == summary["run"]


def test_bad_input_is_one_line_and_exit_2(
    write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl([rows(1)[0], "{not json"])
    assert main(["eval", "--data", str(data), "--model", BASE]) == 2
    err = capsys.readouterr().err
    assert f"ERROR {data}:2: not valid JSON" in err and "Traceback" not in err
    no_ref = write_jsonl([{"messages": [{"role": "user", "content": "hi"}]}], name="noref.jsonl")
    assert main(["eval", "--data", str(no_ref), "--model", BASE]) == 2
    assert "no assistant message" in capsys.readouterr().err
    assert main(["eval", "--data", str(data), "--model", BASE, "--scorer", "bogus"]) == 2
    assert main(["report", "nope-run"]) == 2


def _count(home: Path, sql: str) -> int:
    """One number from the ledger under ``home`` (a count query)."""
    db = sqlite3.connect(home / "runs.db")
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


def test_resume_after_kill_9_requests_only_missing(write_jsonl: Any, tmp_path: Path) -> None:
    n = 40
    data = write_jsonl(rows(n))
    home = tmp_path / "home"
    env = {**os.environ, "OPENAI_FT_HOME": str(home), "OPENAI_FT_LOCAL_LATENCY_MS": "100"}
    cmd = [sys.executable, "-m", "openai_ft", "eval", "--data", str(data), "--model", BASE,
           "--concurrency", "2", "--json"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    answered = 0
    while time.monotonic() < deadline:
        if (home / "runs.db").exists():
            try:
                answered = _count(home, "SELECT count(*) FROM eval_answers")
            except sqlite3.OperationalError:
                answered = 0
            if answered >= 8:
                break
        time.sleep(0.05)  # polling a real subprocess, not simulating time
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _count(home, "SELECT count(*) FROM eval_answers")
    assert 0 < before < n, "the run must be killed midway"
    sent_before = _count(home, "SELECT count(*) FROM eval_sends WHERE status = 200")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["models"][0]["answered"] == n
    # The rerun sent exactly the missing examples; no answered example was requested again.
    sent_after = _count(home, "SELECT count(*) FROM eval_sends WHERE status = 200")
    assert sent_after - sent_before == n - before
    assert _count(home, "SELECT count(*) FROM (SELECT request_hash FROM eval_sends WHERE status = 200 "
                        "GROUP BY request_hash HAVING count(*) > 1)") == 0  # fmt: skip
