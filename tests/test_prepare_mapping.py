"""Column mapping: chat, template, system prompts, DPO, pass-through, empty cells, conflicts."""

from __future__ import annotations

import math

import pytest

from openai_ft.dataset.mapping import Mapping, check_columns, make_mapping, map_row
from openai_ft.errors import InputError, UsageError

AT = "t.csv: row 2"


def test_user_assistant_with_system_text_and_stripping() -> None:
    m = make_mapping(user="q", assistant="a", system="  Be brief. ")
    ex = map_row(m, {"q": "  where is it?\n", "a": " shipping "}, AT, m.method)
    assert ex == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "where is it?"},
            {"role": "assistant", "content": "shipping"},
        ]
    }


def test_system_column_and_numbers_become_text() -> None:
    m = make_mapping(user="q", assistant="a", system_col="sys")
    ex = map_row(m, {"q": 12, "a": 3.5, "sys": "S"}, AT, m.method)
    assert ex is not None
    assert [msg["content"] for msg in ex["messages"]] == ["S", "12", "3.5"]


def test_template_fills_columns() -> None:
    m = make_mapping(template="Order {order_id}: {text} ({order_id})", assistant="a")
    assert m.template_fields == ("order_id", "text")
    ex = map_row(m, {"order_id": "A1", "text": " late ", "a": "shipping"}, AT, m.method)
    assert ex is not None
    assert ex["messages"][0] == {"role": "user", "content": "Order A1: late (A1)"}


def test_dpo_columns() -> None:
    m = make_mapping(prompt="p", chosen="good", rejected="bad", system="S")
    assert m.method == "dpo"
    ex = map_row(m, {"p": "hi", "good": "Hello! How can I help?", "bad": "what"}, AT, m.method)
    assert ex == {
        "input": {
            "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]
        },
        "preferred_output": [{"role": "assistant", "content": "Hello! How can I help?"}],
        "non_preferred_output": [{"role": "assistant", "content": "what"}],
    }


def test_empty_row_is_dropped_but_a_half_empty_row_is_an_error() -> None:
    m = make_mapping(user="q", assistant="a", system_col="sys")
    assert map_row(m, {"q": " ", "a": math.nan, "sys": "S"}, AT, m.method) is None
    with pytest.raises(InputError, match=r"^t\.csv: row 2, column 'a': empty cell$") as info:
        map_row(m, {"q": "hello", "a": math.nan, "sys": "S"}, AT, m.method)
    assert info.value.tip == "fill it in or delete the row"
    with pytest.raises(InputError, match="column 'sys': empty cell"):
        map_row(m, {"q": "hello", "a": "x", "sys": None}, AT, m.method)


def test_non_text_cell_is_an_error() -> None:
    m = make_mapping(user="q", assistant="a")
    with pytest.raises(InputError, match="column 'q': expected text, found list"):
        map_row(m, {"q": ["x"], "a": "y"}, AT, m.method)


def test_passthrough_chat_keeps_training_keys_only() -> None:
    m = make_mapping()
    assert m.passthrough
    msgs = [
        {"role": "user", "content": " hi "},
        {"role": "assistant", "content": None, "tool_calls": []},
    ]
    ex = map_row(
        m,
        {
            "messages": msgs,
            "tools": [{"type": "function"}],
            "note": "x",
            "parallel_tool_calls": math.nan,
        },
        AT,
        "supervised",
    )
    assert ex == {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": []},
        ],
        "tools": [{"type": "function"}],
    }
    assert map_row(m, {"messages": math.nan}, AT, "supervised") is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"user": "q", "assistant": "a", "template": "{q}"}, "--user and --template"),
        ({"user": "q"}, "--assistant is missing"),
        ({"assistant": "a"}, "--user is missing"),
        (
            {"user": "q", "assistant": "a", "system": "s", "system_col": "c"},
            "--system and --system-col",
        ),
        ({"prompt": "p", "chosen": "c"}, "DPO needs"),
        ({"prompt": "p", "chosen": "c", "rejected": "r", "user": "u"}, "cannot be combined"),
        ({"template": "no fields", "assistant": "a"}, "needs named"),
        ({"template": "{0} and {}", "assistant": "a"}, "needs named"),
        ({"template": "{broken", "assistant": "a"}, "not a valid template"),
        ({"system": "s"}, "--system/--system-col need"),
    ],
)
def test_conflicting_options_are_usage_errors(options: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make_mapping(**options)


def test_check_columns_names_the_missing_column() -> None:
    m = make_mapping(user="text", assistant="intent", system_col="system")
    check_columns(m, ["text", "intent", "system"], "t.csv")
    with pytest.raises(
        InputError, match=r"t\.csv: header: no column 'intent' \(columns: 'text', 'label'\)"
    ):
        check_columns(make_mapping(user="text", assistant="intent"), ["text", "label"], "t.csv")
    with pytest.raises(InputError, match="no column 'order_id'"):
        check_columns(make_mapping(template="{order_id}", assistant="a"), ["a"], "t.csv")
    with pytest.raises(InputError, match="no column mapping given and no 'messages' column"):
        check_columns(Mapping(), ["text"], "t.csv")
    check_columns(Mapping(), ["input", "preferred_output", "non_preferred_output"], "t.jsonl")


def test_mapping_to_dict_lists_set_options() -> None:
    assert make_mapping(user="q", assistant="a").to_dict() == {"user": "q", "assistant": "a"}


def test_passthrough_cells_holding_json_text_are_parsed() -> None:
    m = make_mapping()
    msgs = '[{"role": "user", "content": " hi "}, {"role": "assistant", "content": "yo"}]'
    ex = map_row(
        m, {"messages": msgs, "parallel_tool_calls": "false", "tools": ""}, AT, "supervised"
    )
    assert ex == {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
        "parallel_tool_calls": False,
    }
    assert map_row(m, {"messages": "  "}, AT, "supervised") is None
    with pytest.raises(InputError, match=r"t\.csv: row 2, column 'messages': not valid JSON"):
        map_row(m, {"messages": '[{"role": "user"'}, AT, "supervised")
