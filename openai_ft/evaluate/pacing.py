"""Client-side pacing: spend the rate limit the service says is there, then follow its refill;
``--rpm``/``--tpm``, when given, cap the pace as well (the only limit when the service sends no
``x-ratelimit-*`` headers); back off on 429 by ``retry-after-ms``/``retry-after``. Pure logic over an injected clock.

Each request asks :meth:`Pacer.reserve` for a slot: either a :class:`Ticket` (send now) or the
seconds to wait before asking again. What may be spent is the last ``remaining`` the service
reported, plus what came back since, minus what we sent that the report could not include yet
(the requests in flight). What comes back depends on the service's limiter, told apart from the
headers alone:

- a token bucket (OpenAI's): ``reset`` is the time until full, and the deficit refills linearly,
  so ``reset`` = (limit - remaining) / (limit per second). Capacity returns continuously at the
  limit per minute, less what other clients of the same key are seen to spend.
- a sliding window: ``reset`` (until the window is empty) is longer than that. Capacity returns
  when what was spent a minute ago leaves the window: for our own requests we know when (a
  minute after each answer at the latest); all of it is back once ``reset`` has passed.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

SAFETY = 0.97  # --rpm/--tpm pacing at 97% of the limit: jitter cannot cause a 429
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
MINUTE = 60.0
MAX_WAIT = 1.0  # re-ask at least this often: a newer report may show capacity sooner
STALL_WAIT = 0.05  # nothing computable (all spent by requests in flight): ask again soon
OTHERS_SPAN = 2.0  # seconds between the reports compared to see other clients' spending
KINDS = ("requests", "tokens")

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


@dataclass(frozen=True)
class Ticket:
    """One request let through: its place in the send order and what it spends."""

    seq: int
    sent: float
    amounts: tuple[int, int]  # (requests, tokens)


@dataclass
class _Budget:
    """One budget (requests or tokens) as the service last reported it."""

    limit: float | None = None  # None: the service has not reported this budget
    remaining: float = 0.0
    at: float = 0.0  # when the report arrived
    seq: int = -1  # the ticket whose answer carried it
    sent: float = 0.0  # when the request whose answer carried it was sent
    reset: float = 0.0
    stepwise: bool = False  # a window: capacity comes back in steps, not continuously
    others: float = 0.0  # what other clients of the key spend per second (bucket only)
    anchor: tuple[float, float, int] | None = None  # (at, remaining, seq) for ``others``
    back: deque[tuple[float, int]] = field(default_factory=deque)  # our spends, back by when

    def credit(self, t: float) -> float:
        """What came back between the report and ``t``."""
        if self.limit is None:
            return 0.0
        room = self.limit - self.remaining
        if not self.stepwise:
            rate = max(0.0, self.limit / MINUTE - self.others)
            return min(room, rate * max(0.0, t - self.at))
        if t >= self.at + self.reset:
            return room
        return float(sum(n for e, n in self.back if self.at < e <= t))

    def when(self, need: float) -> float | None:
        """The earliest time ``credit`` reaches ``need`` (None: not from what we know)."""
        assert self.limit is not None
        if need <= 0:
            return self.at
        room = self.limit - self.remaining
        if need > room:
            return None
        if not self.stepwise:
            rate = self.limit / MINUTE - self.others
            return self.at + need / rate if rate > 0 else None
        got = 0.0
        for e, n in self.back:
            if e > self.at:
                got += n
                if got >= need:
                    return min(e, self.at + self.reset)
        return self.at + self.reset


@dataclass
class Pacer:
    """Decides when each request may be sent. Not thread-safe: use from one event loop."""

    rpm: float | None = None
    tpm: float | None = None
    clock: Callable[[], float] = time.monotonic
    safety: float = SAFETY
    throttled: int = 0  # 429s seen
    _seq: int = 0
    _open: dict[int, Ticket] = field(default_factory=dict)  # sent, not answered yet
    # Answered and counted, newest last: (when, ticket). One answered after a report's request
    # was sent may have been counted after that report was made.
    _answered: deque[tuple[float, Ticket]] = field(default_factory=deque)
    _sent: deque[Ticket] = field(default_factory=deque)  # the last minutes' tickets
    _refused: set[int] = field(default_factory=set)  # those of them answered 429 (not counted)
    _next: list[float] = field(default_factory=lambda: [0.0, 0.0])  # --rpm/--tpm slots
    _paused_until: float = 0.0
    _probe: bool = False  # after a 429's pause: one request may test the water
    _budgets: dict[str, _Budget] = field(default_factory=lambda: {k: _Budget() for k in KINDS})

    def reserve(self, tokens: int = 0) -> tuple[float, Ticket | None]:
        """A ticket to send a request of ``tokens`` tokens now, or the seconds to wait and ask again."""
        now = self.clock()
        amounts = (1, tokens)
        start = max(now, self._paused_until)
        if self._probe and now >= self._paused_until:
            self._probe = False  # the 429 said when the request fits: try one then
        else:
            for i, kind in enumerate(KINDS):
                start = max(start, self._gate(i, kind, amounts[i], now))
        if start > now:
            return min(start - now, MAX_WAIT), None
        for i, limit in enumerate((self.rpm, self.tpm)):
            if limit and amounts[i]:
                step = MINUTE * amounts[i] / (limit * self.safety)
                # Woken a little late: keep the cadence. Idle for a while: start afresh.
                slot = self._next[i] if self._next[i] > now - step else now
                self._next[i] = slot + step
        self._seq += 1
        ticket = Ticket(self._seq, now, amounts)
        self._open[ticket.seq] = ticket
        self._sent.append(ticket)
        while self._sent and self._sent[0].sent < now - 2 * MINUTE:
            self._refused.discard(self._sent.popleft().seq)
        return 0.0, ticket

    def _gate(self, i: int, kind: str, amount: int, now: float) -> float:
        """When budget ``kind`` has room for ``amount`` more (``now`` if it has)."""
        if amount == 0:
            return now
        b = self._budgets[kind]
        # --rpm/--tpm, when given, are a cap the user chose (say, to leave room for production
        # traffic on the same key): paced evenly, with or without headers.
        capped = max(now, self._next[i]) if (self.rpm, self.tpm)[i] else now
        if b.limit is None:  # no headers: the cap alone
            return capped
        return max(capped, self._headroom(i, b, amount, now))

    def _headroom(self, i: int, b: _Budget, amount: int, now: float) -> float:
        """When the service's budget ``b`` (from the headers) has room for ``amount`` more."""
        pending = sum(t.amounts[i] for t in self._open.values())
        if self._open:  # with nothing in flight, one request may go: its answer is a fresh report
            pending += sum(
                t.amounts[i] for when, t in self._answered if when > b.sent and t.seq != b.seq
            )
        need = amount + pending - b.remaining
        if need <= b.credit(now):
            return now
        when = b.when(need)
        return now + STALL_WAIT if when is None else max(when, now + 0.001)

    def observe(self, headers: Mapping[str, str], ticket: Ticket | None = None) -> None:
        """Learn the budgets from the headers of the answer to ``ticket`` (a 2xx or an error)."""
        self._report(headers, ticket, counted=True)

    def _report(self, headers: Mapping[str, str], ticket: Ticket | None, counted: bool) -> None:
        now = self.clock()
        lower = {k.lower(): v for k, v in headers.items()}
        seq = ticket.seq if ticket is not None else self._seq
        if ticket is not None:
            self._open.pop(ticket.seq, None)
            if counted:
                self._answered.append((now, ticket))
        for i, kind in enumerate(KINDS):
            try:
                limit = float(lower[f"x-ratelimit-limit-{kind}"])
                remaining = float(lower[f"x-ratelimit-remaining-{kind}"])
            except (KeyError, ValueError):
                continue
            b = self._budgets[kind]
            if ticket is not None and counted and ticket.amounts[i]:
                b.back.append((now + MINUTE, ticket.amounts[i]))  # out of a window by then
            while b.back and b.back[0][0] < now - MINUTE:
                b.back.popleft()
            if seq < b.seq or limit <= 0:
                continue  # an older report than the one we hold
            reset = parse_duration(lower.get(f"x-ratelimit-reset-{kind}")) or 0.0
            linear = (limit - remaining) * MINUTE / limit
            b.limit, b.remaining, b.at, b.seq, b.reset = limit, remaining, now, seq, reset
            b.sent = ticket.sent if ticket is not None else now
            # A bucket's reset is its deficit at the refill rate, never more (remaining is rounded
            # down); a window's is longer, except when it is full and was filled at one instant,
            # where the two look alike. So once a window, always a window.
            b.stepwise = b.stepwise or reset > linear * 1.1 + 1.0
            self._others(i, b)
        self._prune()

    def _prune(self) -> None:
        """Forget answers older than every report's request: those reports include them."""
        known = [b.sent for b in self._budgets.values() if b.limit is not None]
        if not known:
            self._answered.clear()  # no headers: nothing to reconcile with
        while self._answered and self._answered[0][0] < min(known, default=0.0):
            self._answered.popleft()

    def _others(self, i: int, b: _Budget) -> None:
        """Estimate what other clients spend: the budget falling faster than we spend it."""
        assert b.limit is not None
        if b.anchor is None or b.stepwise:
            b.anchor = (b.at, b.remaining, b.seq)
            return
        at0, rem0, seq0 = b.anchor
        span = b.at - at0
        if span < OTHERS_SPAN:
            return
        b.anchor = (b.at, b.remaining, b.seq)
        expected = rem0 + span * b.limit / MINUTE
        if expected >= b.limit:
            return  # the bucket may have been full meanwhile: refill unknown, keep the estimate
        ours = sum(
            t.amounts[i] for t in self._sent if seq0 < t.seq <= b.seq and t.seq not in self._refused
        )
        seen = max(0.0, (expected - ours - b.remaining) / span)
        b.others = seen if b.others == 0 else 0.5 * b.others + 0.5 * seen

    def throttle(
        self, headers: Mapping[str, str], attempt: int, ticket: Ticket | None = None
    ) -> float:
        """Record a 429 (not counted by the service): pause every request until its retry-after.

        Returns the wait. After it, one request goes regardless of our estimate: the retry-after
        said it would fit then, and its answer brings a fresh report.
        """
        self.throttled += 1
        if ticket is not None:
            self._refused.add(ticket.seq)
            self._report(headers, ticket, counted=False)
        wait = retry_after(headers, attempt)
        self._paused_until = max(self._paused_until, self.clock() + wait)
        self._probe = True
        return wait
