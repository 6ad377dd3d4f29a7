"""Read an eval set: each example's messages up to its last assistant turn are the prompt, and
that assistant turn is the reference answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai_ft._jsonl import jsonl_values
from openai_ft.errors import InputError
from openai_ft.evaluate.scorers import message_text


@dataclass(frozen=True)
class Example:
    """One eval example: its 1-based line in the file, the prompt messages, the reference text."""

    line: int
    prompt: tuple[dict[str, Any], ...]
    reference: str
    tools: tuple[dict[str, Any], ...] = ()

    @property
    def question(self) -> str:
        """The last user message (what the report shows for this example)."""
        for m in reversed(self.prompt):
            if m.get("role") == "user":
                return message_text(m)
        return ""


def parse_example(obj: Any, where: str, line: int) -> Example:
    """Split one chat example into prompt and reference; a bad example is a one-line InputError."""
    if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
        raise InputError(
            f"{where}:{line}: expected an object with a 'messages' list",
            tip='each line must look like {"messages": [{"role": "user", ...}, ...]}',
        )
    messages = obj["messages"]
    last = max(
        (i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"),
        default=None,
    )
    if last is None:
        raise InputError(
            f"{where}:{line}: no assistant message to use as the reference answer",
            tip="end each example with the expected assistant reply",
        )
    if last == 0:
        raise InputError(
            f"{where}:{line}: nothing before the last assistant message to use as the prompt",
            tip="put the user (and system) messages before the assistant reply",
        )
    tools = obj.get("tools") or []
    return Example(line, tuple(messages[:last]), message_text(messages[last]), tuple(tools))


def load_examples(path: str | Path) -> list[Example]:
    """Read a chat JSONL file into examples (blank lines are skipped)."""
    p = Path(path)
    try:
        text = p.read_text("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{p}: file not found", tip="check the path given to --data") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{p}: cannot read the file: {exc}", tip="use a UTF-8 JSONL file"
        ) from None

    def bad_json(n: int, exc: json.JSONDecodeError) -> InputError:
        return InputError(
            f"{p}:{n}: not valid JSON: {exc.msg} (column {exc.colno})",
            tip="each line must be one JSON object",
        )

    examples = [
        parse_example(obj, str(p), n) for n, obj in jsonl_values(text.split("\n"), bad_json)
    ]
    if not examples:
        raise InputError(f"{p}: no examples", tip="give a JSONL file with one chat per line")
    return examples


def request_body(example: Example, sampling: dict[str, Any]) -> dict[str, Any]:
    """The chat completion request (without model) for one example."""
    body: dict[str, Any] = {"messages": list(example.prompt)}
    if example.tools:
        body["tools"] = list(example.tools)
    body.update({k: v for k, v in sampling.items() if v is not None})
    return body


def estimate_tokens(body: dict[str, Any]) -> int:
    """A cheap upper-side token estimate for --tpm pacing (about 3 characters per token)."""
    prompt = len(json.dumps(body.get("messages", []), ensure_ascii=False)) // 3 + 8
    return prompt + int(body.get("max_completion_tokens") or 64) * int(body.get("n") or 1)
