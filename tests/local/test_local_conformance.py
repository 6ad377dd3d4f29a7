"""Every response of a full scripted session validates against the shared OpenAPI spec."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import openai
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from openai_ft.local import LocalService

from .conftest import chat_rows, jsonl

SPEC = Path("/work/shared/openapi/openai-openapi.yaml")


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    """The shared OpenAPI document, loaded once per session."""
    if not SPEC.exists():
        pytest.fail(f"{SPEC} is missing: the conformance tests need the shared OpenAPI spec")
    with SPEC.open("rb") as fh:
        doc: dict[str, Any] = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    _nullable(doc)
    # Statuses are open strings (STYLE.md): the spec's job enum predates `paused`.
    doc["components"]["schemas"]["FineTuningJob"]["properties"]["status"]["enum"].append("paused")
    return doc


def _nullable(node: Any) -> None:
    """Honour OpenAPI 3.0's ``nullable: true`` (still used inside this 3.1 document) for jsonschema."""
    if isinstance(node, dict):
        if node.get("nullable") is True:
            if isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"].append(None)
            if "allOf" in node or "$ref" in node:
                inner = {k: node.pop(k) for k in ("allOf", "$ref") if k in node}
                node["anyOf"] = [inner, {"type": "null"}]
        for bound in ("Minimum", "Maximum"):  # 3.0's boolean exclusive bounds -> 2020-12 numbers
            if node.get("exclusive" + bound) is True and bound.lower() in node:
                node["exclusive" + bound] = node.pop(bound.lower())
            elif node.get("exclusive" + bound) is False:
                node.pop("exclusive" + bound)
        for value in node.values():
            _nullable(value)
    elif isinstance(node, list):
        for value in node:
            _nullable(value)


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


def _operation(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    path = path.removeprefix("/v1")
    for template, ops in spec["paths"].items():
        regex = re.sub(r"\{[^}]+\}", "[^/]+", template)
        if re.fullmatch(regex, path) and method.lower() in ops:
            return template, ops[method.lower()]
    raise AssertionError(f"{method} {path} is not an operation of the spec")


def _validator(spec: dict[str, Any], ref: str) -> jsonschema.protocols.Validator:
    registry: Registry = Registry().with_resource(
        "spec", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator({"$ref": "spec" + ref}, registry=registry)


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


def test_every_response_matches_the_spec(spec: dict[str, Any], svc: LocalService) -> None:
    recorder = Recorder(svc.transport())
    client = openai.OpenAI(
        api_key="local",
        base_url="http://x/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=recorder),
    )
    _scenario(svc, client)
    checked: set[str] = set()
    problems: list[str] = []
    error_validator = _validator(spec, "#/components/schemas/ErrorResponse")
    for request, response in recorder.seen:
        template, op = _operation(spec, request.method, request.url.path)
        assert "x-request-id" in response.headers and "openai-processing-ms" in response.headers
        if response.status_code >= 400:
            error_validator.validate(response.json())
            continue
        content = op["responses"][str(response.status_code)].get("content", {})
        kind = response.headers["content-type"].split(";")[0]
        if kind == "application/octet-stream":
            checked.add(f"{request.method} {template}")  # raw bytes: compared byte-exact elsewhere
            continue
        schema = content.get(kind, {}).get("schema")
        assert schema is not None, f"{request.method} {template}: the spec has no {kind} schema"
        validator = _validator(spec, schema["$ref"])
        if kind == "text/event-stream":
            frames = [f[6:] for f in response.text.split("\n\n") if f.startswith("data: ")]
            assert frames[-1] == "[DONE]"
            for frame in frames[:-1]:
                problems += [
                    f"SSE {template}: {e.message[:200]} at {list(e.path)}"
                    for e in validator.iter_errors(json.loads(frame))
                ]
        else:
            problems += [
                f"{request.method} {template}: {e.message[:200]} at {list(e.path)}"
                for e in validator.iter_errors(response.json())
            ]
        checked.add(f"{request.method} {template}")
    assert not problems, "\n".join(problems)
    assert len(checked) >= 24, sorted(checked)
