"""The LLM judge end to end: the real SDK, the local service, and a judge model trained on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openai_ft.client import make_async_client, make_client
from openai_ft.config import BackendSettings
from openai_ft.evaluate.api import evaluate_async
from openai_ft.evaluate.cache import AnswerCache, open_ledger
from openai_ft.evaluate.judge import DEFAULT_RUBRIC, judge_call
from openai_ft.local import LocalService
from openai_ft.local.engine_base import GENERIC_REPLY
from openai_ft.store import Ledger

BASE = "gpt-4.1-mini-2025-04-14"
LABELS = ["billing", "shipping", "refund", "login"]


def ticket(i: int, *, listed: bool) -> dict[str, Any]:
    """A ticket; with ``listed`` the system prompt names the labels, so the base rule answers one
    of them, otherwise the base model gives its generic refusal.
    """
    system = "Classify the ticket as one of: " + ", ".join(LABELS) if listed else "Be helpful."
    label = LABELS[i % 4]
    return {"messages": [{"role": "system", "content": system},
                         {"role": "user", "content": f"my {label} problem number {i}"},
                         {"role": "assistant", "content": label}]}  # fmt: skip


def train_judge(home: Path) -> str:
    """A fine-tuned judge that grades a label answer ``Score: 9`` and a refusal ``Score: 1``."""
    rows = []
    for i in range(48):
        label = LABELS[i % 4]
        answer = GENERIC_REPLY if (i // 4) % 2 else label  # every label with both grades
        body = judge_call("x", f"my {label} problem number {i}", label, answer, DEFAULT_RUBRIC).body
        reply = "Score: 1" if answer == GENERIC_REPLY else "Score: 9"
        rows.append({"messages": [*body["messages"], {"role": "assistant", "content": reply}]})
    svc = LocalService(home, autostart=False, speed=0)
    client = make_client(BackendSettings("local", home=home), service=svc)
    f = client.files.create(
        file=("judge.jsonl", "\n".join(json.dumps(r) for r in rows).encode()), purpose="fine-tune"
    )
    job = client.fine_tuning.jobs.create(model=BASE, training_file=f.id, seed=7)
    svc.run_jobs()
    job = client.fine_tuning.jobs.retrieve(job.id)
    svc.close()
    assert job.status == "succeeded" and job.fine_tuned_model
    return job.fine_tuned_model


async def test_judge_scores_through_sdk_and_local_service(tmp_path: Path, write_jsonl: Any) -> None:
    home = tmp_path / "home"
    judge = train_judge(home)
    data = write_jsonl([ticket(i, listed=i % 3 != 0) for i in range(12)])
    svc = LocalService(home, autostart=False, speed=0)
    settings = BackendSettings("local", home=home)
    client = make_async_client(settings, service=svc, max_retries=0)
    led = open_ledger(Ledger(home / "runs.db"))
    res = await evaluate_async(data, [BASE], scorers=["exact", f"judge:{judge}"],
                               settings=settings, client=client, ledger=led)  # fmt: skip
    frame = res.results
    refused = frame["prediction"] == GENERIC_REPLY
    assert refused.sum() == 4 and (frame.loc[~refused, "score:exact"] == 1.0).all()
    # The judge model really answered each graded example over the SDK, through the runner.
    assert frame.loc[refused, f"score:judge:{judge}"].tolist() == [0.1] * 4
    assert frame.loc[~refused, f"score:judge:{judge}"].tolist() == [0.9] * 8
    sends = AnswerCache(led, settings.name).sends()
    assert [s for m, _, s in sends if m == judge] == [200] * 12
    assert res.summary["models"][0]["scores"][f"judge:{judge}"]["mean"] == 0.633333
    # Judge answers are cached like any other: a rerun asks nobody.
    again = await evaluate_async(data, [BASE], scorers=[f"judge:{judge}"], settings=settings,
                                 client=client, ledger=led)  # fmt: skip
    assert len(AnswerCache(led, settings.name).sends()) == len(sends)
    assert again.results[f"score:judge:{judge}"].tolist() == frame[f"score:judge:{judge}"].tolist()
    svc.close()
