"""Tests of the n-gram learning engine: training, metrics, resume, DPO, retrieval, persistence."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from openai_ft.errors import DataError, UsageError
from openai_ft.local.engines import get_engine
from openai_ft.local.engines.ngram.features import token_accuracy, tokenize
from openai_ft.local.engines.ngram.model import TrainedModel
from openai_ft.local.engines.ngram.train import Hyperparameters, StepMetrics

LABELS = ["billing_issue", "refund_request", "password_reset", "shipping_delay"]
SYSTEM = "Classify the support ticket. Labels: " + ", ".join(LABELS)
_PHRASES = {
    "billing_issue": [
        "I was charged twice on my invoice",
        "my bill shows a wrong amount",
        "我的账单金额不对",
        "为什么信用卡多扣了钱",
    ],
    "refund_request": [
        "I want my money back",
        "please return the payment for my order",
        "我想要退款",
        "请把钱退给我",
    ],
    "password_reset": [
        "I forgot my login credentials",
        "cannot sign in to my account",
        "我忘记了密码",
        "账号登录不了",
    ],
    "shipping_delay": [
        "my parcel has not arrived yet",
        "where is my package",
        "我的快递还没到",
        "包裹一直没有送到",
    ],
}
_FILLERS = ["", " please", " asap", " 谢谢", " thanks!", " 急！", " hello?", " order 1234"]


def _ticket(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(LABELS)
    return rng.choice(_PHRASES[label]) + rng.choice(_FILLERS), label


def label_examples(n: int, seed: int, labels: list[str] | None = None) -> list[dict[str, Any]]:
    """Chat examples: system lists the labels, user is a ticket, assistant is its label."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        text, label = _ticket(rng)
        if labels is not None and label not in labels:
            continue
        out.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": text},
                    {"role": "assistant", "content": label},
                ]
            }
        )
    return out


