"""The fast path of validation: the common shape of a chat example, checked and counted in one pass.

Most training lines look like ``{"messages": [{"role": ..., "content": "..."}, ...]}``. Such an
example (only the key ``messages``; every message exactly ``role`` and a non-empty string
``content``; roles system, user, assistant or developer; at least one assistant turn) has no
format error by construction - see ``validate_rules.check_messages`` - so its rules, tokens,
system prompt and final reply come from one loop. Any other shape takes the general path.

Lines are parsed with orjson when it is installed (about 2.5x faster than ``json.loads``). Its
result is used only for examples of the simple shape, which hold nothing but strings, so the
objects are the ones ``json.loads`` would build; everything else is parsed again with ``json`` so
that numbers, error messages and leniencies stay exactly those of the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openai_ft.dataset.quality import text_hash
from openai_ft.dataset.tokens import TOKENS_PER_EXAMPLE, TOKENS_PER_MESSAGE, Counter

__all__ = ["SIMPLE_ROLES", "SimpleCounter", "fast_loads", "simple_messages"]

SIMPLE_ROLES = ("system", "user", "assistant", "developer")
_ROLE_SET = frozenset(SIMPLE_ROLES)
_SYSTEM_CACHE = 64


def _orjson_loads() -> Callable[[bytes], Any] | None:
    try:
        import orjson
    except ImportError:  # optional speed-up: the standard json module does the same job
        return None
    return orjson.loads


fast_loads = _orjson_loads()


def simple_messages(obj: Any) -> list[dict[str, str]] | None:
    """The messages of an example of the simple shape (see the module docstring), else None."""
    if type(obj) is not dict or len(obj) != 1:
        return None
    msgs = obj.get("messages")
    if type(msgs) is not list or not msgs:
        return None
    assistant = False
    for msg in msgs:
        if type(msg) is not dict or len(msg) != 2:
            return None
        role = msg.get("role")
        content = msg.get("content")
        if type(role) is not str or role not in _ROLE_SET or type(content) is not str:
            return None
        if not content:
            return None
        if role == "assistant":
            assistant = True
    return msgs if assistant else None


class SimpleCounter:
    """Counts simple examples with the rule of ``tokens.Counter``; role costs are constants and
    system prompts (the same string on every line) are encoded and hashed once."""

    def __init__(self, counter: Counter) -> None:
        self.text = counter.text
        self.role_cost = {role: TOKENS_PER_MESSAGE + counter.text(role) for role in SIMPLE_ROLES}
        self.systems: dict[str, tuple[int, int]] = {}

    def count(self, msgs: list[dict[str, str]]) -> tuple[int, int, int, str]:
        """(total tokens, assistant tokens, system prompt hash or 0, final reply stripped)."""
        role_cost = self.role_cost
        text = self.text
        total = TOKENS_PER_EXAMPLE
        assistant = system = 0
        reply = ""
        for i, msg in enumerate(msgs):
            role = msg["role"]
            content = msg["content"]
            if role == "assistant":
                n = text(content)
                assistant += n
                reply = content
            elif role == "user":
                n = text(content)
            else:  # system or developer: usually one repeated prompt
                known = self.systems.get(content)
                if known is None:
                    known = (text(content, True), text_hash(content))
                    if len(self.systems) >= _SYSTEM_CACHE:
                        self.systems.clear()
                    self.systems[content] = known
                n = known[0]
                if i == 0:
                    system = known[1]
            total += role_cost[role] + n
        return total, assistant, system, reply.strip()
