"""``top_logprobs: k`` gives every token of a reply k alternatives, for every kind of model."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from openai_ft.local import LocalService

from .conftest import jsonl


def _rows() -> list[dict[str, Any]]:
    replies = [
        "The order shipped on Monday.",
        "Your refund is on its way, sorry!",
        "Reset it here.",
    ]
    return [
        {
            "messages": [
                {"role": "user", "content": f"question {i} about topic {i % 3}"},
                {"role": "assistant", "content": replies[i % 3]},
            ]
        }
        for i in range(12)
    ]


def _check(reply: Any, k: int) -> None:
    for choice in reply.choices:
        content = choice.logprobs.content
        text = choice.message.content
        assert content and "".join(t.token for t in content) == text
        for token in content:
            alternatives = [a.token for a in token.top_logprobs]
            assert len(alternatives) == k and len(set(alternatives)) == k, token
            assert all(a.logprob <= 0 for a in token.top_logprobs)
            values = [a.logprob for a in token.top_logprobs]
            assert values == sorted(values, reverse=True)
            if token.token in alternatives:
                assert token.top_logprobs[alternatives.index(token.token)].logprob == token.logprob


@pytest.mark.parametrize("k", [1, 3, 20])
def test_every_token_carries_k_alternatives(
    svc: LocalService, client: openai.OpenAI, k: int
) -> None:
    train = client.files.create(file=("t.jsonl", jsonl(_rows())), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    svc.run_jobs()
    model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
    assert model is not None
    ask = [{"role": "user", "content": "question 4 about topic 1"}]
    fine = client.chat.completions.create(
        model=model,
        messages=ask,
        logprobs=True,
        top_logprobs=k,
        n=2,
        seed=3,  # type: ignore[arg-type]
    )
    assert len(fine.choices[0].logprobs.content) > 3  # type: ignore[union-attr]
    _check(fine, k)
    base = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ask,
        logprobs=True,
        top_logprobs=k,  # type: ignore[arg-type]
    )
    _check(base, k)
    labels = [{"role": "system", "content": "Labels: billing, refund_request, other"}, *ask]
    _check(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=labels,
            logprobs=True,
            top_logprobs=k,  # type: ignore[arg-type]
        ),
        k,
    )
    as_json = client.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": "Reply in JSON."}, *ask],  # type: ignore[list-item]
        logprobs=True,
        top_logprobs=k,
        response_format={"type": "json_object"},
    )
    _check(as_json, k)
    short = client.chat.completions.create(
        model=model,
        messages=ask,
        logprobs=True,
        top_logprobs=k,
        max_completion_tokens=2,  # type: ignore[arg-type]
    )
    assert len(short.choices[0].logprobs.content) == 2  # type: ignore[union-attr]
    _check(short, k)
