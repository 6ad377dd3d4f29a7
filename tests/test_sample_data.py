"""The committed sample data: reproducible from its script, and a task that is learnable but not trivial."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import random
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

from openai_ft.dataset.validate import validate_examples

DATA = Path(__file__).resolve().parent.parent / "data"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_data", DATA / "make_sample_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tickets() -> list[dict[str, str]]:
    with (DATA / "support_tickets.csv").open(encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["text"].strip()]


def test_committed_files_equal_a_fresh_regeneration(tmp_path: Path) -> None:
    _script().main(tmp_path)
    for name in ("support_tickets.csv", "chat_tools.jsonl", "dpo_pairs.jsonl"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_tickets_shape() -> None:
    rows = _tickets()
    assert len(rows) >= 800
    intents = Counter(r["intent"] for r in rows)
    assert len(intents) >= 12 and min(intents.values()) >= 30
    langs = Counter(r["language"] for r in rows)
    assert 0.3 <= langs["zh"] / len(rows) <= 0.5 and langs["mixed"] > 0
    systems = {r["system"] for r in rows}
    assert len(systems) == 1
    assert all(label in next(iter(systems)) for label in intents)
    assert all(r["reply"] for r in rows)


def _overlap_rule(text: str, labels: list[str]) -> str:
    words = set(re.findall(r"[a-z0-9]+", text.lower()))
    return max(labels, key=lambda lab: len(set(lab.split("_")) & words))


def _grams(text: str) -> list[str]:
    t = f" {text.lower()} "
    return [t[i : i + k] for k in (1, 2, 3, 4) for i in range(len(t) - k + 1)]


def test_learnable_but_not_trivial() -> None:
    rows = _tickets()
    labels = sorted({r["intent"] for r in rows})
    zero_shot = sum(_overlap_rule(r["text"], labels) == r["intent"] for r in rows) / len(rows)
    rng = random.Random(0)
    rng.shuffle(rows)
    test, train = rows[: len(rows) // 5], rows[len(rows) // 5 :]
    counts = {lab: Counter[str]() for lab in labels}
    prior = Counter(r["intent"] for r in train)
    for r in train:
        counts[r["intent"]].update(_grams(r["text"]))
    vocab = len(set().union(*counts.values()))
    totals = {lab: sum(c.values()) for lab, c in counts.items()}

    def naive_bayes(text: str) -> str:
        grams = _grams(text)
        return max(
            labels,
            key=lambda lab: (
                math.log(prior[lab])
                + sum(math.log((counts[lab][g] + 0.1) / (totals[lab] + 0.1 * vocab)) for g in grams)
            ),
        )

    learned = sum(naive_bayes(r["text"]) == r["intent"] for r in test) / len(test)
    assert 0.1 <= zero_shot <= 0.45, zero_shot
    assert learned >= 0.8, learned
    assert learned < 0.99, learned  # typos and ambiguous tickets keep it from being trivial


def test_chat_and_dpo_files_are_valid_training_data() -> None:
    chats = [json.loads(line) for line in (DATA / "chat_tools.jsonl").open(encoding="utf-8")]
    assert len(chats) >= 12
    for chat in chats:
        roles = [m["role"] for m in chat["messages"]]
        assert "tool" in roles and roles.count("user") >= 1 and len(roles) >= 5
        assert any(m.get("tool_calls") for m in chat["messages"]) and chat["tools"]
    report = validate_examples(chats, method="supervised")
    assert report.valid, report.errors[:3]
    pairs = [json.loads(line) for line in (DATA / "dpo_pairs.jsonl").open(encoding="utf-8")]
    assert len(pairs) >= 12 and len({json.dumps(p["input"]) for p in pairs}) == len(pairs)
    report = validate_examples(pairs, method="dpo")
    assert report.valid, report.errors[:3]
