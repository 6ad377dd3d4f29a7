"""Rate limits, added latency and fault injection for tests, benchmarks and chaos runs."""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from openai_ft.local.http.core import ApiError, fmt_duration

FAULT_KINDS = ("500", "503", "429", "drop", "slow")
WINDOW = 60.0
LIMITERS = ("bucket", "window")  # OpenAI's token bucket (default), a sliding minute
# Reported without --rpm/--tpm (OpenAI sends x-ratelimit-* on every response): OpenAI's tier-5
# limits for gpt-4o-mini, never spent, resetting at once.
NOMINAL = {"requests": 30_000, "tokens": 150_000_000}


@dataclass(frozen=True)
class FaultRule:
    """Inject ``kind`` into requests that match ``method`` and ``path_regex`` (``re.search``).

    Which matching requests are hit: ``nth`` (only the n-th, 1-based), ``every`` (every k-th),
    otherwise each one; ``times`` caps how many are hit in total (None = no cap).
    ``slow`` adds ``delay_ms`` of latency instead of failing.
    """

    kind: str
    path_regex: str = ""
    method: str | None = None
    times: int | None = None
    every: int | None = None
    nth: int | None = None
    delay_ms: float = 2000.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}: choose one of {', '.join(FAULT_KINDS)}"
            )


@dataclass(frozen=True)
class Fault:
    """What to do to one request: a status to answer, a dropped connection, or extra delay."""

    kind: str
    delay: float = 0.0


