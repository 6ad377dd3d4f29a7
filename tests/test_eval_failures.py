"""Failed requests count: scores over every example (a failure scores 0), gates fail on failures
unless --max-failures allows them, and options that cannot work stop before any request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from openai_ft.cli import main
from openai_ft.cli.evaluate import gate
from openai_ft.config import BackendSettings
from openai_ft.evaluate.api import evaluate_async
from openai_ft.store import Ledger
from tests.test_eval_cli import BASE, LABELS, _count, rows
from tests.test_eval_cli_options import _one_error_line

FT = "ft:gpt-4.1-mini-2025-04-14:acme::abc"


def _reply(model: str, text: str) -> httpx2.Response:
    return httpx2.Response(200, json={
        "id": "x", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}})  # fmt: skip


def _handler(request: httpx2.Request) -> httpx2.Response:
    """The fine-tuned model answers examples 0-9 right and fails the other 90 (HTTP 400); the
    baseline answers all 100, right on every other one."""
    body = json.loads(request.content)
    number = int(body["messages"][-1]["content"].rsplit(" ", 1)[1])
    label = LABELS[number % 4]
    if body["model"] == FT:
        if number < 10:
            return _reply(FT, label)
        return httpx2.Response(400, json={"error": {"message": "context too long",
                                                    "type": "invalid_request_error"}})  # fmt: skip
    return _reply(BASE, label if number % 2 else "no idea")


@pytest.fixture
async def summary(write_jsonl: Any, tmp_path: Path) -> dict[str, Any]:
    client = openai.AsyncOpenAI(api_key="k", base_url="http://m.test/v1", max_retries=0,
                                http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(_handler)))  # fmt: skip
    res = await evaluate_async(
        write_jsonl(rows(100)), [BASE, FT], scorers=["exact"], client=client,
        ledger=Ledger(tmp_path / "r.db"),
        settings=BackendSettings("openai", base_url="http://m.test/v1", home=tmp_path),
    )  # fmt: skip
    return res.summary


def test_failed_examples_score_zero_and_the_answered_figure_is_beside(
    summary: dict[str, Any],
) -> None:
    base, ft = summary["models"]
    assert (ft["answered"], ft["failed"]) == (10, 90)
    # 10 of 100 right: 0.1, not the 1.0 that dropping the failures gave.
    assert ft["scores"]["exact"]["mean"] == pytest.approx(0.1)
    assert ft["scores"]["exact"]["answered_mean"] == 1.0
    assert ft["scores"]["exact"]["ci95"][1] < 0.2
    assert base["scores"]["exact"]["mean"] == pytest.approx(0.5)
    [comp] = summary["comparisons"]
    assert comp["examples"] == 100 and comp["verdict"] == "worse"
    assert (comp["wins"], comp["losses"]) == (5, 45)


def test_gates_fail_on_failures_unless_max_failures_allows_them(summary: dict[str, Any]) -> None:
    assert "90 of 100 examples failed" in str(gate(summary, 0.05, False))
    assert "--max-failures 0" in str(gate(summary, None, True))
    assert "--max-failures 10" in str(gate(summary, None, False, 10))
    # Failures allowed: the score with failures as 0 still decides.
    assert "scored 0.1" in str(gate(summary, 0.5, False, 90))
    assert gate(summary, 0.05, False, 90) is None
    assert "is worse than" in str(gate(summary, None, True, 90))
    assert gate(summary, None, False) is None  # no gate asked for


@pytest.mark.parametrize(
    "flags",
    [
        ["--limit", "0"],
        ["--fail-under", "1.5"],
        ["--fail-under", "-0.1"],
        ["--fail-under", "nan"],
        ["--seed", "-1"],
        ["--temperature", "nan"],
        ["--rpm", "inf"],
        ["--tpm", "nan"],
        ["--max-failures", "-1"],
        ["--require-better"],
        ["--require-better", "--model", BASE],
    ],
)
def test_options_that_cannot_work_are_usage_errors_before_any_request(
    flags: list[str], write_jsonl: Any, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(3))
    assert main(["eval", "--data", str(data), "--model", BASE, *flags]) == 2
    _one_error_line(capsys.readouterr().err)
    assert not (home / "runs.db").exists()  # nothing sent, nothing recorded


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("fail_under = nan", "'fail_under' must be a number from 0 to 1"),
        ("fail_under = 2", "'fail_under' must be a number from 0 to 1"),
        ("rpm = inf", "'rpm' must be a number > 0"),
        ("seed = -3", "'seed' must be a whole number >= 0"),
        ("limit = 0", "'limit' must be a whole number >= 1"),
        ("max_failures = -1", "'max_failures' must be a whole number >= 0"),
        ("require_better = true", "--require-better compares two models"),
    ],
)
def test_run_config_values_are_checked_the_same_way(
    body: str, words: str, write_jsonl: Any, tmp_path: Path, home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[eval]\ndata = "{write_jsonl(rows(2))}"\nmodels = ["{BASE}"]\n{body}\n')
    assert main(["eval", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    _one_error_line(err)
    assert words in err
    assert not (home / "runs.db").exists()


def test_limit_evaluates_the_first_n_examples(
    write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(9))
    assert main(["eval", "--data", str(data), "--model", BASE, "--limit", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"][0]["examples"] == 4


def test_a_judge_that_never_gives_a_score_fails_the_run(
    write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The local service's base models answer a grading prompt with no score at all.
    data = write_jsonl(rows(3))
    judge = "judge:gpt-4o-mini-2024-07-18"
    assert main(["eval", "--data", str(data), "--model", BASE, "--scorer", judge]) == 1
    err = capsys.readouterr().err
    assert f"FAIL {judge}: none of the 3 judge replies gave a score" in err


def test_the_table_shows_the_answered_only_score_beside_the_score(
    summary: dict[str, Any],
) -> None:
    import io

    from rich.console import Console

    from openai_ft.console.evaluate import render_summary

    buf = io.StringIO()
    render_summary(summary, console=Console(file=buf, width=200, force_terminal=False))
    text = buf.getvalue()
    assert "answered-only" in text
    ft_row = next(line for line in text.splitlines() if FT in line)
    assert "0.100" in ft_row and "1.000" in ft_row and "90" in ft_row


def test_a_judge_that_does_not_exist_fails_the_run_after_one_request(
    write_jsonl: Any, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(5))
    judge = "judge:no-such-judge"
    assert main(["eval", "--data", str(data), "--model", BASE, "--scorer", judge]) == 1
    err = capsys.readouterr().err
    assert f"WARN {judge}: 5 judge requests failed (HTTP 404" in err
    assert f"FAIL {judge}: every judge request failed (HTTP 404" in err
    assert _count(home, "SELECT count(*) FROM eval_sends WHERE model = 'no-such-judge'") == 1
