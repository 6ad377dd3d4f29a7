"""Offline token counting: shipped encodings, the counting rule and its documented estimates."""

from __future__ import annotations

import pytest

from openai_ft.dataset import tokens
from openai_ft.dataset.tokens import (
    IMAGE_TOKENS_HIGH,
    IMAGE_TOKENS_LOW,
    TOOL_CALL_OVERHEAD,
    count_example,
    count_messages,
    count_text,
    encoding_name_for_model,
    get_encoding,
)
from openai_ft.errors import InputError


def n(text: str, name: str = "o200k_base") -> int:
    return len(get_encoding(name).encode_ordinary(text))


def test_shipped_encodings_give_known_ids_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import tiktoken.load

    def no_download(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("tiktoken tried to download")

    monkeypatch.setattr(tiktoken.load, "read_file", no_download)
    assert get_encoding("o200k_base").encode_ordinary("hello world") == [24912, 2375]
    assert get_encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]
    assert get_encoding("o200k_base").n_vocab == 200019


def test_hash_mismatch_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    get_encoding.cache_clear()
    monkeypatch.setitem(tokens.ENCODING_SHA256, "cl100k_base", "0" * 64)
    try:
        with pytest.raises(InputError, match="sha256"):
            get_encoding("cl100k_base")
    finally:
        get_encoding.cache_clear()


def test_unknown_encoding_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown encoding"):
        get_encoding("p50k_base")


def test_encoding_for_models() -> None:
    assert encoding_name_for_model("gpt-4o-mini") == "o200k_base"
    assert encoding_name_for_model("gpt-4.1-2025-04-14") == "o200k_base"
    assert encoding_name_for_model("gpt-3.5-turbo") == "cl100k_base"
    assert count_text("hello world", model="gpt-3.5-turbo") == 2


def test_counting_rule_for_chat_messages() -> None:
    example = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is 2+2?", "name": "ann"},
            {"role": "assistant", "content": "4."},
        ]
    }
    expected = 3 + sum(3 + n(m["role"]) + n(m["content"]) for m in example["messages"])
    expected += n("ann") + 1
    got = count_example(example)
    assert got.total == expected
    assert got.assistant == n("4.")
    enc = get_encoding("o200k_base")
    assert count_messages(example["messages"], enc).total == expected


def test_weight_zero_turns_are_not_assistant_tokens() -> None:
    example = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "first answer", "weight": 0},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "second answer", "weight": 1},
        ]
    }
    assert count_example(example).assistant == n("second answer")


def test_parts_images_tool_calls_and_tools_estimates() -> None:
    example = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
                    {"type": "image_url", "image_url": {"url": "https://x/b.png", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "look", "arguments": '{"q": 1}'},
                    }
                ],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "look"}}],
    }
    calls = n("look") + n('{"q": 1}') + TOOL_CALL_OVERHEAD
    tools_json = n('[{"type":"function","function":{"name":"look"}}]')
    expected = 3 + (3 + n("user") + n("what is this") + IMAGE_TOKENS_HIGH + IMAGE_TOKENS_LOW)
    expected += 3 + n("assistant") + calls + tools_json
    got = count_example(example)
    assert got.total == expected
    assert got.assistant == calls


def test_dpo_counts_input_and_both_outputs() -> None:
    example = {
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "go away"}],
    }
    got = count_example(example, "dpo")
    user = 3 + n("user") + n("hi")
    outs = 2 * (3 + n("assistant")) + n("Hello!") + n("go away")
    assert got.total == 3 + user + outs
    assert got.assistant == n("Hello!") + n("go away")


def test_reinforcement_has_no_assistant_tokens() -> None:
    example = {"messages": [{"role": "user", "content": "solve x"}], "reference": "42"}
    got = count_example(example, "reinforcement")
    assert got == tokens.ExampleTokens(3 + 3 + n("user") + n("solve x"), 0)


def test_special_token_text_counts_as_plain_text() -> None:
    assert count_text("<|endoftext|>") == n("<|endoftext|>") > 1


def test_tool_call_id_tokens_are_counted() -> None:
    call_id = "call_Zx81Lm2QrT55bbdu"
    tool = {"role": "tool", "tool_call_id": call_id, "content": "42"}
    without = {"role": "tool", "content": "42"}
    with_id = count_messages([tool], get_encoding("o200k_base")).total
    assert with_id - count_messages([without], get_encoding("o200k_base")).total == n(call_id)
    assert with_id == 3 + 3 + n("tool") + n("42") + n(call_id)
