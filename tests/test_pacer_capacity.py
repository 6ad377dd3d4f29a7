"""The pacer against the service's real limiters, on a simulated clock.

Each case runs the pacer and :class:`openai_ft.local.faults.RateLimiter` (bucket or window) in a
small discrete-event simulation: workers ask the pacer for a slot, a request reaches the limiter
half a latency after it is sent and its answer (with the limiter's headers, or a 429) arrives a
latency after. Nothing sleeps; the figures are exact for the model.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

import pytest

from openai_ft.evaluate.pacing import Pacer, Ticket, parse_duration, retry_after
from openai_ft.local.faults import RateLimiter
from openai_ft.local.http.core import ApiError


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Sim:
    """``n`` requests through ``workers`` concurrent workers, a pacer and one limiter."""

    limiter: RateLimiter
    pacer: Pacer
    clock: Clock
    latency: float = 0.05
    headers: bool = True
    other_every: float | None = None  # another client of the key sends one request this often
    jitter: bool = False  # each leg of a request takes 0.25-1.25 x latency/2 (seeded)
    answered: int = 0
    throttled: int = 0
    other_sent: int = 0
    other_throttled: int = 0
    events: list[tuple[float, int, str, object]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _rng: random.Random = field(default_factory=lambda: random.Random(7))

    def leg(self) -> float:
        """Half a round trip."""
        scale = 0.25 + self._rng.random() if self.jitter else 1.0
        return self.latency / 2 * scale

    def at(self, t: float, what: str, data: object = None) -> None:
        heapq.heappush(self.events, (t, next(self._order), what, data))

    def run(self, n: int, workers: int, tokens: int = 0) -> float:
        start = self.clock.t
        todo = [n]
        for _ in range(min(workers, n)):
            self.at(start, "ask")
        if self.other_every:
            self.at(start, "other")
        while self.answered < n:
            t, _, what, data = heapq.heappop(self.events)
            assert t - start < 3600, "the simulation ran for an hour"
            self.clock.t = t
            if what == "ask":
                wait, ticket = self.pacer.reserve(tokens)
                if ticket is None:
                    self.at(t + wait, "ask")
                else:
                    self.at(t + self.leg(), "arrive", ticket)
            elif what == "arrive":
                assert isinstance(data, Ticket)
                try:
                    got = self.limiter.acquire(data.amounts[1])
                    self.at(t + self.leg(), "ok", (data, got))
                except ApiError as exc:
                    self.at(t + self.leg(), "429", (data, exc.headers))
            elif what == "ok":
                ticket, headers = data  # type: ignore[misc]
                self.pacer.observe(headers if self.headers else {}, ticket)
                self.answered += 1
                todo[0] -= 1
                if todo[0] >= workers:
                    self.at(t, "ask")
            elif what == "429":
                ticket, headers = data  # type: ignore[misc]
                self.throttled += 1
                wait = self.pacer.throttle(headers if self.headers else {}, 1, ticket)
                self.at(t + wait, "ask")
            elif what == "other":
                assert self.other_every is not None
                try:
                    self.limiter.acquire(0)
                    self.other_sent += 1
                except ApiError:
                    self.other_throttled += 1
                self.at(t + self.other_every, "other")
        return self.clock.t - start


def _sim(model: str, rpm: int = 600, **kw: object) -> Sim:
    clock = Clock()
    limiter = RateLimiter(rpm, None, clock, model)
    pacer_kw = {k[6:]: kw.pop(k) for k in ("pacer_rpm", "pacer_tpm") if k in kw}
    return Sim(limiter, Pacer(clock=clock, **pacer_kw), clock, **kw)  # type: ignore[arg-type]


def test_parse_duration_and_retry_after() -> None:
    assert parse_duration("1m2.5s") == pytest.approx(62.5)
    assert parse_duration("6m0s") == 360.0 and parse_duration("1h2m") == 3720.0
    assert parse_duration("20ms") == pytest.approx(0.02)
    assert parse_duration("6s") == 6.0 and parse_duration("3") == 3.0
    assert parse_duration(None) is None and parse_duration("soon") is None
    assert retry_after({"Retry-After-Ms": "250", "retry-after": "9"}, 1) == pytest.approx(0.25)
    assert retry_after({"retry-after": "2"}, 1) == 2.0
    assert retry_after({}, 3) == pytest.approx(4.0)  # 0.5 * 2**3


@pytest.mark.parametrize("jitter", [False, True])
def test_bucket_burst_then_refill_reaches_the_optimum(jitter: bool) -> None:
    """600 RPM, capacity full: 600 at once, then 10 a second: 900 take ~30 s, no 429."""
    sim = _sim("bucket", jitter=jitter)
    took = sim.run(900, workers=32)
    assert sim.throttled <= 9  # at most 1% of requests
    assert 30.0 <= took <= 30.0 * 1.05, took


@pytest.mark.parametrize("jitter", [False, True])
def test_window_burst_then_waits_for_the_window(jitter: bool) -> None:
    """The same limit as a sliding window: 600 at once, the rest as the first ones expire."""
    sim = _sim("window", jitter=jitter)
    took = sim.run(900, workers=32)
    assert sim.throttled <= 9  # at most 1% of requests
    assert 60.0 <= took <= 61.0 * 1.05, took


@pytest.mark.parametrize("jitter", [False, True])
def test_a_second_client_on_the_key_slows_us_down_without_failures(jitter: bool) -> None:
    """Another client spends half the budget (5 a second): we adapt to the other half."""
    sim = _sim("bucket", other_every=0.2, jitter=jitter)
    took = sim.run(900, workers=32)
    assert sim.answered == 900  # nothing lost: 429s were waited out and retried
    assert sim.throttled <= 27, sim.throttled  # 3%
    # 600 - what the other spent during the burst, then about 5 a second for us.
    assert took < 90, took
    assert sim.pacer._budgets["requests"].others == pytest.approx(5.0, abs=1.5)


def test_no_headers_falls_back_to_rpm() -> None:
    sim = _sim("window", headers=False, pacer_rpm=600)
    took = sim.run(300, workers=32)
    assert sim.throttled == 0
    achieved = 300 / took * 60
    assert 0.95 * 600 <= achieved <= 600, achieved


def test_rpm_given_caps_the_pace_even_with_headers() -> None:
    """--rpm is the user's own cap (room for other traffic on the key): the service's headers
    say 600 are there at once, yet 100 requests at --rpm 120 take about 50 s, evenly."""
    sim = _sim("bucket", pacer_rpm=120)
    took = sim.run(100, workers=32)
    assert sim.throttled == 0
    achieved = 100 / took * 60
    assert 0.95 * 120 <= achieved <= 120, achieved


def test_tpm_counts_tokens() -> None:
    clock = Clock()
    limiter = RateLimiter(None, 6000, clock, "bucket")
    sim = Sim(limiter, Pacer(clock=clock), clock)
    took = sim.run(30, workers=8, tokens=600)  # 10 fit at once, then one every 6 s
    assert sim.throttled == 0
    assert 120.0 <= took <= 126.0, took


def test_rpm_pacing_on_a_manual_clock() -> None:
    clock = Clock()
    pacer = Pacer(rpm=60, clock=clock)
    sends = []
    while len(sends) < 61:
        wait, ticket = pacer.reserve()
        if ticket is None:
            clock.t += wait
            continue
        sends.append(clock.t)
        pacer.observe({}, ticket)
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(sends)}
    assert gaps == {round(60 / (60 * 0.97), 6)}
    assert sends[-1] - sends[0] > 60  # never 61 requests inside one minute


def test_in_flight_requests_are_not_spent_twice() -> None:
    """remaining 3 with 2 requests in flight: one more may go, then we wait for the refill."""
    clock = Clock()
    pacer = Pacer(clock=clock)
    first = pacer.reserve()[1]
    assert first is not None
    head = {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "3"}
    pacer.observe({**head, "x-ratelimit-reset-requests": "57s"}, first)  # a bucket: 57 s = 57 x 1/s
    assert pacer.reserve()[1] is not None and pacer.reserve()[1] is not None
    assert pacer.reserve()[1] is not None
    wait, ticket = pacer.reserve()
    assert ticket is None and wait == pytest.approx(1.0)  # the bucket refills one a second


def test_window_reset_is_not_taken_for_a_refill() -> None:
    """On a window, reset (until empty) is far longer than a bucket's: no linear refill."""
    clock = Clock()
    pacer = Pacer(clock=clock)
    first = pacer.reserve()[1]
    head = {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0"}
    pacer.observe({**head, "x-ratelimit-reset-requests": "1m0s"}, first)
    # limit 60, remaining 0, reset 60 s fits a bucket too; one spent a second ago says window:
    assert pacer._budgets["requests"].stepwise is False
    pacer.observe(
        {**head, "x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "59s"}
    )
    assert pacer._budgets["requests"].stepwise is True


def test_429_pauses_everyone_then_one_request_probes() -> None:
    clock = Clock()
    pacer = Pacer(clock=clock)
    ticket = pacer.reserve()[1]
    assert ticket is not None
    head = {"x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "0"}
    wait = pacer.throttle({**head, "retry-after-ms": "1500"}, 1, ticket)
    assert wait == pytest.approx(1.5) and pacer.throttled == 1
    assert pacer.reserve() == (pytest.approx(1.0), None)  # waits are re-asked at least each second
    clock.t += 1.5
    assert pacer.reserve()[1] is not None  # the probe
    assert pacer.reserve()[1] is None  # the rest wait for its answer or the refill
