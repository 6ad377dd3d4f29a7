"""De-duplicate examples and split them into train / validation / test.

The split is deterministic by seed, keeps every copy of a prompt in one split (so no prompt is
seen in training and scored in evaluation), and is stratified by label when the assistant
replies look like class labels (few distinct, short, one-line values).
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openai_ft.errors import DataError, UsageError

SPLITS = ("train", "validation", "test")
MAX_LABELS = 50
MAX_LABEL_CHARS = 50
MIN_GROUPS_TO_HOLD_OUT = 3  # a label seen in fewer prompts stays in train, where it can be learnt


_NOT_WORD = re.compile(r"[\W_]+")


def normalize_text(text: str) -> str:
    """Text as a duplicate key: NFKC, case-folded, punctuation and symbols dropped, spaces collapsed."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def prompt_part(example: dict[str, Any]) -> Any:
    """What the model is given: DPO ``input``, or every message before the final assistant reply."""
    if "messages" not in example:
        return example.get("input")
    messages = list(example["messages"])
    while messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        messages.pop()
    return messages


def label_of(example: dict[str, Any]) -> str | None:
    """The final assistant reply when it is plain text (a candidate class label)."""
    messages = example.get("messages") or example.get("preferred_output") or []
    last = messages[-1] if messages else None
    if (
        isinstance(last, dict)
        and last.get("role") == "assistant"
        and isinstance(last.get("content"), str)
    ):
        return str(last["content"])
    return None


@dataclass(frozen=True)
class Deduplicated:
    """Indices of kept examples (first occurrence wins) and how many copies were dropped."""

    kept: tuple[int, ...]
    exact: int
    normalized: int


def deduplicate(examples: Sequence[dict[str, Any]]) -> Deduplicated:
    """Drop exact copies, then copies that differ only in case, spacing or punctuation."""
    seen_exact: set[str] = set()
    seen_norm: set[str] = set()
    kept: list[int] = []
    exact = normalized = 0
    for i, example in enumerate(examples):
        raw = _dump(example)
        if raw in seen_exact:
            exact += 1
            continue
        seen_exact.add(raw)
        norm = normalize_text(raw)
        if norm in seen_norm:
            normalized += 1
            continue
        seen_norm.add(norm)
        kept.append(i)
    return Deduplicated(kept=tuple(kept), exact=exact, normalized=normalized)


def looks_like_labels(labels: Sequence[str | None]) -> bool:
    """True when replies look like class labels: few distinct, short, single-line values."""
    if not labels or any(lab is None for lab in labels):
        return False
    distinct = set(labels)
    return (
        len(distinct) <= MAX_LABELS
        and len(distinct) * 3 <= len(labels)
        and all(
            lab is not None and len(lab) <= MAX_LABEL_CHARS and "\n" not in lab for lab in distinct
        )
    )


def check_sizes(val_size: float, test_size: float) -> None:
    """Fail with a UsageError unless 0 <= sizes and their sum is below 1."""
    for name, size in (("--val-size", val_size), ("--test-size", test_size)):
        if not 0 <= size < 1:
            raise UsageError(
                f"{name} must be a fraction in [0, 1), got {size}", tip=f"for example {name} 0.1"
            )
    if val_size + test_size >= 1:
        raise UsageError(
            f"--val-size + --test-size must be below 1 (got {val_size + test_size:g})",
            tip="leave data for training",
        )


def _target(n_groups: int, size: float) -> int:
    n = round(n_groups * size)
    return max(n, 1) if size > 0 and n_groups >= MIN_GROUPS_TO_HOLD_OUT else n


@dataclass(frozen=True)
class Split:
    """Example indices per split, and whether the split was stratified by label."""

    parts: dict[str, tuple[int, ...]]
    stratified: bool


def split_examples(
    examples: Sequence[dict[str, Any]], *, val_size: float, test_size: float, seed: int
) -> Split:
    """Assign every example to train, validation or test (see the module docstring)."""
    check_sizes(val_size, test_size)
    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        groups.setdefault(normalize_text(_dump(prompt_part(example))), []).append(i)
    members = list(groups.values())
    labels = [label_of(examples[i]) for i in range(len(examples))]
    stratified = looks_like_labels(labels)
    # Each group gets a position in [0, 1); the first positions go to test, then validation.
    position: list[float] = [0.0] * len(members)
    if stratified:
        by_label: dict[str, list[int]] = defaultdict(list)
        for g, idx in enumerate(members):
            majority = Counter(labels[i] for i in idx).most_common(1)[0][0]
            by_label[str(majority)].append(g)
        for label in sorted(by_label):
            gs = by_label[label]
            rng.shuffle(gs)
            offset = rng.random()
            for k, g in enumerate(gs):
                # systematic sampling: every prefix of the order holds each label in proportion
                held = len(gs) >= MIN_GROUPS_TO_HOLD_OUT
                position[g] = (k + offset) / len(gs) if held else 2.0
    else:
        order = list(range(len(members)))
        rng.shuffle(order)
        for rank, g in enumerate(order):
            position[g] = rank / max(len(members), 1)
    tie = [rng.random() for _ in members]
    ranked = sorted(range(len(members)), key=lambda g: (position[g], tie[g]))
    n_test, n_val = _target(len(members), test_size), _target(len(members), val_size)
    if n_test + n_val >= len(members):
        raise DataError(
            f"too few distinct prompts to split: {len(members)} for val-size {val_size:g} and test-size {test_size:g}",
            tip="add examples, or lower --val-size/--test-size (0 is allowed)",
        )
    chosen = {
        "test": ranked[:n_test],
        "validation": ranked[n_test : n_test + n_val],
        "train": ranked[n_test + n_val :],
    }
    parts: dict[str, tuple[int, ...]] = {}
    for name in SPLITS:
        idx = sorted(i for g in chosen[name] for i in members[g])
        if name == "train":
            rng.shuffle(idx)  # training order should not follow the source file's order
        parts[name] = tuple(idx)
    return Split(parts=parts, stratified=stratified)


def pin_split(
    split: Split,
    examples: Sequence[dict[str, Any]],
    pin: Callable[[dict[str, Any]], str | None],
    seed: int,
) -> Split:
    """Move every example ``pin`` names a split for into that split (retrain: an example seen
    before stays where it was, so a test example never reaches train); the rest stay put."""
    moved: dict[str, list[int]] = {name: [] for name in SPLITS}
    for name in SPLITS:
        for i in split.parts[name]:
            target = pin(examples[i])
            moved[target if target in SPLITS else name].append(i)
    if moved["train"] != list(split.parts["train"]):
        random.Random(seed).shuffle(moved["train"])
    moved["validation"].sort()
    moved["test"].sort()
    return Split(
        parts={name: tuple(idx) for name, idx in moved.items()}, stratified=split.stratified
    )
