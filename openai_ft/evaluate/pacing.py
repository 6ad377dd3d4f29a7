"""Client-side pacing: stay under ``--rpm``/``--tpm``, follow the service's rate-limit headers,
and back off on 429 by ``retry-after-ms``/``retry-after``. Pure logic over an injected clock.

Each request asks :meth:`Pacer.reserve` for its send time. Configured limits space requests
evenly (a slightly-under-limit interval, so a sliding-window limiter never fills up); the
``x-ratelimit-remaining-*``/``x-ratelimit-reset-*`` headers hold sending back once the
service says the budget is spent; a 429 pauses every request until its retry-after.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

SAFETY = 0.97  # pace at 97% of the limit: jitter between us and the service cannot cause a 429
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """Seconds in an OpenAI reset header (``1m2.5s``, ``20ms``, ``6s``, or a bare number)."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def retry_after(headers: Mapping[str, str], attempt: int) -> float:
    """Seconds to wait after a 429/5xx: ``retry-after-ms``, ``retry-after``, else exponential."""
    lower = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = lower.get(name)
        if value:
            try:
                return float(max(0.0, float(value)) * scale)
            except ValueError:
                continue  # an HTTP date: fall through to our own backoff
    return min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** min(attempt, 30))


@dataclass
class _Budget:
    """What the service last said about one budget (requests or tokens)."""

    remaining: float | None = None
    reset_at: float = 0.0
    spent_since: float = 0.0


@dataclass
class Pacer:
    """Decides when each request may be sent. Not thread-safe: use from one event loop."""

    rpm: float | None = None
    tpm: float | None = None
    clock: Callable[[], float] = time.monotonic
    safety: float = SAFETY
    _next_request: float = 0.0
    _next_tokens: float = 0.0
    _paused_until: float = 0.0
    _budgets: dict[str, _Budget] = field(
        default_factory=lambda: {"requests": _Budget(), "tokens": _Budget()}
    )
    throttled: int = 0  # 429s seen

    def reserve(self, tokens: int = 0) -> float:
        """Book a send slot for a request of ``tokens`` tokens; return the seconds to wait first."""
        now = self.clock()
        start = max(now, self._next_request, self._next_tokens, self._paused_until)
        start = max(
            start, self._header_gate("requests", 1, now), self._header_gate("tokens", tokens, now)
        )
        if self.rpm:
            self._next_request = start + 60.0 / (self.rpm * self.safety)
        if self.tpm and tokens:
            self._next_tokens = start + 60.0 * tokens / (self.tpm * self.safety)
        self._budgets["requests"].spent_since += 1
        self._budgets["tokens"].spent_since += tokens
        return start - now

    def _header_gate(self, kind: str, amount: float, now: float) -> float:
        b = self._budgets[kind]
        if b.remaining is None or now >= b.reset_at or amount == 0:
            return now
        if b.remaining - b.spent_since >= amount:
            return now
        return b.reset_at

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the remaining budget and reset times from a response's rate-limit headers."""
        lower = {k.lower(): v for k, v in headers.items()}
        now = self.clock()
        for kind in ("requests", "tokens"):
            raw = lower.get(f"x-ratelimit-remaining-{kind}")
            if raw is None:
                continue
            try:
                remaining = float(raw)
            except ValueError:
                continue
            reset = parse_duration(lower.get(f"x-ratelimit-reset-{kind}"))
            self._budgets[kind] = _Budget(
                remaining, now + (reset if reset is not None else 1.0), 0.0
            )

    def throttle(self, headers: Mapping[str, str], attempt: int) -> float:
        """Record a 429: pause every request until the service's retry-after; return the wait."""
        self.throttled += 1
        wait = retry_after(headers, attempt)
        self._paused_until = max(self._paused_until, self.clock() + wait)
        return wait
