"""De-duplication and the split: deterministic, grouped by prompt, stratified by label."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_ft.dataset.split import (
    deduplicate,
    label_of,
    looks_like_labels,
    normalize_text,
    prompt_part,
    split_examples,
)
from openai_ft.errors import DataError, UsageError


def chat(user: str, reply: str, system: str = "S") -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
            {"role": "assistant", "content": reply},
        ]
    }


def test_normalize_text() -> None:
    assert normalize_text("  Where IS my   order?! ") == "where is my order"
    assert normalize_text("退款，谢谢！") == normalize_text("退款,谢谢")
    assert normalize_text("ＡＢＣ") == "abc"  # full-width letters (NFKC)


def test_deduplicate_counts_exact_and_normalised_copies() -> None:
    rows = [
        chat("Hi there", "a"),
        chat("Hi there", "a"),
        chat("hi   THERE!", "a"),
        chat("Hi there", "b"),
    ]
    d = deduplicate(rows)
    assert d.kept == (0, 3)
    assert (d.exact, d.normalized) == (1, 1)


def test_prompt_and_label() -> None:
    ex = chat("q", "refund")
    assert prompt_part(ex) == ex["messages"][:2]
    assert label_of(ex) == "refund"
    dpo = {
        "input": {"messages": [{"role": "user", "content": "q"}]},
        "preferred_output": [{"role": "assistant", "content": "x"}],
    }
    assert prompt_part(dpo) == dpo["input"]
    tool_reply = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": []}]
    }
    assert label_of(tool_reply) is None


def test_looks_like_labels() -> None:
    assert looks_like_labels(["a", "b", "a", "b", "a", "b"])
    assert not looks_like_labels(["a", "b", "c", "d"])  # too many distinct for so few rows
    assert not looks_like_labels(["x" * 60] * 9)
    assert not looks_like_labels(["a", None, "a"])
    assert not looks_like_labels([f"reply number {i}" for i in range(300)])


def _dataset(n_per_label: dict[str, int]) -> list[dict[str, Any]]:
    return [
        chat(f"{label} question {i}", label) for label, n in n_per_label.items() for i in range(n)
    ]


def test_split_is_deterministic_by_seed() -> None:
    rows = _dataset({"a": 50, "b": 30, "c": 20})
    one = split_examples(rows, val_size=0.1, test_size=0.2, seed=7)
    two = split_examples(rows, val_size=0.1, test_size=0.2, seed=7)
    other = split_examples(rows, val_size=0.1, test_size=0.2, seed=8)
    assert one == two
    assert one.parts != other.parts
    assert {k: len(v) for k, v in one.parts.items()} == {"train": 70, "validation": 10, "test": 20}


def test_split_is_stratified_by_label() -> None:
    rows = _dataset({"big": 120, "mid": 60, "small": 20})
    split = split_examples(rows, val_size=0.1, test_size=0.1, seed=1)
    assert split.stratified
    for name in ("validation", "test"):
        counts = Counter(label_of(rows[i]) for i in split.parts[name])
        assert counts == {"big": 12, "mid": 6, "small": 2}


def test_rare_labels_stay_in_train() -> None:
    rows = _dataset({"a": 40, "b": 40, "rare": 2})
    split = split_examples(rows, val_size=0.2, test_size=0.2, seed=3)
    rare = {i for i, r in enumerate(rows) if label_of(r) == "rare"}
    assert rare <= set(split.parts["train"])


def test_no_prompt_in_two_splits() -> None:
    # the same question (up to case and punctuation) answered differently stays in one split
    rows = [chat(f"Question {i % 25}{'?' if i % 2 else ''}", f"answer {i}") for i in range(100)]
    split = split_examples(rows, val_size=0.2, test_size=0.2, seed=0)
    assert not split.stratified
    owner: dict[str, str] = {}
    for name, idx in split.parts.items():
        for i in idx:
            key = normalize_text(str(prompt_part(rows[i])))
            assert owner.setdefault(key, name) == name


def test_sizes_are_checked() -> None:
    rows = _dataset({"a": 10})
    with pytest.raises(UsageError, match="--val-size must be a fraction"):
        split_examples(rows, val_size=1.5, test_size=0.1, seed=0)
    with pytest.raises(UsageError, match="must be below 1"):
        split_examples(rows, val_size=0.5, test_size=0.5, seed=0)
    with pytest.raises(DataError, match="too few distinct prompts to split: 2"):
        split_examples([chat("a", "x"), chat("b", "y")], val_size=0.4, test_size=0.4, seed=0)
    none_held = split_examples(rows, val_size=0, test_size=0, seed=0)
    assert len(none_held.parts["train"]) == 10 and not none_held.parts["test"]


@settings(max_examples=60, deadline=None)
@given(
    prompts=st.lists(st.integers(0, 30), min_size=10, max_size=80),
    labels=st.lists(st.sampled_from(["a", "b", "c"]), min_size=80, max_size=80),
    seed=st.integers(0, 2**16),
)
def test_split_is_a_partition_that_keeps_prompts_together(
    prompts: list[int], labels: list[str], seed: int
) -> None:
    rows = [chat(f"q{p}", labels[i]) for i, p in enumerate(prompts)]
    try:
        split = split_examples(rows, val_size=0.15, test_size=0.15, seed=seed)
    except DataError:
        assert len(set(prompts)) < 10
        return
    every = sorted(i for idx in split.parts.values() for i in idx)
    assert every == list(range(len(rows)))
    where = {}
    for name, idx in split.parts.items():
        for i in idx:
            assert where.setdefault(prompts[i], name) == name