@dataclass
class FaultScript:
    """An ordered list of rules with their match counters; the first rule that fires wins."""

    rules: list[FaultRule] = field(default_factory=list)
    _seen: list[int] = field(default_factory=list)
    _fired: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, faults: FaultScript | Iterable[FaultRule] | None) -> FaultScript:
        """Normalise the ``faults`` argument of LocalService."""
        if isinstance(faults, FaultScript):
            return faults
        return cls(list(faults or []))

    def add(self, rule: FaultRule) -> None:
        """Append a rule at run time."""
        with self._lock:
            self.rules.append(rule)

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if a rule fires; advances the counters of matching rules."""
        with self._lock:
            while len(self._seen) < len(self.rules):
                self._seen.append(0)
                self._fired.append(0)
            chosen: Fault | None = None
            for i, rule in enumerate(self.rules):
                if rule.method and rule.method.upper() != method:
                    continue
                if rule.path_regex and not re.search(rule.path_regex, path):
                    continue
                self._seen[i] += 1
                if chosen is not None:
                    continue
                n = self._seen[i]
                if rule.times is not None and self._fired[i] >= rule.times:
                    continue
                if rule.nth is not None and n != rule.nth:
                    continue
                if rule.every is not None and n % rule.every != 0:
                    continue
                self._fired[i] += 1
                chosen = Fault(rule.kind, rule.delay_ms / 1000.0 if rule.kind == "slow" else 0.0)
            return chosen


class _Window:
    """A sliding one-minute window of (time, amount) entries (``serve --limiter window``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: deque[tuple[float, int]] = deque()
        self.used = 0

    def _expire(self, now: float) -> None:
        while self.entries and self.entries[0][0] <= now - WINDOW:
            self.used -= self.entries.popleft()[1]

    def wait_for(self, now: float, amount: int) -> float:
        """Seconds until ``amount`` more fits (0 if it fits now)."""
        self._expire(now)
        if self.used + amount <= self.limit:
            return 0.0
        if amount > self.limit:
            return WINDOW
        need = self.used + amount - self.limit
        for t, n in self.entries:
            need -= n
            if need <= 0:
                return max(0.001, t + WINDOW - now)
        return WINDOW

    def remaining(self, now: float) -> int:
        """What may still be spent now."""
        self._expire(now)
        return max(0, self.limit - self.used)

    def reset_in(self, now: float) -> float:
        """Seconds until the window is empty again (the whole limit available)."""
        self._expire(now)
        return max(0.0, self.entries[-1][0] + WINDOW - now) if self.entries else 0.0

    def add(self, now: float, amount: int) -> None:
        """Spend ``amount`` at ``now``."""
        self.entries.append((now, amount))
        self.used += amount


class _Bucket:
    """OpenAI's model: a bucket of ``limit`` that refills continuously at ``limit`` per minute."""

    def __init__(self, limit: int, now: float) -> None:
        self.limit = limit
        self.rate = limit / WINDOW
        self.level = float(limit)  # capacity starts full
        self.at = now

    def _refill(self, now: float) -> None:
        if now > self.at:
            self.level = min(float(self.limit), self.level + (now - self.at) * self.rate)
            self.at = now

    @property
    def used(self) -> int:
        """What the last minute's spending keeps out of the bucket (for the 429 message)."""
        return round(self.limit - self.level)

    def wait_for(self, now: float, amount: int) -> float:
        """Seconds until ``amount`` more fits (0 if it fits now)."""
        self._refill(now)
        if self.level >= amount:
            return 0.0
        if amount > self.limit:
            return WINDOW
        return max(0.001, (amount - self.level) / self.rate)

    def remaining(self, now: float) -> int:
        """What may still be spent now (whole units, as OpenAI reports it)."""
        self._refill(now)
        return max(0, int(self.level + 1e-9))

    def reset_in(self, now: float) -> float:
        """Seconds until the bucket is full again."""
        self._refill(now)
        return max(0.0, (self.limit - self.level) / self.rate)

    def add(self, now: float, amount: int) -> None:
        """Spend ``amount`` at ``now``."""
        self._refill(now)
        self.level -= amount


_Limit = _Window | _Bucket


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits over ``clock``.

    ``model="bucket"`` (the default) is OpenAI's: each limit is a bucket that starts full and
    refills continuously at the limit per minute; ``model="window"`` counts a sliding minute, as
    some other OpenAI-compatible servers do. Both report OpenAI's six ``x-ratelimit-*`` headers,
    where ``reset`` is the time until the whole limit is available again.
    """

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        clock: Callable[[], float],
        model: str = "bucket",
    ) -> None:
        if model not in LIMITERS:
            raise ValueError(f"unknown limiter {model!r}: choose one of {', '.join(LIMITERS)}")
        self.clock = clock
        self.model = model
        now = clock()
        self.requests = self._make(rpm, now)
        self.tokens = self._make(tpm, now)
        self._lock = threading.Lock()

    def _make(self, limit: int | None, now: float) -> _Limit | None:
        if not limit:
            return None
        return _Bucket(limit, now) if self.model == "bucket" else _Window(limit)

    @property
    def enabled(self) -> bool:
        """True when any limit is set."""
        return self.requests is not None or self.tokens is not None

    def acquire(self, tokens: int) -> dict[str, str]:
        """Count one request of ``tokens`` tokens; returns the headers, or raises a 429 ApiError."""
        with self._lock:
            now = self.clock()
            for limit, kind, amount in (
                (self.requests, "requests", 1),
                (self.tokens, "tokens", tokens),
            ):
                if limit is None:
                    continue
                wait = limit.wait_for(now, amount)
                if wait > 0:
                    headers = self._headers(now, nominal=True)
                    headers["retry-after-ms"] = str(max(1, round(wait * 1000)))
                    headers["retry-after"] = str(max(1, round(wait + 0.499)))
                    raise ApiError(
                        429,
                        f"Rate limit reached for {kind} per min (RPM/TPM): Limit {limit.limit}, "
                        f"Used {limit.used}, Requested {amount}. "
                        f"Please try again in {fmt_duration(wait)}.",
                        type=kind,
                        code="rate_limit_exceeded",
                        headers=headers,
                    )
            if self.requests is not None:
                self.requests.add(now, 1)
            if self.tokens is not None and tokens:
                self.tokens.add(now, tokens)
            return self._headers(now, nominal=True)

    def headers(self) -> dict[str, str]:
        """The six ``x-ratelimit-*`` headers as things stand (nominal ones for an unset limit)."""
        with self._lock:
            return self._headers(self.clock(), nominal=True)

    def _headers(self, now: float, nominal: bool = False) -> dict[str, str]:
        headers: dict[str, str] = {}
        for limit, kind in ((self.requests, "requests"), (self.tokens, "tokens")):
            if limit is None:
                if nominal:
                    headers[f"x-ratelimit-limit-{kind}"] = str(NOMINAL[kind])
                    headers[f"x-ratelimit-remaining-{kind}"] = str(NOMINAL[kind])
                    headers[f"x-ratelimit-reset-{kind}"] = "0s"
                continue
            headers[f"x-ratelimit-limit-{kind}"] = str(limit.limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(limit.remaining(now))
            headers[f"x-ratelimit-reset-{kind}"] = fmt_duration(limit.reset_in(now))
        return headers


class RandomFaults:
    """Seeded random 500/503 answers at ``rate`` (0..1)."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def pick(self) -> Fault | None:
        """A 500 or 503 fault with probability ``rate``."""
        if self.rate <= 0:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            return Fault(self._rng.choice(("500", "503")))
