"""Chat completions, files, models, rate limits and faults through the SDK (sync and async)."""

from __future__ import annotations

import asyncio
import json

import httpx2
import openai
import pytest

from openai_ft.local import FaultRule, LocalService

from .conftest import AsyncSpecChecked, FakeClock, SpecChecked, make_client

MSG = [{"role": "user", "content": "Say something in json please"}]


def test_chat_basic_usage_n_and_seed(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o-mini", messages=MSG, n=3, seed=1)
    assert len(r.choices) == 3 and r.object == "chat.completion"
    assert r.usage is not None and r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    again = client.chat.completions.create(model="gpt-4o-mini", messages=MSG, n=3, seed=1)
    assert [c.message.content for c in r.choices] == [c.message.content for c in again.choices]


def test_max_tokens_stop_and_logprobs(client: openai.OpenAI) -> None:
    full = (
        client.chat.completions.create(model="gpt-4o-mini", messages=MSG, temperature=0)
        .choices[0]
        .message.content
    )
    assert full and len(full.split()) > 2
    cut = client.chat.completions.create(
        model="gpt-4o-mini", messages=MSG, temperature=0, max_completion_tokens=2
    )
    assert (
        cut.choices[0].finish_reason == "length"
        and cut.usage is not None
        and cut.usage.completion_tokens == 2
    )
    assert full.startswith(cut.choices[0].message.content or "")
    word = full.split()[1]
    stopped = client.chat.completions.create(
        model="gpt-4o-mini", messages=MSG, temperature=0, stop=[word]
    )
    assert stopped.choices[0].message.content == full[: full.find(word)]
    lp = client.chat.completions.create(
        model="gpt-4o-mini", messages=MSG, temperature=0, logprobs=True, top_logprobs=2
    )
    content = lp.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content and all(c.logprob <= 0 for c in content)
    assert "".join(c.token for c in content) == lp.choices[0].message.content


def test_response_format_and_tools(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="gpt-4o-mini", messages=MSG, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["a", "b"]}, "n": {"type": "integer"}},
        "required": ["label", "n"],
        "additionalProperties": False,
    }
    r = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MSG,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": schema, "strict": True},
        },
    )
    assert json.loads(r.choices[0].message.content or "") == {"label": "a", "n": 0}
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_object"},
        )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}},
                    "required": ["q"],
                },
            },
        }
    ]
    r = client.chat.completions.create(
        model="gpt-4o-mini", messages=MSG, tools=tools, tool_choice="required"
    )  # type: ignore[arg-type]
    call = r.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "lookup"  # type: ignore[union-attr]
    assert set(json.loads(call.function.arguments)) == {"q"}  # type: ignore[union-attr]


def test_streaming_with_usage(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="gpt-4o-mini", messages=MSG, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MSG,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert (
        chunks[-1].usage is not None
        and chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    )  # type: ignore[union-attr]


def test_chat_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="ft:gpt-4o-mini-2024-07-18:local::nope", messages=MSG)
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="gpt-4o-mini", messages=MSG, temperature=5)
    assert exc.value.body["param"] == "temperature"  # type: ignore[index]


def test_files_pagination_and_limits(home, clock) -> None:  # type: ignore[no-untyped-def]
    svc = LocalService(home, autostart=False, clock=clock, max_file_bytes=100)
    client = make_client(svc)
    ids = [
        client.files.create(file=(f"f{i}.jsonl", b"x" * i), purpose="batch").id for i in range(5)
    ]
    first = client.files.list(limit=2)
    assert first.has_more and [f.id for f in first.data] == ids[::-1][:2]
    assert [f.id for f in client.files.list(limit=2)] == ids[::-1]
    assert [f.id for f in client.files.list(limit=2, order="asc")] == ids
    assert client.files.retrieve(ids[3]).bytes == 3
    with pytest.raises(openai.APIStatusError) as exc:
        client.files.create(file=("big.jsonl", b"x" * 101), purpose="fine-tune")
    assert exc.value.status_code == 413
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("a.jsonl", b"x"), purpose="nonsense")  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.files.delete("file-unknown")
    with pytest.raises(openai.PermissionDeniedError):
        client.models.delete("gpt-4o-mini")
    svc.close()


