"""local_openai(): the real SDK against a fresh in-process service, and the helpers tests use."""

from __future__ import annotations

from pathlib import Path

import httpx2
import openai
import pytest

from openai_ft.testing import FaultRule, LocalOpenAI, ManualClock, fault_rule, local_openai

from .data import MODEL, training_jsonl


def _create_job(local: LocalOpenAI, client: openai.OpenAI | None = None) -> str:
    client = client or local.client
    upload = client.files.create(file=("train.jsonl", training_jsonl()), purpose="fine-tune")
    return client.fine_tuning.jobs.create(model=MODEL, training_file=upload.id).id


def test_a_job_finishes_on_its_first_poll_and_its_model_answers() -> None:
    with local_openai() as local:
        job_id = _create_job(local)
        job = local.client.fine_tuning.jobs.retrieve(job_id)
        assert job.status == "succeeded"
        assert job.fine_tuned_model
        reply = local.client.chat.completions.create(
            model=job.fine_tuned_model, messages=[{"role": "user", "content": "ticket 3: refund"}]
        )
        assert reply.choices[0].message.content in ("billing", "refund", "login")


def test_with_steps_per_poll_zero_only_finish_jobs_moves_a_job() -> None:
    with local_openai(steps_per_poll=0) as local:
        job_id = _create_job(local)
        assert local.client.fine_tuning.jobs.retrieve(job_id).status == "validating_files"
        local.run_jobs(max_steps=1)
        assert local.client.fine_tuning.jobs.retrieve(job_id).status == "running"
        jobs = local.finish_jobs()
        assert [j["status"] for j in jobs] == ["succeeded"]
        assert not [k for k in jobs[0] if k.startswith("x_")]  # as the API shows it
        assert local.client.fine_tuning.jobs.retrieve(job_id).status == "succeeded"


def test_steps_per_poll_lets_the_code_see_a_running_job() -> None:
    with local_openai(steps_per_poll=1) as local:
        job_id = _create_job(local)
        seen = []
        for _ in range(500):
            job = local.client.fine_tuning.jobs.retrieve(job_id)
            seen.append(job.status)
            if job.status == "succeeded":
                break
        assert "running" in seen and seen[-1] == "succeeded"


def test_fail_next_job_fails_only_the_next_job_with_the_chosen_code() -> None:
    with local_openai() as local:
        local.fail_next_job("invalid_training_file", "Training file has bad rows.")
        failed, ok = _create_job(local), _create_job(local)
        job = local.client.fine_tuning.jobs.retrieve(failed)
        assert job.status == "failed"
        assert job.error is not None
        assert (job.error.code, job.error.message) == (
            "invalid_training_file",
            "Training file has bad rows.",
        )
        events = local.client.fine_tuning.jobs.list_events(failed)
        assert any(e.level == "error" for e in events)
        assert local.client.fine_tuning.jobs.retrieve(ok).status == "succeeded"


def test_an_injected_429_is_retried_by_the_sdk_and_logged() -> None:
    with local_openai() as local:
        rule = local.inject("429", "/chat/completions$", times=1)
        assert isinstance(rule, FaultRule)
        local.client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        chats = local.requests_to("POST", "/chat/completions")
        assert [r.status for r in chats] == [429, 200]
        assert chats[0].body["messages"] == [{"role": "user", "content": "hi"}]
        assert chats[0].response["error"]["code"] == "rate_limit_exceeded"


def test_faults_given_as_options_use_the_fault_file_keys() -> None:
    faults = [{"kind": "503", "path": "/v1/models$", "method": "get", "nth": 1}]
    with local_openai(faults=faults) as local:
        with pytest.raises(openai.InternalServerError):
            local.make_client(max_retries=0).models.list()
        assert local.client.models.list().data
    with pytest.raises(ValueError, match="unknown fault key"):
        fault_rule({"kind": "503", "paht": "/v1/models"})


def test_a_dropped_connection_is_logged_without_a_status() -> None:
    with local_openai() as local:
        local.inject("drop", "/v1/models$", times=1)
        with pytest.raises(openai.APIConnectionError):
            local.make_client(max_retries=0).models.list()
        assert [(r.method, r.path, r.status) for r in local.requests] == [
            ("GET", "/v1/models", None)
        ]


def test_rate_limits_on_a_manual_clock() -> None:
    clock = ManualClock()
    with local_openai(clock=clock) as local:
        client = local.make_client(max_retries=0)
        local.set_rate_limits(rpm=1)
        client.models.list()
        with pytest.raises(openai.RateLimitError) as caught:
            client.models.list()
        assert caught.value.response.headers["x-ratelimit-limit-requests"] == "1"
        clock.advance(60)
        client.models.list()
        local.set_rate_limits()
        for _ in range(3):
            client.models.list()


