"""A small training file shared by the tests of openai_ft.testing."""

from __future__ import annotations

import json

MODEL = "gpt-4o-mini-2024-07-18"


def training_jsonl(n: int = 12) -> bytes:
    """``n`` chat examples (a ticket and its intent) as JSONL bytes."""
    rows = []
    for i in range(n):
        intent = ("billing", "refund", "login")[i % 3]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"ticket {i}: my {intent} problem"},
                    {"role": "assistant", "content": intent},
                ]
            }
        )
    return "".join(json.dumps(r) + "\n" for r in rows).encode()
