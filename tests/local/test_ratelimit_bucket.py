"""The local service's rate limits: OpenAI's token bucket (default) and the sliding window, their
headers in OpenAI's format on every response, and tokens counted as OpenAI counts them."""

from __future__ import annotations

from pathlib import Path

import httpx2
import openai
import pytest

from openai_ft.local import LocalService
from openai_ft.local.faults import RateLimiter
from openai_ft.local.http.core import ApiError, fmt_duration
from openai_ft.testing import ManualClock

MSG = [{"role": "user", "content": "hello there"}]


def test_durations_in_openais_format() -> None:
    cases = {0: "0s", 0.02: "20ms", 0.9994: "999ms", 1: "1s", 6.5: "6.5s", 59.9996: "1m0s"}
    cases |= {90.5: "1m30.5s", 360: "6m0s", 61.25: "1m1.25s", 3600: "60m0s"}
    assert {k: fmt_duration(k) for k in cases} == cases


def test_bucket_starts_full_and_refills_continuously() -> None:
    clock = ManualClock()
    limiter = RateLimiter(60, None, clock)  # one a second
    for i in range(60):
        headers = limiter.acquire(0)
        assert headers["x-ratelimit-remaining-requests"] == str(59 - i)
    assert headers["x-ratelimit-reset-requests"] == "1m0s"  # until full again
    with pytest.raises(ApiError) as exc:
        limiter.acquire(0)
    assert exc.value.status == 429
    assert exc.value.headers["retry-after-ms"] == "1000"
    assert exc.value.headers["x-ratelimit-remaining-requests"] == "0"
    assert exc.value.headers["x-ratelimit-limit-tokens"] == "150000000"  # all six, even on a 429
    clock.advance(2.5)
    headers = limiter.headers()
    assert headers["x-ratelimit-remaining-requests"] == "2"  # 2.5 refilled, whole ones reported
    assert headers["x-ratelimit-reset-requests"] == "57.5s"
    limiter.acquire(0)
    limiter.acquire(0)
    with pytest.raises(ApiError) as exc:
        limiter.acquire(0)
    assert exc.value.headers["retry-after-ms"] == "500"  # the half left over plus half a second
    clock.advance(600)
    assert limiter.headers()["x-ratelimit-remaining-requests"] == "60"  # full, never over
    assert limiter.headers()["x-ratelimit-reset-requests"] == "0s"


def test_window_keeps_what_was_spent_for_a_minute() -> None:
    clock = ManualClock()
    limiter = RateLimiter(2, None, clock, "window")
    limiter.acquire(0)
    clock.advance(20)
    assert limiter.acquire(0)["x-ratelimit-reset-requests"] == "1m0s"  # until the window is empty
    with pytest.raises(ApiError) as exc:
        limiter.acquire(0)
    assert exc.value.headers["retry-after-ms"] == "40000"  # the first leaves the window then
    clock.advance(40)
    headers = limiter.acquire(0)
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "1m0s"
    with pytest.raises(ValueError, match="unknown limiter 'leaky'"):
        RateLimiter(1, None, clock, "leaky")


def test_tokens_are_prompt_plus_max_completion_times_n(home: Path) -> None:
    clock = ManualClock()
    svc = LocalService(home, autostart=False, clock=clock, tpm=10_000)
    client = openai.OpenAI(
        api_key="k", base_url="http://x/v1", http_client=httpx2.Client(transport=svc.transport())
    )
    try:

        def spent(**kw: object) -> int:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=MSG, **kw
            )
            before = int(raw.headers["x-ratelimit-limit-tokens"])
            clock.advance(600)  # refill, so each call is measured from full
            return before - int(raw.headers["x-ratelimit-remaining-tokens"])

        prompt = spent(max_tokens=1) - 1
        assert 5 <= prompt <= 20  # a short user message, with the per-message overhead
        assert spent(max_tokens=100) == prompt + 100
        assert spent(max_completion_tokens=40) == prompt + 40
        assert spent(max_completion_tokens=40, n=3) == prompt + 120
        assert spent() == prompt + 256  # nothing asked: the service's default completion cap
        raw = client.models.with_raw_response.list()
        assert raw.headers["x-ratelimit-remaining-tokens"] == "10000"  # not a chat: no tokens
        with pytest.raises(openai.RateLimitError) as exc:
            client.with_options(max_retries=0).chat.completions.create(
                model="gpt-4o-mini", messages=MSG, max_tokens=20_000
            )
        assert exc.value.body["type"] == "tokens"  # type: ignore[index]
    finally:
        svc.close()


@pytest.mark.parametrize("limiter", ["bucket", "window"])
def test_every_response_carries_the_headers(home: Path, limiter: str) -> None:
    svc = LocalService(home, autostart=False, rpm=2, limiter=limiter)
    http = httpx2.Client(transport=svc.transport(), base_url="http://x")
    try:
        answers = [
            http.get("/v1/models"),
            http.post("/v1/chat/completions", content=b"{not json"),  # 400 after it was counted
            http.get("/v1/models"),  # 429
            http.get("/v1/nothing"),  # 404
        ]
        assert [r.status_code for r in answers] == [200, 400, 429, 404]
        for r in answers:
            for part in ("limit", "remaining", "reset"):
                for kind in ("requests", "tokens"):
                    assert f"x-ratelimit-{part}-{kind}" in r.headers, (r.status_code, part, kind)
            assert r.headers["x-request-id"].startswith("req_")
        assert "retry-after" in answers[2].headers and "retry-after-ms" in answers[2].headers
        assert answers[2].json()["error"]["code"] == "rate_limit_exceeded"
    finally:
        svc.close()
