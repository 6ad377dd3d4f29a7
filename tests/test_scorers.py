"""Scorers: each built-in on passing and failing cases, parsing of --scorer specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openai_ft.errors import UsageError
from openai_ft.evaluate.scorers import as_scorer, get_scorer, message_text, normalize
from openai_ft.evaluate.text_metrics import lcs_length, rouge_l, tokens


def test_exact_and_normalized() -> None:
    assert get_scorer("exact")(" billing\n", "billing") == 1.0
    assert get_scorer("exact")("Billing", "billing") == 0.0
    assert get_scorer("normalized")("  BILLING!! ", "billing") == 1.0
    assert get_scorer("normalized")("ｂｉｌｌｉｎｇ。", "billing") == 1.0  # full-width forms
    assert normalize("Hello,   World?") == "hello world"


def test_contains_regex_numeric() -> None:
    assert get_scorer("contains")("The intent is Refund.", "refund") == 1.0
    assert get_scorer("contains")("shipping", "refund") == 0.0
    assert get_scorer("regex")("order 123", r"order \d+") == 1.0
    assert get_scorer(r"regex:\d{3}")("call 555 now", "ignored") == 1.0
    assert get_scorer(r"regex:\d{3}")("call now", "ignored") == 0.0
    assert get_scorer("numeric:0.01")("about 1,000.5 dollars", "1000") == 1.0
    assert get_scorer("numeric:0.01")("42", "43") == 0.0
    assert get_scorer("numeric")("no number", "3") == 0.0
    with pytest.raises(UsageError):
        get_scorer("regex:(")


def test_json_scorers(tmp_path: Path) -> None:
    assert get_scorer("json_valid")('{"a": 1}', "") == 1.0
    assert get_scorer("json_valid")('```json\n{"a": 1}\n```', "") == 1.0
    assert get_scorer("json_valid")("{a: 1}", "") == 0.0
    schema = tmp_path / "s.json"
    schema.write_text(
        json.dumps({"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}})
    )
    sc = get_scorer(f"json_schema:{schema}")
    assert sc('{"a": 2}', "") == 1.0
    assert sc('{"a": "x"}', "") == 0.0
    assert get_scorer("json_field:a.b")('{"a": {"b": 3}, "c": 1}', '{"a": {"b": 3}}') == 1.0
    assert get_scorer("json_field:a.b")('{"a": {"b": 4}}', '{"a": {"b": 3}}') == 0.0
    assert get_scorer("json_field")('{"x": [1, 2]}', '{"x": [1, 2]}') == 1.0


def test_tool_call_match_compares_parsed_arguments() -> None:
    def msg(args: str) -> str:
        return message_text({"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_order", "arguments": args}}]})  # fmt: skip

    sc = get_scorer("tool_call")
    assert sc(msg('{"id": "7", "x": 1}'), msg('{"x":1,"id":"7"}')) == 1.0  # key order and spacing
    assert sc(msg('{"id": "8"}'), msg('{"id": "7"}')) == 0.0
    assert sc("plain text", msg("{}")) == 0.0


def test_rouge_l_bleu_chrf() -> None:
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4  # textbook LCS
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    # LCS("the cat was on the mat", "the cat sat on the mat") = 5 of 6 tokens each way.
    assert rouge_l("the cat was on the mat", "the cat sat on the mat") == pytest.approx(5 / 6)
    assert rouge_l("", "x") == 0.0
    assert tokens("退款 please") == ["退", "款", "please"]
    assert get_scorer("bleu")("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(
        1.0
    )
    assert 0 < get_scorer("chrf")("the cat sat on a mat", "the cat sat on the mat") < 1
    assert get_scorer("bleu")("我要退款", "我要退款") == pytest.approx(1.0)
    assert not get_scorer("bleu").binary


def test_custom_and_unknown_scorers() -> None:
    sc = as_scorer(lambda p, r: len(p) == len(r), name="same_length")
    assert sc.name == "same_length" and sc("ab", "cd") == 1.0
    with pytest.raises(UsageError, match="unknown scorer"):
        get_scorer("nope")
    assert get_scorer("judge:gpt-4o").judge_model == "gpt-4o"
