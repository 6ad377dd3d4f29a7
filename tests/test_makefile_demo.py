"""The Makefile's eval evaluates the model its train produced, not whatever was trained last.

The targets run for real (`make train eval` in the repository, each command a subprocess on the
local backend), with a stand-in `.venv/bin` whose install stamp is fresh, so that nothing installs.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL = "gpt-4.1-mini-2025-04-14"
LABELS = ("billing", "shipping", "refund")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A VENV whose bin/openai-ft and bin/python are this interpreter, install stamp up to date."""
    root = tmp_path / "venv"
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    oft = bin_dir / "openai-ft"
    oft.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m openai_ft "$@"\n')
    oft.chmod(oft.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "python").symlink_to(sys.executable)
    for stamp in (".install-stamp", ".install-hf-stamp"):
        (bin_dir / stamp).touch()  # newer than pyproject.toml: make installs nothing
    return root


def _env() -> dict[str, str]:
    # the test's own OPENAI_FT_HOME (conftest), shared with the commands run in-process here
    env = {**os.environ, "COLUMNS": "200"}
    env.update({"OPENAI_FT_LOCAL_SPEED": "0", "OPENAI_FT_LOCAL_DETACH": "0"})
    for var in ("OPENAI_API_KEY", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(var, None)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def test_make_eval_evaluates_the_model_make_train_produced(
    venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from openai_ft.cli import main
    from openai_ft.runs import latest_model
    from tests.jobs_helpers import cli_service

    env = _env()
    out = tmp_path / "out"
    table = tmp_path / "tickets.csv"
    rows = [
        {"text": f"ticket {i}: a question about {LABELS[i % 3]}", "intent": LABELS[i % 3],
         "system": "Classify the ticket."}
        for i in range(60)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(table, index=False)
    make = ["make", "--no-print-directory", f"VENV={venv}", f"OUT={out}", f"INPUT={table}"]
    make += ["BACKEND=local", "EVAL_GATE="]

    prepare = ["prepare", str(table), "--user", "text", "--assistant", "intent"]
    assert main([*prepare, "--system-col", "system", "--out-dir", str(out / "data")]) == 0
    _run([*make, "train"], env)
    demo_model = (out / "model.txt").read_text().strip()
    assert demo_model.startswith(f"ft:{MODEL}:") and ":demo:" in demo_model

    # Another model trained afterwards (here, in-process) is now the backend's @latest.
    cli_service(monkeypatch)
    capsys.readouterr()
    assert main(["train", "--training-file", str(out / "data" / "train.jsonl"), "--model", MODEL,
                 "--suffix", "other", "--seed", "7", "--yes", "--wait", "--json"]) == 0  # fmt: skip
    other_model = json.loads(capsys.readouterr().out)["fine_tuned_model"]
    assert other_model != demo_model and ":other:" in other_model
    assert latest_model("local") == other_model

    evaluated = _run([*make, "eval"], env)
    verdicts = [line for line in evaluated.stdout.splitlines() if f" {MODEL} on exact:" in line]
    assert len(verdicts) == 1 and verdicts[0].startswith(f"{demo_model} is ")
    assert other_model not in evaluated.stdout


def test_make_eval_without_a_trained_model_says_what_to_run(venv: Path, tmp_path: Path) -> None:
    make = ["make", "--no-print-directory", f"VENV={venv}", f"OUT={tmp_path / 'out'}", "eval"]
    proc = subprocess.run(make, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "model.txt is missing" in proc.stderr and "TIP run make train" in proc.stderr