def dpo_examples(n: int, seed: int) -> list[dict[str, Any]]:
    """DPO pairs: the right label preferred, a wrong one rejected."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        text, label = _ticket(rng)
        wrong = rng.choice([x for x in LABELS if x != label])
        out.append(
            {
                "input": {
                    "messages": [
                        {"role": "system", "content": SYSTEM},
                        {"role": "user", "content": text},
                    ]
                },
                "preferred_output": [{"role": "assistant", "content": label}],
                "non_preferred_output": [{"role": "assistant", "content": wrong}],
            }
        )
    return out


CITIES = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Kenya": "Nairobi",
    "Peru": "Lima",
    "Canada": "Ottawa",
    "Egypt": "Cairo",
    "Norway": "Oslo",
    "Chile": "Santiago",
    "Vietnam": "Hanoi",
    "Ghana": "Accra",
}
_QUESTIONS = [
    "What is the capital of {c}?",
    "capital city of {c} please",
    "Tell me which city is the capital of {c}.",
    "{c} 的首都是哪里？",
]


def freeform_examples(question_ids: list[int]) -> list[dict[str, Any]]:
    """Free-form replies: one distinct sentence per country, asked in several phrasings."""
    out = []
    for q in question_ids:
        for country, city in CITIES.items():
            out.append(
                {
                    "messages": [
                        {"role": "user", "content": _QUESTIONS[q].format(c=country)},
                        {"role": "assistant", "content": f"The capital of {country} is {city}."},
                    ]
                }
            )
    return out


# ---------------------------------------------------------------------------------------------


def run(
    train: list[dict[str, Any]],
    *,
    valid: list[dict[str, Any]] | None = None,
    method: str = "supervised",
    seed: int = 0,
    base: TrainedModel | None = None,
    start_step: int = 0,
    stop_after: int | None = None,
    **requested: Any,
) -> tuple[TrainedModel, list[StepMetrics], list[tuple[int, int, TrainedModel]]]:
    """Train with the default engine; return the model, the step metrics and the epoch ends."""
    engine = get_engine()
    hp = engine.resolve_hyperparameters(len(train), method, requested)
    steps: list[StepMetrics] = []
    epochs: list[tuple[int, int, TrainedModel]] = []
    model = engine.train(
        train,
        valid,
        hp,
        method=method,
        seed=seed,
        base=base,
        on_step=steps.append,
        on_epoch_end=lambda e, s, m: epochs.append((e, s, m)),
        should_stop=lambda: stop_after is not None and len(steps) >= stop_after,
        start_step=start_step,
    )
    return model, steps, epochs


def losses(steps: list[StepMetrics]) -> list[float]:
    return [s.train_loss for s in steps]


def predict(model: TrainedModel, example: dict[str, Any]) -> str:
    return model.complete(example["messages"][:-1], temperature=0)[0].text


def test_same_seed_same_losses_and_other_seed_differs() -> None:
    data = label_examples(120, seed=1)
    _, a, _ = run(data, seed=7, n_epochs=2)
    _, b, _ = run(data, seed=7, n_epochs=2)
    _, c, _ = run(data, seed=8, n_epochs=2)
    assert losses(a) == losses(b)
    assert losses(a) != losses(c)


def test_more_epochs_lower_final_training_loss() -> None:
    data = label_examples(160, seed=2)
    _, one, _ = run(data, n_epochs=1, batch_size=8)
    _, four, _ = run(data, n_epochs=4, batch_size=8)
    per_epoch = 20
    assert len(one) == per_epoch and len(four) == 4 * per_epoch
    assert np.mean(losses(four)[-per_epoch:]) < 0.5 * np.mean(losses(one))
    # The first step of any fresh run is the uniform model: loss ln(number of replies).
    assert one[0].train_loss == pytest.approx(math.log(len(LABELS)))


def test_batch_size_sets_the_step_count() -> None:
    data = label_examples(50, seed=3)
    engine = get_engine()
    for batch in (4, 16):
        _, steps, epochs = run(data, n_epochs=2, batch_size=batch)
        hp = engine.resolve_hyperparameters(50, "supervised", {"n_epochs": 2, "batch_size": batch})
        expected = 2 * math.ceil(50 / batch)
        assert engine.total_steps(50, hp) == expected == len(steps)
        assert [s.step for s in steps] == list(range(1, expected + 1))
        assert {s.total_steps for s in steps} == {expected}
        assert [(e, s) for e, s, _ in epochs] == [(1, expected // 2), (2, expected)]


def test_learning_rate_multiplier_changes_the_losses() -> None:
    data = label_examples(120, seed=4)
    _, slow, _ = run(data, n_epochs=2, learning_rate_multiplier=0.05)
    _, fast, _ = run(data, n_epochs=2, learning_rate_multiplier=1.0)
    assert slow[0].train_loss == fast[0].train_loss  # same start, same first batch
    assert np.mean(losses(fast)[5:]) < np.mean(losses(slow)[5:])


def test_validation_metrics_are_real() -> None:
    data = label_examples(120, seed=5)
    valid = label_examples(40, seed=50)
    model, steps, epochs = run(data, valid=valid, n_epochs=2, batch_size=8)
    sampled = [s for s in steps if s.valid_loss is not None]
    assert len(sampled) >= 5
    full = [s for s in steps if s.full_valid_loss is not None]
    assert [s.step for s in full] == [e[1] for e in epochs] == [15, 30]
    assert full[0].full_valid_loss is not None and full[1].full_valid_loss is not None
    assert full[1].full_valid_loss < full[0].full_valid_loss < math.log(len(LABELS))
    # Recompute the final full-validation metrics independently from the returned model.
    expected_loss = 0.0
    expected_acc = 0.0
    for ex in valid:
        logits = model.logits_one(ex["messages"][:-1])
        logp = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
        target = ex["messages"][-1]["content"]
        expected_loss -= logp[model.classes.index(target)] / len(valid)
        predicted = predict(model, ex)
        expected_acc += token_accuracy(tokenize(predicted), tokenize(target)) / len(valid)
    assert full[1].full_valid_loss == pytest.approx(expected_loss, rel=1e-9)
    assert full[1].full_valid_mean_token_accuracy == pytest.approx(expected_acc)
    assert expected_acc > 0.9


def test_should_stop_returns_the_current_model() -> None:
    data = label_examples(80, seed=6)
    model, steps, epochs = run(data, n_epochs=3, batch_size=8, stop_after=5)
    assert len(steps) == 5 and epochs == []
    assert predict(model, data[0]) in LABELS


def test_resume_replays_silently_and_ends_identical() -> None:
    data = label_examples(60, seed=7)
    valid = label_examples(20, seed=70)
    full_model, full_steps, full_epochs = run(data, valid=valid, n_epochs=3, batch_size=8, seed=3)
    resumed, steps, epochs = run(data, valid=valid, n_epochs=3, batch_size=8, seed=3, start_step=10)
    assert [s.step for s in steps] == list(range(11, 25))
    assert steps == full_steps[10:]
    assert [(e, s) for e, s, _ in epochs] == [(e, s) for e, s, _ in full_epochs[1:]]
    assert resumed.to_bytes() == full_model.to_bytes()


def test_continued_training_starts_from_base_and_adds_replies() -> None:
    first = label_examples(80, seed=8, labels=LABELS[:3])
    base, _, _ = run(first, n_epochs=3)
    assert sorted(base.classes) == sorted(LABELS[:3])
    more = label_examples(80, seed=9)
    model, steps, _ = run(more, base=base, n_epochs=3)
    assert set(model.classes) == set(LABELS) and model.classes[:3] == base.classes
    # Starting from the base weights: the first loss is far below the uniform model's ln(4).
    assert steps[0].train_loss < 0.6 * math.log(len(LABELS))
    test = label_examples(60, seed=99)
    accuracy = np.mean([predict(model, ex) == ex["messages"][-1]["content"] for ex in test])
    assert accuracy > 0.9


def test_dpo_prefers_the_preferred_reply() -> None:
    data = dpo_examples(160, seed=10)
    hp = get_engine().resolve_hyperparameters(160, "dpo", {})
    assert hp.beta == 0.1
    model, steps, _ = run(data, method="dpo", n_epochs=3, beta=0.5)
    # Reference = the starting model, so the first pairwise loss is exactly ln 2.
    assert steps[0].train_loss == pytest.approx(math.log(2))
    assert np.mean(losses(steps)[-20:]) < 0.5 * math.log(2)
    test = dpo_examples(60, seed=11)
    hits = [
        model.complete(ex["input"]["messages"], temperature=0)[0].text
        == ex["preferred_output"][0]["content"]
        for ex in test
    ]
    assert np.mean(hits) > 0.8


def test_free_form_replies_use_retrieval() -> None:
    train = freeform_examples([0])
    model, steps, epochs = run(train, valid=freeform_examples([1]), n_epochs=10, batch_size=2)
    assert model.mode == "retrieval" and len(model.classes) == len(CITIES)
    assert np.mean(losses(steps)[-5:]) < np.mean(losses(steps)[:5])
    held_out = freeform_examples([1, 2, 3])
    accuracy = np.mean([predict(model, ex) == ex["messages"][-1]["content"] for ex in held_out])
    assert accuracy >= 0.9
    final = [s for s in steps if s.full_valid_mean_token_accuracy is not None][-1]
    assert final.full_valid_mean_token_accuracy is not None
    assert final.full_valid_mean_token_accuracy > 0.9
    assert epochs[-1][2].to_bytes() == model.to_bytes()


@pytest.mark.parametrize("kind", ["classifier", "retrieval"])
def test_serialisation_round_trip(kind: str) -> None:
    data = label_examples(60, seed=12) if kind == "classifier" else freeform_examples([0])
    model, _, _ = run(data, n_epochs=2)
    assert model.mode == kind
    again = TrainedModel.from_bytes(model.to_bytes())
    assert again.mode == kind and again.classes == model.classes
    for ex in data[:10]:
        prompt = ex["messages"][:-1]
        np.testing.assert_array_equal(again.logits_one(prompt), model.logits_one(prompt))
        assert again.complete(prompt, n=3, seed=5, top_logprobs=2) == model.complete(
            prompt, n=3, seed=5, top_logprobs=2
        )
    with pytest.raises(DataError):
        TrainedModel.from_bytes(b"not a model")


def test_complete_sampling_is_seeded_and_shaped() -> None:
    model, _, _ = run(label_examples(80, seed=13), n_epochs=1, learning_rate_multiplier=0.02)
    prompt = label_examples(1, seed=14)[0]["messages"][:-1]
    greedy = model.complete(prompt, n=3, temperature=0)
    assert len({c.text for c in greedy}) == 1
    assert greedy[0].text == model.classes[int(np.argmax(model.logits_one(prompt)))]
    hot = model.complete(prompt, n=40, temperature=5.0, seed=1)
    assert hot == model.complete(prompt, n=40, temperature=5.0, seed=1)
    assert len({c.text for c in hot}) > 1  # a flat distribution really samples
    nucleus = model.complete(prompt, n=20, temperature=5.0, top_p=1e-9, seed=2)
    assert {c.text for c in nucleus} == {greedy[0].text}
    tokens = greedy[0].tokens_logprobs
    assert tokens is not None and "".join(t for t, _, _ in tokens) == greedy[0].text
    assert tokens[0][1] < 0 and all(lp == 0.0 for _, lp, _ in tokens[1:])
    with_top = model.complete(prompt, temperature=0, top_logprobs=3)[0].tokens_logprobs
    assert with_top is not None and len(with_top[0][2]) == 3
    assert with_top[0][2][0][1] == pytest.approx(tokens[0][1])


def test_hyperparameters_auto_explicit_and_invalid() -> None:
    engine = get_engine("ngram")
    hp = engine.resolve_hyperparameters(20, "supervised", {"n_epochs": "auto"})
    assert hp == Hyperparameters(n_epochs=5, batch_size=8, learning_rate_multiplier=1.0)
    assert engine.resolve_hyperparameters(5, "supervised", {}).batch_size == 5
    assert engine.resolve_hyperparameters(50_000, "supervised", {}).batch_size == 128
    explicit = {"n_epochs": 2, "batch_size": 3, "learning_rate_multiplier": 0.5}
    assert engine.resolve_hyperparameters(100, "supervised", explicit) == Hyperparameters(2, 3, 0.5)
    for bad in ({"batch_size": "x"}, {"batch_size": 0}, {"learning_rate_multiplier": -1}):
        with pytest.raises(UsageError):
            engine.resolve_hyperparameters(100, "supervised", bad)
    with pytest.raises(UsageError):
        get_engine("llama")


def test_bad_training_data_is_one_clear_error() -> None:
    no_reply = [{"messages": [{"role": "user", "content": "hi"}]}]
    with pytest.raises(DataError, match="example 1: no assistant message"):
        run(no_reply)
    weight_zero = [
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "x", "weight": 0},
            ]
        }
    ]
    with pytest.raises(DataError):
        run(weight_zero)
    with pytest.raises(UsageError, match="cannot train method"):
        run(label_examples(10, seed=1), method="reinforcement")


def test_assistant_turns_with_weight_zero_are_not_targets() -> None:
    row = {
        "messages": [
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "greeting", "weight": 1},
            {"role": "user", "content": "bye"},
            {"role": "assistant", "content": "ignored", "weight": 0},
        ]
    }
    model, _, _ = run([row] * 4, n_epochs=1)
    assert model.classes == ["greeting"]
