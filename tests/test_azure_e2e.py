"""Azure end to end, offline: every command a real subprocess of the CLI against `openai-ft serve
--azure` on loopback, which plays both Azure's data plane (/openai/v1/) and ARM (/subscriptions/).

prepare -> upload -> train -> deploy (base) -> eval base vs fine-tuned with --deploy
--undeploy-after -> report -> undeploy; and an eval interrupted with Ctrl-C (SIGINT) that still
removes the deployment it made.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve_process import start_serve, stop_serve

REPO = Path(__file__).resolve().parents[1]
MODEL = "gpt-4.1-mini-2025-04-14"
ARM_TOKEN = "arm-token-e2e-0123456789"
API_KEY = "azure-key-e2e-0123456789"


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A serve --azure process; the environment that points every command at it."""
    root = tmp_path_factory.mktemp("azure")
    server_env = {**os.environ, "OPENAI_FT_ARM_TOKEN": ARM_TOKEN,
                  "OPENAI_FT_SERVE_API_KEY": API_KEY, "OPENAI_FT_LOCAL_DETACH": "0"}  # fmt: skip
    proc, v1 = start_serve(
        root / "service", "--azure", "--speed", "0", "--latency-ms", "40", env=server_env
    )
    url = v1.removesuffix("/v1")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_"))},
        "OPENAI_FT_HOME": str(root / "state"), "OPENAI_FT_BACKEND": "azure",
        "AZURE_OPENAI_ENDPOINT": url, "AZURE_OPENAI_API_KEY": API_KEY,
        "AZURE_MANAGEMENT_ENDPOINT": url, "AZURE_MANAGEMENT_TOKEN": ARM_TOKEN,
        "AZURE_SUBSCRIPTION_ID": "00000000-1111-2222-3333-444444444444",
        "AZURE_RESOURCE_GROUP": "rg-e2e", "AZURE_OPENAI_ACCOUNT": "acct-e2e",
        "OPENAI_FT_AZURE_POLL_S": "0.3", "COLUMNS": "200", "ROOT": str(root),
    }  # fmt: skip
    try:
        yield env
    finally:
        stop_serve(proc)


def run(env: dict[str, str], *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "openai_ft", *args], cwd=env["ROOT"], env=env,
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == code, f"{args[0]} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    for secret in (ARM_TOKEN, API_KEY):
        assert secret not in proc.stdout + proc.stderr
    return proc


def deployments(env: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(run(env, "deployments", "--json").stdout)
    return rows


@pytest.fixture(scope="module")
def trained(azure: dict[str, str]) -> dict[str, Any]:
    """prepare -> upload -> train on the stand-in; the job as `train --json` printed it."""
    data = Path(azure["ROOT"]) / "data"
    run(azure, "prepare", str(REPO / "data" / "support_tickets.csv"), "--user", "text",
        "--assistant", "intent", "--system-col", "system", "--out-dir", str(data), "--seed", "42")  # fmt: skip
    train, valid = str(data / "train.jsonl"), str(data / "validation.jsonl")
    run(azure, "upload", train, valid)
    job: dict[str, Any] = json.loads(
        run(azure, "train", "--training-file", train, "--validation-file", valid, "--model", MODEL,
            "--suffix", "demo", "--seed", "42", "--training-type", "developer", "--yes",
            "--no-wait", "--json").stdout
    )  # fmt: skip
    run(azure, "watch", job["job_id"], "--poll-interval", "0.3")
    done: dict[str, Any] = json.loads(run(azure, "status", job["job_id"], "--json").stdout)
    return {**job, **done, "test": str(data / "test.jsonl")}


def test_prepare_train_deploy_eval_report_undeploy(
    azure: dict[str, str], trained: dict[str, Any]
) -> None:
    ft = trained["fine_tuned_model"]
    assert ft.startswith(f"{MODEL}.ft-") and not ft.startswith("ft:")  # Azure's ids

    # Without a deployment the fine-tuned model cannot answer: stop before any request.
    stopped = run(azure, "eval", "--data", trained["test"], "--model", "@latest", code=2)
    assert "has no deployment" in stopped.stderr and "TIP" in stopped.stderr
    assert "--deploy" in stopped.stderr

    # The base model answers through a deployment too. Two deploys at once and a rerun: one
    # creates it, the others find it (ARM's PUT would not duplicate it either; they do not PUT).
    args = [sys.executable, "-m", "openai_ft", "deploy", MODEL, "--sku", "standard", "--yes",
            "--wait"]  # fmt: skip
    both = [
        subprocess.Popen(
            args,
            cwd=azure["ROOT"],
            env=azure,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], outs
    assert sum("nothing to do" in err for _, err in outs) == 1
    assert "no hosting fee for a base model" in "".join(err for _, err in outs)
    again = run(azure, "deploy", MODEL, "--sku", "standard", "--yes", "--wait")
    assert "nothing to do" in again.stderr and again.stdout.strip() == outs[0][0].strip()
    assert [d["model"] for d in deployments(azure)] == [MODEL]

    summary = json.loads(
        run(azure, "eval", "--data", trained["test"], "--model", MODEL, "--model", "@latest",
            "--deploy", "--undeploy-after", "--scorer", "exact", "--temperature", "0",
            "--seed", "42", "--require-better", "--json").stdout
    )  # fmt: skip
    base, tuned = summary["models"]
    assert tuned["model"] == ft  # its deployment is named after it
    assert base["answered"] == tuned["answered"] == base["examples"] > 50
    (cmp,) = [c for c in summary["comparisons"] if c["scorer"] == "exact"]
    assert cmp["diff"] > 0.3 and cmp["ci95"][0] > 0  # learned on the stand-in, not hard-coded

    left = deployments(azure)
    assert [d["model"] for d in left] == [MODEL]  # the eval's deployment is gone
    assert left[0]["sku"] == "Standard" and left[0]["cost_usd_so_far"] is not None

    out = Path(azure["ROOT"]) / "report"
    run(azure, "report", "latest", "--out-dir", str(out))
    assert ft in (out / "report.md").read_text("utf-8")

    run(azure, "undeploy", MODEL, "--yes")
    assert deployments(azure) == []


def test_ctrl_c_during_an_eval_removes_its_deployment(
    azure: dict[str, str], trained: dict[str, Any]
) -> None:
    ft = trained["fine_tuned_model"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "openai_ft", "eval", "--data", trained["test"], "--model",
         trained["job_id"], "--deploy", "--undeploy-after", "--concurrency", "1",
         "--retry-errors"],
        cwd=azure["ROOT"], env=azure, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    for line in proc.stderr:  # wait until the deployment answers: the eval is under way
        seen.append(line)
        if re.search(r"deployment \S+ answers", line) or time.monotonic() > deadline:
            break
    assert any("answers" in line for line in seen), "".join(seen)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, rest = proc.communicate(timeout=120)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"removing deployment {ft}" in err and "NOT removed" not in err
    assert all(d["model"] != ft for d in deployments(azure))
    import sqlite3

    db = sqlite3.connect(Path(azure["OPENAI_FT_HOME"]) / "runs.db")
    try:
        (state,) = db.execute(
            "SELECT state FROM azure_deployments WHERE model = ? ORDER BY created_at DESC", (ft,)
        ).fetchone()
    finally:
        db.close()
    assert state == "Deleted"
