"""eval from the CLI: option ranges, --help scorer syntax, the [eval] run config, --batch end to
end, failed models, progress off a terminal, and resume after Ctrl-C (SIGINT).
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from openai_ft.cli import main
from openai_ft.config import BackendSettings
from openai_ft.evaluate import batch as batch_mod
from openai_ft.evaluate.api import evaluate_async
from openai_ft.evaluate.runner import Progress
from openai_ft.evaluate.scorers import builtin_names
from openai_ft.store import Ledger
from tests.test_eval_cli import BASE, OTHER, _count, rows


def _one_error_line(err: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("ERROR ") and "Traceback" not in err, err
    assert all(ln.startswith(("ERROR ", "TIP ")) for ln in lines), err


@pytest.mark.parametrize(
    "flag",
    [
        ["--concurrency", "0"],
        ["--rpm", "0"],
        ["--tpm", "-5"],
        ["--n", "0"],
        ["--temperature", "3"],
        ["--max-completion-tokens", "0"],
    ],
)
def test_bad_option_values_are_one_line_exit_2(
    flag: list[str], write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(2))
    assert main(["eval", "--data", str(data), "--model", BASE, *flag]) == 2
    _one_error_line(capsys.readouterr().err)


def test_help_documents_every_scorer_and_its_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--help"]) == 0
    text = capsys.readouterr().out
    for name in builtin_names():
        assert name in text, name
    for example in ("numeric:0.01", "(dotted: a.b)", "JSON Schema file PATH", "[eval]"):
        assert example in text


def test_run_config_eval_table_drives_the_run(
    write_jsonl: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = rows(7)
    examples[6]["messages"][-1]["content"] = "escalate"  # a label no model answers: exact < 1
    data = write_jsonl(examples)
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "string"}')
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        "[eval]\n"
        f'data = "{data}"\n'
        f'models = ["{BASE}", "{OTHER}"]\n'
        f'scorers = ["exact", "numeric:0.5", "regex:^[a-z]+$", "json_field:a", '
        f'"json_schema:{schema}", "contains"]\n'
        "temperature = 0\nseed = 5\nconcurrency = 2\nfail_under = 0.9\nlimit = 7\n"
    )
    assert main(["eval", "--config", str(cfg), "--json"]) == 1  # fail_under from the config
    summary = json.loads(capsys.readouterr().out)
    assert [m["model"] for m in summary["models"]] == [BASE, OTHER]
    assert list(summary["models"][0]["scores"]) == [
        "exact", "numeric:0.5", "regex:^[a-z]+$", "json_field:a", f"json_schema:{schema}",
        "contains",
    ]  # fmt: skip
    saved = json.loads((tmp_path / "home" / "evals" / summary["run"] / "config.json").read_text())
    assert saved["sampling"]["temperature"] == 0 and saved["sampling"]["seed"] == 5
    # A flag overrides the config's value.
    assert main(["eval", "--config", str(cfg), "--fail-under", "0", "--json"]) == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('scorer = ["exact"]', "did you mean 'scorers'"),
        ('temperature = "hot"', "'temperature' must be a number"),
        ("concurrency = 0", "'concurrency' must be"),
        ('models = "gpt"', "'models' must be a list"),
        ("batch = 1", "'batch' must be true or false"),
    ],
)
def test_run_config_mistakes_are_one_line(
    body: str, words: str, tmp_path: Path, write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(2))
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"[eval]\n{body}\n")
    assert main(["eval", "--data", str(data), "--model", BASE, "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert words in err and "run.toml" in err


def test_missing_data_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--model", BASE]) == 2
    _one_error_line(capsys.readouterr().err)


def test_latest_with_nothing_trained_is_one_line_exit_2(
    write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(2))
    assert main(["eval", "--data", str(data), "--model", BASE, "--model", "@latest"]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert "--model @latest: no succeeded fine-tuning job on backend 'local' yet" in err
    assert "TIP train one with `openai-ft train`, or name the model" in err


def test_batch_end_to_end_through_the_cli(
    write_jsonl: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The in-process local service answers the batch in its worker thread; poll it often.
    monkeypatch.setattr(batch_mod, "POLL_FIRST", 0.01)
    data = write_jsonl(rows(6))
    args = ["eval", "--data", str(data), "--model", BASE, "--model", OTHER, "--batch", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["batch"] is True
    assert [m["answered"] for m in summary["models"]] == [6, 6]
    db = sqlite3.connect(tmp_path / "home" / "runs.db")
    try:
        assert db.execute("SELECT count(*) FROM eval_sends").fetchone()[0] == 0
        assert [r[0] for r in db.execute("SELECT status FROM eval_batches")] == ["joined"] * 2
        assert db.execute("SELECT count(*) FROM eval_answers WHERE batch = 1").fetchone()[0] == 12
        # The rerun is answered from the ledger: no new batch.
        assert main(args) == 0
        assert db.execute("SELECT count(*) FROM eval_batches").fetchone()[0] == 2
    finally:
        db.close()
    assert json.loads(capsys.readouterr().out)["models"][1]["answered"] == 6


def test_a_model_that_answers_nothing_says_why_and_exits_1(
    write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(3))
    assert main(["eval", "--data", str(data), "--model", "no-such-model-xyz"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert "WARN no-such-model-xyz: 3 of 3 examples failed (HTTP 404" in err
    assert "FAIL no example was answered by no-such-model-xyz" in err


async def test_unparseable_judge_replies_leave_scores_empty(
    write_jsonl: Any, tmp_path: Path
) -> None:
    data = write_jsonl(rows(3))

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        text = "I cannot grade this" if body["model"] == "judge" else "billing"
        return httpx2.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}})  # fmt: skip

    client = openai.AsyncOpenAI(api_key="k", base_url="http://j.test/v1", max_retries=0,
                                http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))  # fmt: skip
    res = await evaluate_async(
        data, [BASE], scorers=["judge:judge"], client=client, ledger=Ledger(tmp_path / "r.db"),
        settings=BackendSettings("openai", base_url="http://j.test/v1", home=tmp_path),
    )  # fmt: skip
    assert res.summary["models"][0]["scores"]["judge:judge"]["mean"] is None
    assert [w["score"] for w in res.summary["worst"]] == [None, None, None]


def test_progress_off_a_terminal_prints_one_whole_final_line() -> None:
    from rich.console import Console

    from openai_ft.console.evaluate import live_progress, progress_line

    buf = io.StringIO()
    con = Console(file=buf, force_terminal=False, width=200)
    snaps = [Progress(4, d, 0, 0, d, 0, 10 * d, d, 0.01 * d, float(d)) for d in (1, 2, 4)]
    with live_progress(con) as update:
        for p in snaps:
            update(p)
    con.print("next")
    assert buf.getvalue() == progress_line(snaps[-1]) + "\nnext\n"


def test_ctrl_c_is_one_line_and_the_rerun_resumes(write_jsonl: Any, tmp_path: Path) -> None:
    n = 40
    data = write_jsonl(rows(n))
    home = tmp_path / "home"
    env = {**os.environ, "OPENAI_FT_HOME": str(home), "OPENAI_FT_LOCAL_LATENCY_MS": "100"}
    cmd = [sys.executable, "-m", "openai_ft", "eval", "--data", str(data), "--model", BASE,
           "--concurrency", "2", "--json"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if _count(home, "SELECT count(*) FROM eval_answers") >= 8:
                break
        except sqlite3.OperationalError:
            pass
        time.sleep(0.05)  # polling a real subprocess, not simulating time
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    _one_error_line(err)
    assert "run the same command again to resume" in err
    before = _count(home, "SELECT count(*) FROM eval_answers")
    assert 0 < before < n, "the run must be interrupted midway"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["models"][0]["answered"] == n
    assert f"({before} from ledger)" in done.stderr
    twice = _count(home, "SELECT count(*) FROM (SELECT request_hash FROM eval_sends "
                         "WHERE status = 200 GROUP BY request_hash HAVING count(*) > 1)")  # fmt: skip
    assert twice == 0
