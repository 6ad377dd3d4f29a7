"""How base (not fine-tuned) models answer on the local service: a plain zero-shot rule.

The rule, in full:

1. If a system (or developer) message lists the allowed labels, on a line such as
   ``Labels: billing, refund_request, other``, ``Answer with one of: a, b, c`` (also "list:",
   "categories:", "intents:", "options:"; the list ends at a full stop or line end), the answer is
   the label whose words overlap the last user message most. A label's words are its parts split
   on ``_``, ``-`` and spaces, lower-cased; both sides are stemmed by stripping common English
   suffixes (``-ing``, ``-ed``, ``-s``, ``-ation``...), and two stems match when equal or when the
   shorter one (4+ letters) starts the longer. Ties, including "no overlap at all", go to the label
   listed first.
2. Otherwise the answer is :data:`GENERIC_REPLY`.

The rule is deterministic (``temperature`` and ``seed`` change nothing). The log-probability of
the answer is that of a softmax over the labels' overlap counts (0.0 for the generic reply).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from openai_ft.local.engines.ngram.features import content_text, tokenize
from openai_ft.local.engines.ngram.model import Completion

GENERIC_REPLY = "I'm sorry, I can't help with that yet."
_LABEL_LINE = re.compile(
    r"(?i)\b(?:labels?|one\s+of|list|categories|intents?|options)\s*:\s*([^\n]+?)(?:\.(?:\s|$)|\n|$)"
)
_WORD = re.compile(r"[^\W_]+")
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ed", "es", "ly", "s")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # cancell(ation) -> cancel, bill(ing) -> bil matches bil(l)
    return word


def _stems(text: str) -> tuple[str, ...]:
    return tuple(_stem(w) for w in _WORD.findall(text.lower()))


@lru_cache(maxsize=1024)
def parse_labels(system_text: str) -> tuple[str, ...]:
    """The labels listed in a system prompt ("Labels: a, b" or "one of: a, b"), else ()."""
    match = _LABEL_LINE.search(system_text)
    if not match:
        return ()
    raw = re.split(r",|;|\||\s+or\s+", match.group(1))
    labels = [item.strip().strip("`'\"*.").strip() for item in raw]
    return tuple(label for label in labels if label)


@lru_cache(maxsize=1024)
def _label_stems(labels: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(_stems(label.replace("_", " ").replace("-", " ")) for label in labels)


@lru_cache(maxsize=4096)
def _prefixes(stem: str) -> tuple[str, ...]:
    return tuple(stem[:k] for k in range(4, len(stem) + 1))


def label_scores(labels: tuple[str, ...], user_text: str) -> list[int]:
    """Per label: how many of its word stems match a stem of the user message."""
    user = set(_stems(user_text))
    # s matches u when equal, or when the shorter (4+ letters) starts the longer: set lookups.
    user_prefixes = {p for u in user for p in _prefixes(u)}

    def matches(stem: str) -> bool:
        return stem in user or stem in user_prefixes or not user.isdisjoint(_prefixes(stem))

    return [sum(1 for s in stems if matches(s)) for stems in _label_stems(labels)]


def base_complete(
    model: str,
    messages: list[dict[str, Any]],
    *,
    n: int = 1,
    temperature: float = 1.0,
    seed: int | None = None,
    top_logprobs: int = 0,
) -> list[Completion]:
    """Answer as a base model with the zero-shot label-overlap rule (see the module docstring)."""
    system = "\n".join(
        content_text(m) for m in messages if m.get("role") in ("system", "developer")
    )
    user = next((content_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
    labels = parse_labels(system) if system else ()
    if not labels:
        generic: list[tuple[str, float, list[tuple[str, float]]]]
        generic = [(t, 0.0, []) for t in tokenize(GENERIC_REPLY)]
        return [Completion(GENERIC_REPLY, list(generic)) for _ in range(n)]
    scores = label_scores(labels, user)
    best = max(range(len(labels)), key=lambda i: (scores[i], -i))
    norm = math.log(sum(math.exp(s) for s in scores))
    ranked = sorted(range(len(labels)), key=lambda i: (-scores[i], i))[:top_logprobs]
    alternatives = [((tokenize(labels[i]) or [""])[0], scores[i] - norm) for i in ranked]
    per_token: list[tuple[str, float, list[tuple[str, float]]]] = [
        (tok, scores[best] - norm if i == 0 else 0.0, alternatives if i == 0 else [])
        for i, tok in enumerate(tokenize(labels[best]))
    ]
    return [Completion(labels[best], list(per_token)) for _ in range(n)]
