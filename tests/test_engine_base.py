"""Tests of the base-model zero-shot rule and of fine-tuned vs base on the sample data."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openai_ft.local.engines import get_engine
from openai_ft.local.engines.ngram.base import GENERIC_REPLY, base_complete, parse_labels

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "support_tickets.csv"


def ask(system: str | None, user: str, **kwargs: Any) -> str:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    return base_complete("gpt-4o-mini", messages, **kwargs)[0].text


def test_labels_line_and_one_of_line_are_parsed() -> None:
    assert parse_labels("Classify.\nLabels: billing, refund_request, other") == (
        "billing",
        "refund_request",
        "other",
    )
    assert parse_labels("Answer with one of: `yes`, `no` or `maybe`.") == ("yes", "no", "maybe")
    assert parse_labels(
        "exactly one label from this list: a_b, c_d. Reply with the label only."
    ) == (
        "a_b",
        "c_d",
    )
    assert parse_labels("You are a helpful assistant.") == ()


def test_label_with_most_overlap_wins_with_stemming() -> None:
    system = "Labels: shipping_status, refund_request, cancel_order"
    assert ask(system, "Please cancel my order") == "cancel_order"
    assert ask(system, "I requested a refund last week") == "refund_request"
    assert ask(system, "what is the status of my shipment?") == "shipping_status"
    assert ask(system, "the cancellation did not work") == "cancel_order"


def test_ties_and_no_overlap_go_to_the_first_label() -> None:
    system = "Answer with one of: billing, refund_request, other"
    assert ask(system, "我的快递还没到") == "billing"
    assert ask("Labels: refund_order, cancel_order", "order") == "refund_order"


def test_without_labels_the_reply_is_generic_and_deterministic() -> None:
    assert ask(None, "hello there") == GENERIC_REPLY
    assert ask("You are helpful.", "What's the weather?") == GENERIC_REPLY
    out = base_complete(
        "gpt-4o-mini", [{"role": "user", "content": "hi"}], n=3, temperature=1.5, seed=None
    )
    assert [c.text for c in out] == [GENERIC_REPLY] * 3


def test_logprobs_are_a_softmax_over_overlap_counts() -> None:
    system = "Labels: cancel_order, refund_request, other"
    out = base_complete(
        "m",
        [{"role": "system", "content": system}, {"role": "user", "content": "cancel"}],
        top_logprobs=3,
    )[0]
    assert out.tokens_logprobs is not None
    first_token, logprob, alternatives = out.tokens_logprobs[0]
    # Scores are (1, 0, 0): p(cancel_order) = e / (e + 2).
    assert logprob == pytest.approx(np.log(np.e / (np.e + 2)))
    assert len(alternatives) == 3 and alternatives[0] == (first_token, logprob)
    assert "".join(t for t, _, _ in out.tokens_logprobs) == "cancel_order"


def _sample_rows() -> list[tuple[str, str, str]]:
    """(system, text, intent) rows: the real sample data, or a synthetic bilingual stand-in."""
    if SAMPLE.exists():
        import pandas as pd

        frame = pd.read_csv(SAMPLE)
        system = str(frame["system"].dropna().iloc[0])
        frame = frame.dropna(subset=["text", "intent"])  # the sample keeps a few dirty rows
        return [
            (system, str(t), str(i)) for t, i in zip(frame["text"], frame["intent"], strict=True)
        ]
    rng = random.Random(0)
    phrases = {
        "damaged_item": ["the box arrived broken", "商品坏了", "it came damaged"],
        "loyalty_points": ["how many reward points do I have", "我的积分呢", "points balance?"],
        "change_address": ["I moved, new street please", "地址写错了", "update where you deliver"],
    }
    system = "Reply with one label from this list: " + ", ".join(phrases)
    return [
        (system, rng.choice(phrases[label]) + rng.choice(["", " pls", " 谢谢"]), label)
        for label in rng.choices(list(phrases), k=300)
    ]


def test_fine_tuned_beats_base_on_held_out_sample_data() -> None:
    rows = _sample_rows()
    examples = [
        {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": text},
                {"role": "assistant", "content": intent},
            ]
        }
        for system, text, intent in rows
    ]
    order = np.random.default_rng(0).permutation(len(examples))
    test = [examples[i] for i in order[: len(order) // 5]]
    train = [examples[i] for i in order[len(order) // 5 :]]
    engine = get_engine()
    hp = engine.resolve_hyperparameters(len(train), "supervised", {})
    model = engine.train(
        train,
        None,
        hp,
        method="supervised",
        seed=0,
        base=None,
        on_step=lambda s: None,
        on_epoch_end=lambda e, s, m: None,
        should_stop=lambda: False,
    )

    def accuracy(answer: Any) -> float:
        return float(
            np.mean([answer(ex["messages"][:2]) == ex["messages"][2]["content"] for ex in test])
        )

    tuned = accuracy(lambda m: model.complete(m, temperature=0)[0].text)
    base = accuracy(lambda m: base_complete("gpt-4o-mini", m)[0].text)
    assert tuned >= base + 0.25, (tuned, base)
    assert tuned > 0.85