def test_rpm_option_limits_from_the_start() -> None:
    with local_openai(rpm=2, clock=ManualClock()) as local:
        client = local.make_client(max_retries=0)
        client.models.list()
        client.models.list()
        with pytest.raises(openai.RateLimitError):
            client.models.list()


def test_canned_replies_plain_and_streamed_for_that_model_and_prompt_only() -> None:
    with local_openai() as local:
        local.reply("gpt-4o-mini", "Is the sky blue?", "Yes.")
        ask = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Is the sky blue?"},
        ]
        plain = local.client.chat.completions.create(model="gpt-4o-mini", messages=ask)
        assert plain.choices[0].message.content == "Yes."
        assert plain.choices[0].finish_reason == "stop"
        assert plain.usage is not None and plain.usage.completion_tokens == 2
        stream = local.client.chat.completions.create(
            model="gpt-4o-mini", messages=ask, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Yes."
        assert chunks[-1].usage is not None
        other = local.client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Is the sky blue?"}]
        )
        assert other.choices[0].message.content != "Yes."


def test_a_canned_reply_can_match_the_exact_messages() -> None:
    with local_openai() as local:
        messages = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
        local.reply("gpt-4o-mini", messages, "exact")
        got = local.client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        assert got.choices[0].message.content == "exact"
        last_only = local.client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "b"}]
        )
        assert last_only.choices[0].message.content != "exact"


def test_latency_and_slow_faults_are_recorded_not_waited_for() -> None:
    with local_openai(latency_ms=250) as local:
        local.inject("slow", "/v1/models$", delay_ms=30_000, times=1)
        local.client.models.list()
        assert local.slept == [pytest.approx(30.25)]


def test_state_folder_is_removed_on_exit_unless_home_is_given(tmp_path: Path) -> None:
    with local_openai() as local:
        folder = local.service.root
        assert folder.exists()
    assert not folder.exists()
    with local_openai(home=tmp_path) as local:
        _create_job(local)
    assert (tmp_path / "service").is_dir()


def test_two_handles_share_nothing() -> None:
    with local_openai() as first, local_openai() as second:
        _create_job(first)
        assert second.client.fine_tuning.jobs.list().data == []
        assert [r.path for r in second.requests] == ["/v1/fine_tuning/jobs"]


def test_an_api_key_option_is_required_and_the_clients_send_it() -> None:
    with local_openai(api_key="sk-test-123") as local:
        assert local.client.models.list().data
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(
                api_key="wrong",
                base_url="http://local.openai-ft/v1",
                http_client=local.http_client(),
            ).models.list()


async def test_the_async_client_runs_a_job_and_gets_canned_replies() -> None:
    with local_openai() as local:
        client = local.async_client
        upload = await client.files.create(file=("t.jsonl", training_jsonl()), purpose="fine-tune")
        job = await client.fine_tuning.jobs.create(model=MODEL, training_file=upload.id)
        assert (await client.fine_tuning.jobs.retrieve(job.id)).status == "succeeded"
        local.reply("gpt-4o-mini", "ping", "pong")
        got = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}]
        )
        assert got.choices[0].message.content == "pong"


class _Stamped(httpx2.BaseTransport):
    """A user's transport around ours: adds a header to every answer."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        response.headers["x-seen-by"] = "test"
        return response


class _AsyncStamped(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        response.headers["x-seen-by"] = "async test"
        return response


async def test_a_transport_of_the_tests_own_can_wrap_ours() -> None:
    with local_openai() as local:
        raw = local.make_client(wrap=_Stamped).models.with_raw_response.list()
        assert raw.headers["x-seen-by"] == "test"
        client = local.make_async_client(wrap=_AsyncStamped)
        araw = await client.models.with_raw_response.list()
        assert araw.headers["x-seen-by"] == "async test"
        assert len(local.requests_to("GET", "/v1/models")) == 2


def test_faults_from_a_fault_script_file(tmp_path: Path) -> None:
    script = tmp_path / "faults.json"
    script.write_text('[{"kind": "500", "path": "/v1/models$", "times": 1}]')
    with local_openai(faults=script) as local:
        with pytest.raises(openai.InternalServerError):
            local.make_client(max_retries=0).models.list()
        assert local.make_client(max_retries=0).models.list().data
