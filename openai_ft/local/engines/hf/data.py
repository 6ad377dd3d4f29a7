"""Training examples as the ``hf`` engine feeds them to TRL: token ids and loss labels.

SFT: each conversation is rendered with the model's chat template; the loss covers the tokens of
assistant turns only, and only those whose OpenAI ``weight`` is not 0 (a turn without ``weight``
counts, as on OpenAI). A turn's tokens are found by rendering the conversation up to it (with the
generation prompt) and up to its end: the difference is the turn, through its end-of-turn token.

DPO: OpenAI's ``input`` / ``preferred_output`` / ``non_preferred_output`` become TRL's
conversational ``prompt`` / ``chosen`` / ``rejected``.
"""

from __future__ import annotations

from typing import Any

IGNORE = -100


def _render(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, prompt: bool) -> list[int]:
    out = tokenizer.apply_chat_template(
        messages, tools=tools or None, tokenize=True, add_generation_prompt=prompt
    )
    ids = out["input_ids"] if hasattr(out, "keys") else out
    return list(ids)


def _clean(message: dict[str, Any]) -> dict[str, Any]:
    """A message as chat templates expect it (no ``weight``, content as text)."""
    out = {k: v for k, v in message.items() if k != "weight"}
    content = out.get("content")
    if isinstance(content, list):
        out["content"] = "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    elif content is None:
        out["content"] = ""
    return out


def sft_example(tokenizer: Any, example: dict[str, Any], max_length: int) -> dict[str, list[int]]:
    """``input_ids`` and ``labels`` (-100 outside weighted assistant turns) of one SFT example."""
    messages = [_clean(m) for m in example["messages"]]
    tools = example.get("tools")
    ids = _render(tokenizer, messages, tools, prompt=False)
    labels = [IGNORE] * len(ids)
    eos = tokenizer.eos_token_id
    for i, original in enumerate(example["messages"]):
        if original.get("role") != "assistant" or original.get("weight", 1) == 0:
            continue
        start = len(_render(tokenizer, messages[:i], tools, prompt=True)) if i else 0
        end = len(_render(tokenizer, messages[: i + 1], tools, prompt=False))
        end = min(end, len(ids))
        # Keep the turn through its end-of-turn token, not the newline the template adds after it.
        stop = end
        while stop > start and ids[stop - 1] != eos:
            stop -= 1
        end = stop if stop > start else end
        labels[start:end] = ids[start:end]
    return {"input_ids": ids[:max_length], "labels": labels[:max_length]}


def dpo_example(example: dict[str, Any]) -> dict[str, Any]:
    """TRL's conversational preference row for one OpenAI DPO example."""
    source = example.get("input") or {}
    return {
        "prompt": [_clean(m) for m in source.get("messages", [])],
        "chosen": [_clean(m) for m in example.get("preferred_output", [])],
        "rejected": [_clean(m) for m in example.get("non_preferred_output", [])],
    }


def trainable(rows: list[dict[str, list[int]]]) -> list[dict[str, list[int]]]:
    """The SFT rows that have at least one loss token (TRL drops the others)."""
    return [r for r in rows if any(label != IGNORE for label in r["labels"])]


__all__ = ["IGNORE", "dpo_example", "sft_example", "trainable"]
