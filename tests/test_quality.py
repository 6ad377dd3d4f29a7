"""Quality warnings: each is line-precise and never blocks a valid file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openai_ft.dataset.quality import luhn_ok
from openai_ft.dataset.validate import validate


def chat(
    user: str, reply: str, system: str | None = "You are a helpful assistant.", **extra: Any
) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [
        {"role": "user", "content": user},
        {"role": "assistant", "content": reply, **extra},
    ]
    return {"messages": messages}


def base(n: int = 12) -> list[dict[str, Any]]:
    return [
        chat(
            f"Question number {i} about topic {i * 7}?",
            f"Here is a detailed answer number {i} for you.",
        )
        for i in range(n)
    ]


def warnings_of(path: Path, **kwargs: Any) -> list[tuple[int | None, str]]:
    report = validate(path, **kwargs)
    assert report.valid, report.errors
    return [(i.line, i.code) for i in report.warnings]


def test_clean_file_has_no_warnings(write_jsonl: Callable[..., Path]) -> None:
    assert warnings_of(write_jsonl(base())) == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("my key is sk-proj-abcdefghijklmnopqrstuvwx1234", "sensitive_api_key"),
        ("use AKIAIOSFODNN7EXAMPLE for s3", "sensitive_api_key"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE...", "sensitive_private_key"),
        ("write to jane.doe@example.co.uk please", "sensitive_email"),
        ("call me at (555) 123-4567 tomorrow", "sensitive_phone"),
        ("call +44 20 7946 0958 now", "sensitive_phone"),
        ("我的手机号是13812345678，请联系我", "sensitive_phone"),
        ("card 4111 1111 1111 1111 exp 12/30", "sensitive_card_number"),
        ("card 4111-1111-1111-1111", "sensitive_card_number"),
    ],
)
def test_sensitive_data(write_jsonl: Callable[..., Path], text: str, code: str) -> None:
    rows = base()
    rows[2] = chat(text, "Noted, thank you very much for letting me know.")
    report = validate(write_jsonl(rows))
    found = [(i.line, i.code, i.field) for i in report.warnings]
    assert (3, code, "messages[1].content") in found
    assert all(text not in i.message for i in report.warnings)


@pytest.mark.parametrize(
    "text",
    [
        "order 4111 1111 1111 1112",
        "version 1.2.3 of 2024",
        "id 12345678901234567",
        "订单号 202406150001 已发货",
        "order 12345678901",
        "mail me @ home",
    ],
)
def test_no_false_positives(write_jsonl: Callable[..., Path], text: str) -> None:
    rows = base()
    rows[2] = chat(text, "Noted, thank you very much for letting me know.")
    assert warnings_of(write_jsonl(rows)) == []


def test_luhn() -> None:
    assert luhn_ok("4111111111111111") and luhn_ok("5500000000000004")
    assert (
        not luhn_ok("4111111111111112") and not luhn_ok("1234") and not luhn_ok("41111111111111a1")
    )


def test_exact_and_near_duplicates(write_jsonl: Callable[..., Path]) -> None:
    rows = [json.dumps(r) for r in base()]
    rows.append(rows[1])
    rows.append(
        json.dumps(
            chat("QUESTION number 4 about topic 28", "here is a detailed answer number 4 for you")
        )
    )
    assert warnings_of(write_jsonl(rows)) == [(13, "duplicate"), (14, "near_duplicate")]


def test_system_prompt_missing_and_inconsistent(write_jsonl: Callable[..., Path]) -> None:
    rows = base(20)
    rows[3] = chat("Where is my parcel?", "It ships tomorrow from our warehouse.", system=None)
    rows[8] = chat(
        "Where is my order?", "It ships tomorrow from our depot.", system="You are a pirate."
    )
    assert warnings_of(write_jsonl(rows)) == [
        (4, "missing_system_prompt"),
        (9, "inconsistent_system_prompt"),
    ]


def test_no_system_prompt_anywhere_is_not_warned(write_jsonl: Callable[..., Path]) -> None:
    rows = [chat(f"Question {i}?", f"Answer number {i} is here.", system=None) for i in range(12)]
    assert warnings_of(write_jsonl(rows)) == []


def test_short_and_empty_replies(write_jsonl: Callable[..., Path]) -> None:
    rows = base()
    rows[1] = chat("Anything else?", "  ")
    rows[5] = chat("Is it ok?", "k")
    assert warnings_of(write_jsonl(rows)) == [(2, "short_reply"), (6, "short_reply")]


def test_label_imbalance(write_jsonl: Callable[..., Path]) -> None:
    rows = [chat(f"Ticket {i}: my invoice is wrong", "billing") for i in range(40)]
    rows += [
        chat("Ticket x: the app crashes", "bug"),
        chat("Ticket y: login fails", "bug"),
        chat("Ticket z: add dark mode", "feature"),
    ]
    found = warnings_of(write_jsonl(rows))
    assert found == [(None, "label_imbalance")]
    balanced = [
        chat(f"Ticket {i}: text {i}", ["billing", "bug", "feature"][i % 3]) for i in range(30)
    ]
    assert warnings_of(write_jsonl(balanced, "b.jsonl")) == []


def test_zero_weight_example(write_jsonl: Callable[..., Path]) -> None:
    rows = base()
    rows[7] = chat("Please ignore this one.", "Ignored as requested, no problem.", weight=0)
    assert warnings_of(write_jsonl(rows)) == [(8, "zero_weight_example")]


def test_over_token_limit_with_override(
    write_jsonl: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"tiny": {"context_limit": 100, "trainable": True}}}))
    monkeypatch.setenv("OPENAI_FT_PRICES", str(prices))
    rows = base()
    rows[4] = chat("long " * 100, "A reply that is long enough to be fine.")
    found = warnings_of(write_jsonl(rows), model="tiny")
    assert found == [(5, "over_token_limit")]


def test_unknown_model_warning(write_jsonl: Callable[..., Path]) -> None:
    assert warnings_of(write_jsonl(base()), model="no-such-model") == [(None, "unknown_model")]


def test_unknown_model_warning_in_memory_and_in_prepare(tmp_path: Path) -> None:
    from openai_ft.dataset.prepare import prepare
    from openai_ft.dataset.validate import validate_examples

    report = validate_examples(base(), model="no-such-model")
    assert [(i.line, i.code) for i in report.warnings] == [(None, "unknown_model")]
    assert validate_examples(base()).warnings == ()
    src = tmp_path / "t.csv"
    src.write_text(
        "q,a\n" + "".join(f"question {i},answer {i % 3}\n" for i in range(30)), encoding="utf-8"
    )
    result = prepare(src, out_dir=tmp_path / "o", user="q", assistant="a", model="no-such-model")
    assert "unknown_model" in {w.code for w in result.reports["train"].warnings}
