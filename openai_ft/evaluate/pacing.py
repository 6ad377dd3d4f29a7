"""Client-side pacing: stay under ``--rpm``/``--tpm``, follow the service's rate-limit headers,
and back off on 429 by ``retry-after-ms``/``retry-after``. Pure logic over an injected clock.

Each request asks :meth:`Pacer.reserve` for its send time. Configured limits space requests
evenly (a slightly-under-limit interval, so a sliding-window limiter never fills up); the
``x-ratelimit-remaining-*``/``x-ratelimit-reset-*`` headers, less the requests still in flight,
hold sending back once the service's budget is spent; a 429 pauses every request until its
retry-after.
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
    limit: float | None = None  # the per-minute limit: what a window holds after the reset


@dataclass
class Pacer:
    """Decides when each request may be sent. Not thread-safe: use from one event loop.

    A request counts against the service's budget from :meth:`reserve` until its own response
    is observed (or :meth:`release` drops it): the ``remaining`` a response reports cannot yet
    include requests still in flight, so they are subtracted from it until the reset. After the
    reset, each further minute holds ``x-ratelimit-limit-*`` worth of requests and tokens.
    """

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
    # ticket -> (send time, tokens) of every reservation whose answer has not been observed yet
    _in_flight: dict[object, tuple[float, int]] = field(default_factory=dict)
    _heard_back: bool = False
    throttled: int = 0  # 429s seen

    @property
    def probing(self) -> bool:
        """True while nothing paces requests yet (no limits set, no answer heard, one in flight):
        the first answer's rate-limit headers tell how many the rest may send at once.
        """
        return not (self.rpm or self.tpm or self._heard_back) and bool(self._in_flight)

    def reserve(self, tokens: int = 0, ticket: object = None) -> float:
        """Book a send slot for a request of ``tokens`` tokens; return the seconds to wait first.

        The request stays in flight until :meth:`observe` or :meth:`release` gets its ``ticket``.
        """
        now = self.clock()
        start = max(now, self._next_request, self._next_tokens, self._paused_until)
        start = max(start, self._header_gate("requests", 1, start))
        start = max(start, self._header_gate("tokens", tokens, start))
        start = max(start, self._header_gate("requests", 1, start))  # tokens may have moved it
        if self.rpm:
            self._next_request = start + 60.0 / (self.rpm * self.safety)
        if self.tpm and tokens:
            self._next_tokens = start + 60.0 * tokens / (self.tpm * self.safety)
        self._in_flight[object() if ticket is None else ticket] = (start, tokens)
        return start - now

    def release(self, ticket: object) -> None:
        """Stop counting a reservation (its request failed without a response to observe)."""
        self._in_flight.pop(ticket, None)
        self._heard_back = True

    def _header_gate(self, kind: str, amount: float, at: float) -> float:
        """The earliest time from ``at`` when ``amount`` more fits the service's last budget."""
        b = self._budgets[kind]
        if b.remaining is None or amount == 0:
            return at
        # Window 0 runs until the reset with what the service said remains; window k >= 1 is
        # the k-th minute after the reset and holds the limit (unknown limit: no gate then).
        used: dict[int, float] = {}
        for start, toks in self._in_flight.values():
            k = self._window(b, start)
            used[k] = used.get(k, 0.0) + (1 if kind == "requests" else toks)
        k = self._window(b, at)
        while True:
            cap = b.remaining if k == 0 else b.limit
            if cap is None:
                break
            if used.get(k, 0.0) + amount <= cap or (k > 0 and not used.get(k)):
                break
            k += 1
        return at if k == 0 else max(at, b.reset_at + 60.0 * (k - 1))

    @staticmethod
    def _window(b: _Budget, t: float) -> int:
        return 0 if t < b.reset_at else 1 + int((t - b.reset_at) // 60.0)

    def observe(self, headers: Mapping[str, str], ticket: object = None) -> None:
        """Learn the remaining budget and reset times from a response's rate-limit headers
        (the response to the request booked as ``ticket``, which stops counting as in flight).
        """
        if ticket is not None:
            self.release(ticket)
        self._heard_back = True
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
            try:
                limit: float | None = float(lower.get(f"x-ratelimit-limit-{kind}", ""))
            except ValueError:
                limit = None
            reset = parse_duration(lower.get(f"x-ratelimit-reset-{kind}"))
            reset_at = now + (reset if reset is not None else 1.0)
            self._budgets[kind] = _Budget(remaining, reset_at, limit)

    def throttle(self, headers: Mapping[str, str], attempt: int) -> float:
        """Record a 429: pause every request until the service's retry-after; return the wait."""
        self.throttled += 1
        wait = retry_after(headers, attempt)
        self._paused_until = max(self._paused_until, self.clock() + wait)
        return wait
