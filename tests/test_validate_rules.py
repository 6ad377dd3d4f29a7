"""Every training-format rule: a bad example is reported with its line, code and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from openai_ft.dataset.validate import validate

BAD_LINE = 4


def sft(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You answer questions about the weather."},
            {"role": "user", "content": f"What is the weather like in city number {i}?"},
            {"role": "assistant", "content": f"It is sunny in city number {i} today, enjoy it."},
        ]
    }


def dpo(i: int) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": "user", "content": f"Say hello to person {i}"}]},
        "preferred_output": [
            {"role": "assistant", "content": f"Hello, person {i}! Nice to meet you."}
        ],
        "non_preferred_output": [{"role": "assistant", "content": f"Go away, person {i}."}],
    }


def rft(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"What is {i} + {i}?"}], "answer": str(2 * i)}


MAKERS = {"supervised": sft, "dpo": dpo, "reinforcement": rft}


def file_with(write_jsonl: Callable[..., Path], bad: Any, method: str = "supervised") -> Path:
    rows = [MAKERS[method](i) for i in range(12)]
    rows[BAD_LINE - 1] = bad
    return write_jsonl(rows)


def tool_call(call_id: str = "call_1", args: Any = '{"city": "Paris"}') -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": args},
    }


def msgs(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"messages": list(messages), **extra}


U = {"role": "user", "content": "hello"}
A = {"role": "assistant", "content": "hi there"}

SUPERVISED_BAD = [
    ("not_an_object", [1, 2], None),
    ("missing_messages", {"prompt": "x", "completion": "y"}, "messages"),
    ("invalid_messages", {"messages": []}, "messages"),
    ("invalid_messages", {"messages": "hello"}, "messages"),
    ("invalid_message", msgs("hello", A), "messages[0]"),
    ("unknown_role", msgs({"role": "human", "content": "x"}, A), "messages[0].role"),
    ("unknown_role", msgs({"content": "x"}, A), "messages[0].role"),
    ("missing_content", msgs({"role": "user"}, A), "messages[0].content"),
    ("missing_content", msgs({"role": "system", "content": None}, U, A), "messages[0].content"),
    ("missing_content", msgs(U, {"role": "assistant", "content": None}), "messages[1].content"),
    ("invalid_content", msgs({"role": "user", "content": 5}, A), "messages[0].content"),
    (
        "invalid_content",
        msgs({"role": "user", "content": [{"type": "text"}]}, A),
        "messages[0].content[0]",
    ),
    ("invalid_weight", msgs(U, {**A, "weight": 0.5}), "messages[1].weight"),
    ("invalid_weight", msgs(U, {**A, "weight": True}), "messages[1].weight"),
    ("weight_on_non_assistant", msgs({**U, "weight": 1}, A), "messages[0].weight"),
    ("no_assistant_message", msgs(U), "messages"),
    (
        "invalid_tool_arguments",
        msgs(U, {"role": "assistant", "tool_calls": [tool_call(args="{city: Paris")]}),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "invalid_tool_arguments",
        msgs(U, {"role": "assistant", "tool_calls": [tool_call(args={"city": "Paris"})]}),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "invalid_tool_calls",
        msgs(U, {"role": "assistant", "tool_calls": {}}),
        "messages[1].tool_calls",
    ),
    (
        "invalid_tool_calls",
        msgs(
            U, {"role": "assistant", "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]}
        ),
        "messages[1].tool_calls[0].function.name",
    ),
    ("invalid_tool_calls", msgs({**U, "tool_calls": [tool_call()]}, A), "messages[0].tool_calls"),
    (
        "unmatched_tool_call_id",
        msgs(
            U,
            {"role": "assistant", "tool_calls": [tool_call("call_1")]},
            {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
            A,
        ),
        "messages[2].tool_call_id",
    ),
    (
        "unmatched_tool_call_id",
        msgs(
            U,
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "assistant", "tool_calls": [tool_call("call_1")]},
        ),
        "messages[1].tool_call_id",
    ),
    (
        "missing_tool_call_id",
        msgs(
            U,
            {"role": "assistant", "tool_calls": [tool_call()]},
            {"role": "tool", "content": "sunny"},
            A,
        ),
        "messages[2].tool_call_id",
    ),
    ("missing_name", msgs(U, {"role": "function", "content": "x"}, A), "messages[1].name"),
    ("invalid_tools", msgs(U, A, tools={"type": "function"}), "tools"),
    (
        "invalid_tools",
        msgs(U, A, tools=[{"type": "function", "function": {"name": "bad name!"}}]),
        "tools[0].function.name",
    ),
    ("invalid_tools", msgs(U, A, tools=[{"type": "retrieval"}]), "tools[0]"),
    ("invalid_parallel_tool_calls", msgs(U, A, parallel_tool_calls="yes"), "parallel_tool_calls"),
    (
        "invalid_functions",
        msgs(U, A, functions=[{"name": "f", "parameters": "x"}]),
        "functions[0].parameters",
    ),
    (
        "image_not_in_user",
        msgs(
            U,
            {
                "role": "assistant",
                "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}],
            },
        ),
        "messages[1].content[0]",
    ),
    (
        "invalid_image_url",
        msgs(
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}],
            },
            A,
        ),
        "messages[0].content[0]",
    ),
    (
        "unsupported_image_format",
        msgs(
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lG"}}
                ],
            },
            A,
        ),
        "messages[0].content[0]",
    ),
    (
        "unsupported_image_format",
        msgs(
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://x.org/cat.gif"}}],
            },
            A,
        ),
        "messages[0].content[0]",
    ),
    (
        "too_many_images",
        msgs(
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": f"https://x/{i}.png"}}
                    for i in range(11)
                ],
            },
            A,
        ),
        "messages",
    ),
    (
        "unsupported_part",
        msgs(
            {
                "role": "user",
                "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}],
            },
            A,
        ),
        "messages[0].content[0]",
    ),
    (
        "unsupported_part",
        msgs({"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}, A),
        "messages[0].content[0]",
    ),
    (
        "invalid_function_call",
        msgs(U, {"role": "assistant", "content": None, "function_call": "get_weather"}),
        "messages[1].function_call",
    ),
    (
        "invalid_function_call",
        msgs(U, {"role": "assistant", "content": None, "function_call": {"arguments": "{}"}}),
        "messages[1].function_call.name",
    ),
]


@pytest.mark.parametrize(
    ("code", "bad", "field"), SUPERVISED_BAD, ids=[c for c, _, _ in SUPERVISED_BAD]
)
def test_supervised_rule(
    write_jsonl: Callable[..., Path], code: str, bad: Any, field: str | None
) -> None:
    report = validate(file_with(write_jsonl, bad))
    assert not report.valid
    found = [(i.line, i.code, i.field) for i in report.errors]
    assert (BAD_LINE, code, field) in found, found
    assert all(i.line == BAD_LINE for i in report.errors)


GOOD_SUPERVISED = [
    msgs(
        U,
        {"role": "assistant", "content": None, "tool_calls": [tool_call()]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        A,
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": {"type": "object"}},
            }
        ],
        parallel_tool_calls=False,
    ),
    msgs(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is it"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                {"type": "image_url", "image_url": {"url": "https://x.org/a.webp?size=2"}},
            ],
        },
        A,
    ),
    msgs(U, {**A, "weight": 0}, U, {"role": "assistant", "content": "again", "weight": 1}),
    msgs(U, {**A, "name": "bot"}),
    msgs(
        U,
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "ok"},
        A,
        functions=[{"name": "f", "parameters": {"type": "object"}}],
    ),
]


@pytest.mark.parametrize("good", GOOD_SUPERVISED)
def test_supervised_good_variants(write_jsonl: Callable[..., Path], good: Any) -> None:
    report = validate(file_with(write_jsonl, good))
    assert report.valid, report.errors
    assert report.examples == 12


DPO_BAD = [
    ("dpo_missing_input", {"preferred_output": [A], "non_preferred_output": [A]}, "input"),
    (
        "missing_messages",
        {"input": {}, "preferred_output": [A], "non_preferred_output": [A]},
        "input.messages",
    ),
    (
        "dpo_missing_preferred",
        {"input": {"messages": [U]}, "non_preferred_output": [A]},
        "preferred_output",
    ),
    (
        "dpo_missing_non_preferred",
        {"input": {"messages": [U]}, "preferred_output": [A]},
        "non_preferred_output",
    ),
    (
        "dpo_invalid_preferred",
        {"input": {"messages": [U]}, "preferred_output": [A, A], "non_preferred_output": [A]},
        "preferred_output",
    ),
    (
        "dpo_invalid_non_preferred",
        {"input": {"messages": [U]}, "preferred_output": [A], "non_preferred_output": [U]},
        "non_preferred_output",
    ),
    (
        "dpo_input_ends_with_assistant",
        {"input": {"messages": [U, A]}, "preferred_output": [A], "non_preferred_output": [A]},
        "input.messages[1]",
    ),
    (
        "invalid_tools",
        {
            "input": {"messages": [U], "tools": "x"},
            "preferred_output": [A],
            "non_preferred_output": [A],
        },
        "input.tools",
    ),
    (
        "weight_on_non_assistant",
        {
            "input": {"messages": [U]},
            "preferred_output": [{**A, "weight": 1}],
            "non_preferred_output": [A],
        },
        "preferred_output[0].weight",
    ),
]


@pytest.mark.parametrize(("code", "bad", "field"), DPO_BAD, ids=[c for c, _, _ in DPO_BAD])
def test_dpo_rule(write_jsonl: Callable[..., Path], code: str, bad: Any, field: str) -> None:
    report = validate(file_with(write_jsonl, bad, "dpo"), method="dpo")
    assert (BAD_LINE, code, field) in [(i.line, i.code, i.field) for i in report.errors]


def test_dpo_good_file(write_jsonl: Callable[..., Path]) -> None:
    good = {
        "input": {
            "messages": [U],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "parallel_tool_calls": True,
        },
        "preferred_output": [A],
        "non_preferred_output": [{"role": "assistant", "content": "no"}],
    }
    report = validate(file_with(write_jsonl, good, "dpo"), method="dpo")
    assert report.valid, report.errors
    assert report.tokens.assistant > 0


def test_reinforcement_rules(write_jsonl: Callable[..., Path]) -> None:
    bad = {"messages": [U, A], "answer": "1"}
    report = validate(file_with(write_jsonl, bad, "reinforcement"), method="reinforcement")
    assert [(i.line, i.code, i.field) for i in report.errors] == [
        (BAD_LINE, "rft_ends_with_assistant", "messages[1]")
    ]
    good = {
        "messages": [U, A, {"role": "user", "content": "and now?"}],
        "reference": {"any": ["thing"]},
    }
    report = validate(file_with(write_jsonl, good, "reinforcement"), method="reinforcement")
    assert report.valid and report.tokens.assistant == 0


def test_weight_not_allowed_in_reinforcement(write_jsonl: Callable[..., Path]) -> None:
    bad = {"messages": [U, {**A, "weight": 1}, U]}
    report = validate(file_with(write_jsonl, bad, "reinforcement"), method="reinforcement")
    assert (BAD_LINE, "weight_on_non_assistant") in [(i.line, i.code) for i in report.errors]


def test_every_violation_is_reported_not_just_the_first(write_jsonl: Callable[..., Path]) -> None:
    bad = msgs(
        {"role": "human", "content": "x"},
        {**U, "weight": 1},
        {"role": "assistant", "content": None, "weight": 3},
    )
    report = validate(file_with(write_jsonl, bad))
    codes = sorted(i.code for i in report.errors)
    assert codes == ["invalid_weight", "missing_content", "unknown_role", "weight_on_non_assistant"]


def test_data_of_the_other_method_says_which_method_to_use(
    write_jsonl: Callable[..., Path],
) -> None:
    as_sft = validate(write_jsonl([dpo(i) for i in range(12)]))
    assert {i.code for i in as_sft.errors} == {"missing_messages"}
    assert all("use --method dpo" in i.message for i in as_sft.errors)
    as_dpo = validate(write_jsonl([sft(i) for i in range(12)]), method="dpo")
    assert {i.code for i in as_dpo.errors} >= {"dpo_missing_input"}
    hinted = [i for i in as_dpo.errors if i.code == "dpo_missing_input"]
    assert len(hinted) == 12 and all("use --method supervised" in i.message for i in hinted)


def test_weight_in_dpo_output_says_why(write_jsonl: Callable[..., Path]) -> None:
    bad = {**dpo(0), "preferred_output": [{**A, "weight": 1}]}
    report = validate(file_with(write_jsonl, bad, "dpo"), method="dpo")
    (issue,) = report.errors
    assert (issue.line, issue.code) == (BAD_LINE, "weight_on_non_assistant")
    assert "only allowed in supervised examples" in issue.message
    assert "not assistant" not in issue.message
