"""The LLM judge: a scorer whose score comes from another model, asked through the same runner."""

from __future__ import annotations

import re

from openai_ft.evaluate.cache import request_hash
from openai_ft.evaluate.runner import Call

DEFAULT_RUBRIC = (
    "You grade answers. Compare the ANSWER with the REFERENCE for the QUESTION. "
    "10 means the answer is correct and says the same as the reference; 0 means it is wrong, "
    "unrelated or empty. Reply with one line: `Score: N` where N is an integer from 0 to 10."
)

_SCORE = re.compile(r"(?i)score\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?")
_FRACTION = re.compile(r"(\d+(?:\.\d+)?)\s*/\s*(\d+)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def judge_call(model: str, question: str, reference: str, answer: str, rubric: str) -> Call:
    """The request that asks ``model`` to grade one answer (temperature 0, short reply)."""
    body = {
        "messages": [
            {"role": "system", "content": rubric},
            {
                "role": "user",
                "content": f"QUESTION:\n{question}\n\nREFERENCE:\n{reference}\n\nANSWER:\n{answer}",
            },
        ],
        "temperature": 0,
        "max_completion_tokens": 20,
    }
    return Call(model, body, request_hash(body), tokens=len(str(body)) // 3 + 20)


def parse_judge_score(text: str, scale: float = 10.0) -> float | None:
    """A score in [0, 1] from a judge's reply (``Score: 7``, ``7/10``, or a bare number)."""
    m = _SCORE.search(text)
    if m:
        value, denom = float(m.group(1)), float(m.group(2) or scale)
    elif m2 := _FRACTION.search(text):
        value, denom = float(m2.group(1)), float(m2.group(2))
    elif m3 := _NUMBER.search(text):
        value, denom = float(m3.group(0)), scale
    else:
        return None
    if denom <= 0 or value < 0 or value > denom:
        return None
    return value / denom
