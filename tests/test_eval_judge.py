"""The LLM judge end to end: the real SDK, the local service, and a judge model trained on it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openai_ft.client import make_async_client, make_client
from openai_ft.config import BackendSettings
from openai_ft.evaluate.api import evaluate_async
from openai_ft.evaluate.cache import AnswerCache, open_ledger
from openai_ft.evaluate.judge import DEFAULT_RUBRIC, judge_call
from openai_ft.evaluate.runner import RunOptions
from openai_ft.local import LocalService
from openai_ft.local.engines.ngram.base import GENERIC_REPLY
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


async def test_unparsable_judge_replies_are_counted_and_warned(
    tmp_path: Path, write_jsonl: Any
) -> None:
    """A judge that does not answer `Score: N` leaves no score: the summary and a WARN say so."""
    from openai_ft.cli.evaluate import closing_lines

    replies = iter(["Score: 8", "I would rather not grade this.", "Score: 12", "3/10"])
    client = _mock_client(lambda model: next(replies) if model == "judge-model" else "billing")
    settings = BackendSettings("openai", base_url="http://judge.test/v1", home=tmp_path)
    data = write_jsonl([ticket(i, listed=True) for i in range(4)])
    res = await evaluate_async(data, [BASE], scorers=["exact", "judge:judge-model"],
                               settings=settings, client=client, ledger=Ledger(tmp_path / "r.db"),
                               options=RunOptions(concurrency=1))  # fmt: skip
    scores = res.results["score:judge:judge-model"].tolist()
    assert scores[0] == 0.8 and scores[3] == 0.3 and all(x != x for x in scores[1:3])  # NaN
    assert res.summary["judge_unparsed"] == {
        "judge:judge-model": {"count": 2, "replies": 4, "first": "I would rather not grade this."}
    }
    assert res.summary["models"][0]["failed"] == 0  # the answers themselves are fine
    warn = [line for line in closing_lines(res.summary) if line.startswith("WARN")]
    assert warn == [
        "WARN judge:judge-model: 2 of 4 judge replies could not be parsed into a score (first: "
        "'I would rather not grade this.'); those examples have no score - ask for `Score: N` "
        "in the --rubric or pick another judge model"
    ]
    # A judge whose every reply parses adds the count (0) and no WARN line.
    clean = await evaluate_async(data, [BASE], scorers=[f"judge:{BASE}"], settings=settings,
                                 client=_mock_client(lambda model: "Score: 5"),
                                 ledger=Ledger(tmp_path / "r2.db"))  # fmt: skip
    assert clean.summary["judge_unparsed"][f"judge:{BASE}"]["count"] == 0
    assert not [line for line in closing_lines(clean.summary) if line.startswith("WARN")]


def _mock_client(reply: Callable[[str], str]) -> Any:
    """An AsyncOpenAI whose chat completions answer ``reply(model)``."""
    import httpx2
    import openai

    def handler(request: httpx2.Request) -> httpx2.Response:
        model = json.loads(request.content)["model"]
        return httpx2.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": reply(model)}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}})  # fmt: skip

    return openai.AsyncOpenAI(api_key="k", base_url="http://judge.test/v1", max_retries=0,
                              http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))  # fmt: skip
