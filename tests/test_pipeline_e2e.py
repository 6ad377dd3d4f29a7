"""The user-facing contract, end to end: the demo's commands as separate processes.

prepare -> validate -> upload -> train -> eval -> report on the bundled support tickets with the
local backend, each command a real subprocess sharing one state folder (as `make demo` runs them),
then the same commands again: nothing is uploaded, trained or requested twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "OPENAI_FT_HOME": str(tmp_path / "state"),
        "OPENAI_FT_BACKEND": "local",
        "OPENAI_FT_LOCAL_SPEED": "0",
        "COLUMNS": "200",
    }
    env.pop("OPENAI_API_KEY", None)

    def _run(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "openai_ft", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, f"{args[0]} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr
        return proc

    return _run


def test_demo_pipeline_end_to_end_and_rerun(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = str(REPO / "data" / "support_tickets.csv")
    out = tmp_path / "out"
    prep = json.loads(
        run("prepare", data, "--user", "text", "--assistant", "intent", "--system-col", "system",
            "--out-dir", str(out / "data"), "--seed", "42", "--json").stdout
    )  # fmt: skip
    assert {p.name for p in (out / "data").iterdir()} >= {
        "train.jsonl",
        "validation.jsonl",
        "test.jsonl",
        "manifest.json",
    }
    assert json.dumps(prep)  # the summary is JSON

    train, valid, test = (str(out / "data" / f"{s}.jsonl") for s in ("train", "validation", "test"))
    reports = json.loads(run("validate", train, valid, "--model", MODEL, "--json").stdout)
    assert [r["valid"] for r in reports] == [True, True]

    first_upload = json.loads(run("upload", train, valid, "--json").stdout)
    job = json.loads(
        run("train", "--training-file", train, "--validation-file", valid, "--model", MODEL,
            "--suffix", "demo", "--seed", "42", "--yes", "--wait", "--json").stdout
    )  # fmt: skip
    assert job["attached"] is False
    assert job["status"] == "succeeded"
    assert job["fine_tuned_model"].startswith(f"ft:{MODEL}:")

    summary = json.loads(
        run("eval", "--data", test, "--model", MODEL, "--model", "@latest", "--scorer", "exact",
            "--scorer", "classification", "--temperature", "0", "--seed", "42", "--require-better",
            "--json").stdout
    )  # fmt: skip
    base, tuned = summary["models"]
    assert tuned["model"] == job["fine_tuned_model"]
    assert base["answered"] == tuned["answered"] == base["examples"] > 50
    (cmp,) = [c for c in summary["comparisons"] if c["scorer"] == "exact"]
    # Learned, not hard-coded: a wide margin whose whole confidence interval is above zero.
    assert cmp["diff"] > 0.4
    assert cmp["ci95"][0] > 0.2
    assert 0 < cmp["p_value"] < 0.001

    run("report", "latest", "--out", str(out / "report"))
    for name in ("report.md", "report.html", "results.csv", "results.jsonl"):
        assert (out / "report" / name).stat().st_size > 0
    assert "data:image/png;base64," in (out / "report" / "report.html").read_text()

    # Rerun everything: same file ids, same job, and the eval answers come from the ledger.
    second_upload = json.loads(run("upload", train, valid, "--json").stdout)
    assert [u["file_id"] for u in second_upload] == [u["file_id"] for u in first_upload]
    assert all(u["reused"] for u in second_upload)
    again = json.loads(
        run("train", "--training-file", train, "--validation-file", valid, "--model", MODEL,
            "--suffix", "demo", "--seed", "42", "--yes", "--wait", "--json").stdout
    )  # fmt: skip
    assert again["attached"] is True
    assert again["job_id"] == job["job_id"]
    jobs = json.loads(run("jobs", "--json").stdout)
    assert len(jobs) == 1

    rerun = run("eval", "--data", test, "--model", MODEL, "--model", "@latest", "--scorer", "exact",
                "--temperature", "0", "--seed", "42", "--json")  # fmt: skip
    n = 2 * base["examples"]
    assert f"{n}/{n} done ({n} from ledger)" in rerun.stderr  # zero requests sent
    assert json.loads(rerun.stdout)["models"][1]["scores"]["exact"]["mean"] == pytest.approx(
        tuned["scores"]["exact"]["mean"]
    )
