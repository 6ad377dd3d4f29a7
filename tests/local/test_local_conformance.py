"""Every response of a full scripted session validates against the shared OpenAPI spec."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from openai_ft.local import LocalService

from .conftest import chat_rows, jsonl
from .spec import operation, problems


class Recorder(httpx2.BaseTransport):
    """Wraps a transport and keeps every (request, response) pair."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[httpx2.Request, httpx2.Response]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.seen.append((request, response))
        return response


def _scenario(svc: LocalService, client: openai.OpenAI) -> None:
    train = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
    client.files.list(limit=1)
    client.files.retrieve(train.id)
    client.files.content(train.id)
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=train.id,
        suffix="c",
        metadata={"a": "b"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    )
    svc.run_jobs(max_steps=1)
    client.fine_tuning.jobs.pause(job.id)
    client.fine_tuning.jobs.resume(job.id)
    svc.run_jobs()
    done = client.fine_tuning.jobs.retrieve(job.id)
    list(client.fine_tuning.jobs.list(limit=1))
    list(client.fine_tuning.jobs.list_events(job.id, limit=50))
    list(client.fine_tuning.jobs.checkpoints.list(job.id))
    other = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id)
    client.fine_tuning.jobs.cancel(other.id)
    bad = client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=client.files.create(file=("b.jsonl", b"{}\n" * 12), purpose="fine-tune").id,
    )
    svc.run_jobs()
    client.fine_tuning.jobs.retrieve(bad.id)
    client.models.list()
    client.models.retrieve("gpt-4o-mini")
    client.models.retrieve(done.fine_tuned_model or "")
    msgs = [{"role": "user", "content": "hello in json"}]
    client.chat.completions.create(
        model=done.fine_tuned_model or "", messages=msgs, logprobs=True, top_logprobs=2, n=2
    )  # type: ignore[arg-type]
    client.chat.completions.create(
        model="gpt-4o-mini", messages=msgs, max_tokens=2, response_format={"type": "json_object"}
    )  # type: ignore[arg-type]
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=msgs,
        tool_choice="required",
        tools=[  # type: ignore[arg-type]
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "parameters": {"type": "object", "properties": {"x": {"type": "string"}}},
                },
            }
        ],
    )
    list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=msgs,
            stream=True,
            logprobs=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True},
        )
    )
    line = {
        "custom_id": "1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": msgs},
    }
    bf = client.files.create(file=("b.jsonl", jsonl([line])), purpose="batch")
    batch = client.batches.create(
        input_file_id=bf.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    svc.run_jobs()
    client.batches.retrieve(batch.id)
    client.batches.list()
    up = client.uploads.create(bytes=3, filename="u.jsonl", mime_type="text/jsonl", purpose="batch")
    part = client.uploads.parts.create(up.id, data=b"abc")
    client.uploads.complete(up.id, part_ids=[part.id])
    client.uploads.cancel(
        client.uploads.create(bytes=1, filename="v", mime_type="text/plain", purpose="batch").id
    )
    client.models.delete(done.fine_tuned_model or "")
    client.files.delete(train.id)
    for call in (
        lambda: client.files.retrieve("file-x"),
        lambda: client.fine_tuning.jobs.retrieve("ftjob-x"),
        lambda: client.chat.completions.create(model="gpt-4o-mini", messages=[]),
    ):
        with pytest.raises(openai.APIStatusError):
            call()


def test_every_response_matches_the_spec(svc: LocalService) -> None:
    recorder = Recorder(svc.transport())
    client = openai.OpenAI(
        api_key="local",
        base_url="http://x/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=recorder),
    )
    _scenario(svc, client)
    checked: set[str] = set()
    found: list[str] = []
    for request, response in recorder.seen:
        assert "x-request-id" in response.headers and "openai-processing-ms" in response.headers
        kind = response.headers["content-type"]
        found += problems(
            request.method, request.url.path, response.status_code, kind, response.content
        )
        if response.status_code < 400:
            checked.add(f"{request.method} {operation(request.method, request.url.path)[0]}")
    assert not found, "\n".join(found)
    assert len(checked) >= 24, sorted(checked)


def test_the_checker_catches_a_wrong_shape() -> None:
    good = {
        "id": "file-1",
        "object": "file",
        "bytes": 3,
        "created_at": 1,
        "filename": "a",
        "purpose": "batch",
        "status": "processed",
    }
    assert (
        problems("GET", "/v1/files/file-1", 200, "application/json", json.dumps(good).encode())
        == []
    )
    bad = {k: v for k, v in good.items() if k != "bytes"} | {"object": "blob"}
    found = problems("GET", "/v1/files/file-1", 200, "application/json", json.dumps(bad).encode())
    assert len(found) == 2 and any("'bytes' is a required property" in p for p in found)
    assert problems("GET", "/v1/x", 404, "application/json", b'{"error": {"message": 1}}')
