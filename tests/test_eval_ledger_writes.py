"""The runner and the ledger: answers are stored as scored (a rerun scores the same text), writes
never stall the requests, and a model the service does not know costs one request, not all.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from openai_ft.cli import main
from openai_ft.evaluate.api import evaluate_async
from openai_ft.evaluate.runner import Progress, RunOptions
from tests.test_eval_cli import BASE, _count, rows
from tests.test_eval_runner import FakeTime, setup

KEYLIKE = "sk-proj-ABCDEFGH12345678"  # a label that looks like an API key


def tickets(labels: list[str], n: int) -> list[dict[str, Any]]:
    system = "Classify the ticket as one of: " + ", ".join(labels)
    return [
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": f"about {labels[i % len(labels)]} number {i}"},
                {"role": "assistant", "content": labels[i % len(labels)]},
            ]
        }
        for i in range(n)
    ]


async def test_a_reply_that_looks_like_a_key_scores_the_same_on_the_rerun(
    tmp_path: Path, write_jsonl: Any
) -> None:
    data = write_jsonl(tickets(["billing", KEYLIKE], 6))
    svc, client, settings, led = setup(tmp_path)
    kw: dict[str, Any] = dict(scorers=["exact"], settings=settings, client=client, ledger=led)
    first = await evaluate_async(data, [BASE], **kw)
    again = await evaluate_async(data, [BASE], **kw)  # every answer from the ledger
    assert first.summary["models"][0]["scores"]["exact"]["mean"] == 1.0
    assert again.summary["models"][0]["scores"]["exact"]["mean"] == 1.0  # was 0.5
    assert list(again.results["prediction"]) == list(first.results["prediction"])
    stored = [r[0] for r in led.query("SELECT texts_json FROM eval_answers")]
    assert sum(KEYLIKE in t for t in stored) == 3
    svc.close()


async def test_the_key_in_use_never_reaches_the_ledger_and_both_runs_score_alike(
    tmp_path: Path, write_jsonl: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "refund-0123456789-secret"
    monkeypatch.setenv("OPENAI_API_KEY", secret)  # a model that echoes the key in use
    data = write_jsonl(tickets(["billing", secret], 4))
    svc, client, settings, led = setup(tmp_path)
    kw: dict[str, Any] = dict(scorers=["exact"], settings=settings, client=client, ledger=led)
    first = await evaluate_async(data, [BASE], **kw)
    again = await evaluate_async(data, [BASE], **kw)
    assert secret not in str(led.query("SELECT texts_json, response_json FROM eval_answers"))
    assert secret not in first.results["prediction"].str.cat()
    # The first run scores what the ledger holds, so the rerun agrees with it.
    assert first.summary["models"][0]["scores"] == again.summary["models"][0]["scores"]
    assert first.summary["models"][0]["scores"]["exact"]["mean"] == 0.5
    svc.close()


HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # the ledger's write lock
print("locked", flush=True)
sys.stdin.readline()  # until the test says so (or closes the pipe)
db.execute("COMMIT")
"""


async def test_requests_keep_flowing_while_another_process_holds_the_ledger_lock(
    tmp_path: Path, write_jsonl: Any
) -> None:
    clock = FakeTime()
    data = write_jsonl(rows(20))
    svc, client, settings, led = setup(tmp_path, clock=clock)
    led.db.execute("PRAGMA busy_timeout=3000")  # a write blocked on the event loop fails in 3 s
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(led.path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    answered_while_locked: list[int] = []

    def on_progress(p: Progress) -> None:
        if p.done == p.total and holder.poll() is None and not answered_while_locked:
            answered_while_locked.append(p.done)
            assert holder.stdin is not None
            holder.stdin.write("release\n")  # the other process commits only now
            holder.stdin.flush()

    try:
        res = await evaluate_async(
            data, [BASE], scorers=["exact"], settings=settings, client=client, ledger=led,
            clock=clock, sleep=clock.sleep, on_progress=on_progress,
            options=RunOptions(concurrency=4),
        )  # fmt: skip
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=30) == 0
    # Every request was sent and answered while the lock was held; the writes waited, not them.
    assert answered_while_locked == [20]
    assert res.summary["models"][0]["answered"] == 20
    assert len(led.query("SELECT * FROM eval_answers WHERE status = 'ok'")) == 20
    assert len(led.query("SELECT * FROM eval_sends WHERE status = 200")) == 20
    svc.close()


def test_an_unknown_model_costs_one_request_not_one_per_example(
    write_jsonl: Any, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(20))
    args = ["eval", "--data", str(data), "--model", BASE, "--model", "no-such-model-xyz"]
    assert main([*args, "--concurrency", "8"]) == 1
    err = capsys.readouterr().err
    assert "WARN no-such-model-xyz: 20 of 20 examples failed (HTTP 404" in err
    sent = "SELECT count(*) FROM eval_sends WHERE model = '{}'"
    assert _count(home, sent.format("no-such-model-xyz")) == 1  # was 20
    assert _count(home, sent.format(BASE)) == 20
    # Only the request that was sent is stored; the rerun probes with one more, not 19.
    assert main(args) == 1
    assert _count(home, sent.format("no-such-model-xyz")) == 2


async def test_an_attempts_log_and_its_answer_commit_together(tmp_path: Path) -> None:
    """A crash between logging an attempt and storing its answer would make the rerun send that
    request again; writes queued together (no await between them) commit as one transaction."""
    from openai_ft.evaluate.cache import Answer, AnswerCache
    from openai_ft.evaluate.runner import LedgerWriter
    from openai_ft.store import Ledger

    cache = AnswerCache(Ledger(tmp_path / "runs.db"), "local")
    writer = LedgerWriter(cache.ledger.transaction)

    def crash() -> None:
        raise RuntimeError("died")  # the process dies before the answer is written

    writer.write(lambda: cache.log_send("m", "k1", 200))
    writer.write(crash)
    with pytest.raises(RuntimeError):
        await writer.close()
    assert cache.sends() == []  # the attempt's log did not outlive its lost answer

    writer = LedgerWriter(cache.ledger.transaction)
    writer.write(lambda: cache.log_send("m", "k1", 200))
    writer.write(lambda: cache.put("m", "k1", Answer("ok", texts=("yes",))))
    await writer.close()
    assert cache.sends() == [("m", "k1", 200)]
    assert cache.get_many("m", ["k1"])["k1"].texts == ("yes",)
