"""The fast path of validation gives exactly what the general path gives, on any shape of example."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_ft.dataset import quality, validate_scan
from openai_ft.dataset.tokens import get_encoding, token_length
from openai_ft.dataset.validate import validate, validate_examples
from openai_ft.dataset.validate_fast import simple_messages

TEXTS = st.one_of(
    st.sampled_from(
        [
            "",
            "  ",
            "Hello there.",
            "ok",
            "A",
            "You are a helpful assistant.",
            "mail bob@example.com now",
            "key AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "call +1 415 555 0100",
            "<|endoftext|> is plain text here",
            "emoji \U0001f600 and accents éà",
        ]
    ),
    st.text(max_size=40),
)
ROLES = st.sampled_from(["system", "user", "assistant", "developer", "tool", "bogus"])
MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": ROLES, "content": TEXTS}),
    st.fixed_dictionaries(
        {"role": ROLES, "content": TEXTS}, optional={"weight": st.sampled_from([0, 1, 2])}
    ),
    st.fixed_dictionaries({"role": ROLES, "content": st.none()}),
    st.fixed_dictionaries({"role": ROLES}),
)
EXAMPLE = st.one_of(
    st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=4)}),
    st.fixed_dictionaries(
        {"messages": st.lists(MESSAGE, max_size=3), "tools": st.just([])},
    ),
)


def _general_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate_scan, "simple_messages", lambda obj: None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EXAMPLE, min_size=1, max_size=12))
def test_fast_path_equals_general_path_in_memory(examples: list[dict[str, Any]]) -> None:
    fast = validate_examples(examples)
    with pytest.MonkeyPatch.context() as mp:
        _general_only(mp)
        general = validate_examples(examples)
    assert fast == general


def _rows(n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You answer billing questions."},
                    {"role": "user", "content": f"Invoice {i} is wrong, mail me at x{i}@ex.com"},
                    {"role": "assistant", "content": "Yes" if i % 3 else f"Refund {i} sent."},
                ]
            }
        )
    rows[4] = {"messages": rows[4]["messages"][1:]}  # no system prompt
    rows[5]["messages"][2]["weight"] = 0  # not the simple shape
    rows[6] = {"messages": [{"role": "user", "content": "only a question"}]}
    rows[7] = json.loads(json.dumps(rows[8]))  # exact duplicate
    rows[9]["messages"][0]["content"] = "Another prompt entirely."
    return rows


@pytest.mark.parametrize("orjson", [True, False])
def test_fast_path_equals_general_path_on_a_file(
    write_jsonl: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, orjson: bool
) -> None:
    lines = [json.dumps(r) for r in _rows(40)]
    lines[11] = '{"messages": [}'
    lines[30] = lines[29].replace("Invoice", "invoice")  # near duplicate
    lines[20] = "   "
    path = write_jsonl(lines)
    if not orjson:
        monkeypatch.setattr(validate_scan, "fast_loads", None)
    fast = validate(path, workers=1)
    _general_only(monkeypatch)
    general = validate(path, workers=1)
    assert fast == general
    codes = {(i.line, i.code) for i in (*fast.errors, *fast.warnings)}
    assert {(12, "invalid_json"), (21, "empty_line"), (7, "no_assistant_message")} <= codes
    assert (31, "near_duplicate") in codes and (9, "duplicate") in codes


def test_simple_shape_is_strict() -> None:
    ok = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    assert simple_messages(ok) is ok["messages"]
    assert simple_messages({**ok, "tools": []}) is None
    assert simple_messages({"messages": [{"role": "user", "content": "q"}]}) is None
    assert simple_messages({"messages": [{"role": "assistant", "content": ""}]}) is None
    assert simple_messages({"messages": [{"role": ["user"], "content": "q"}]}) is None
    assert simple_messages({"messages": [{"role": "tool", "content": "q"}]}) is None
    assert simple_messages([ok]) is None


@pytest.mark.parametrize(
    "text", ["", "plain words", "<|endoftext|><|endofprompt|>", "lone \udc80 surrogate", "x" * 3000]
)
def test_token_length_matches_encode_ordinary(text: str) -> None:
    enc = get_encoding("o200k_base")
    assert token_length(enc)(text) == len(enc.encode_ordinary(text))


@pytest.mark.parametrize(
    "text",
    [
        "key AIzaSyA1234567890abcdefghijklmnopqrstuv",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_" + "a" * 36,
        "sk-proj-abcdefghijklmnopqrstuvwxyz",
        "xoxb-1234-abcdefghij",
        "-----BEGIN PRIVATE KEY-----",
        "a@b.co",
        "4111 1111 1111 1111",
    ],
)
def test_prefilter_lets_every_secret_through(text: str) -> None:
    raw = json.dumps({"messages": [{"role": "user", "content": text}]}).encode()
    found: list[Any] = []
    quality.scan_sensitive(raw, json.loads(raw), 1, found)
    assert quality.maybe_sensitive(raw) and found