def test_api_key_required(home) -> None:  # type: ignore[no-untyped-def]
    svc = LocalService(home, autostart=False, api_key="secret-key")
    with pytest.raises(openai.AuthenticationError) as exc:
        make_client(svc).models.list()
    assert exc.value.code == "invalid_api_key"
    ok = openai.OpenAI(
        api_key="secret-key",
        base_url="http://x/v1",
        http_client=httpx2.Client(transport=SpecChecked(svc.transport())),
    )
    assert ok.models.retrieve("gpt-4.1-mini").id == "gpt-4.1-mini"
    svc.close()


def test_rate_limits_headers_and_429(home, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    svc = LocalService(home, autostart=False, clock=clock, rpm=3, tpm=100_000, limiter="window")
    client = make_client(svc)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MSG, max_completion_tokens=10
    )
    assert raw.headers["x-ratelimit-limit-requests"] == "3"
    assert raw.headers["x-ratelimit-remaining-requests"] == "2"
    assert raw.headers["x-ratelimit-reset-requests"] == "1m0s"
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 100_000
    assert raw.headers["x-request-id"].startswith("req_") and "openai-processing-ms" in raw.headers
    client.models.list()
    clock.advance(20)
    client.models.list()
    with pytest.raises(openai.RateLimitError) as exc:
        client.models.list()
    assert exc.value.code == "rate_limit_exceeded"
    assert exc.value.response.headers["retry-after-ms"] == "40000"
    clock.advance(40)
    client.models.list()  # the first request left the window
    big = LocalService(home, autostart=False, clock=clock, tpm=50)
    with pytest.raises(openai.RateLimitError) as exc:
        make_client(big).chat.completions.create(
            model="gpt-4o-mini", messages=MSG, max_completion_tokens=100
        )
    assert exc.value.body["type"] == "tokens"  # type: ignore[index]
    svc.close()
    big.close()


def test_fault_script(home) -> None:  # type: ignore[no-untyped-def]
    slept: list[float] = []
    svc = LocalService(
        home,
        autostart=False,
        latency_ms=5,
        sleep=slept.append,
        faults=[
            FaultRule("503", r"/v1/files$", method="POST", nth=3),
            FaultRule("drop", r"/events$", method="GET", times=2),
            FaultRule("slow", r"/v1/models$", delay_ms=1500, times=1),
            FaultRule("500", r"/v1/models/gpt-4o$", every=2),
        ],
    )
    client = make_client(svc)
    client.files.create(file=("a", b"1"), purpose="batch")
    client.files.create(file=("a", b"1"), purpose="batch")
    with pytest.raises(openai.InternalServerError) as exc:
        client.files.create(file=("a", b"1"), purpose="batch")
    assert exc.value.status_code == 503
    client.files.create(file=("a", b"1"), purpose="batch")
    for _ in range(2):
        with pytest.raises(openai.APIConnectionError):
            client.fine_tuning.jobs.list_events("ftjob-x")
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.list_events("ftjob-x")
    slept.clear()
    client.models.list()
    assert slept == [pytest.approx(1.505)]
    client.models.retrieve("gpt-4o")
    with pytest.raises(openai.InternalServerError):
        client.models.retrieve("gpt-4o")
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    svc.close()


def test_fail_rate_is_seeded(home) -> None:  # type: ignore[no-untyped-def]
    def statuses(seed: int) -> list[int]:
        svc = LocalService(home, autostart=False, fail_rate=0.5, seed=seed)
        http = httpx2.Client(transport=SpecChecked(svc.transport()))
        out = [http.get("http://x/v1/models").status_code for _ in range(20)]
        svc.close()
        return out

    first = statuses(3)
    assert first == statuses(3)
    assert set(first) >= {200} and set(first) & {500, 503}


async def test_async_client_concurrency_and_latency_not_blocking(home) -> None:  # type: ignore[no-untyped-def]
    svc = LocalService(home, autostart=False, latency_ms=50)
    client = openai.AsyncOpenAI(
        api_key="local",
        base_url="http://x/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=AsyncSpecChecked(svc.async_transport())),
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    results = await asyncio.gather(
        *[client.chat.completions.create(model="gpt-4o-mini", messages=MSG) for _ in range(20)]
    )
    elapsed = loop.time() - start
    assert len(results) == 20 and all(r.choices for r in results)
    assert elapsed < 20 * 0.05 / 2  # latencies overlap: the event loop was not blocked
    f = await client.files.create(file=("a.jsonl", b"abc"), purpose="batch")
    assert (await client.files.content(f.id)).content == b"abc"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("ft:gpt-4o:local::missing")
    svc.close()
