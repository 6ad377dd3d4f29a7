"""Hostile bodies at every POST endpoint: a malformed request is a 4xx envelope, never a 500.

Bodies start from a valid request and then have one to three of their fields, chosen among every
property path of the endpoint's request schema in OpenAI's published spec, replaced by a wrong
value (wrong type, out of range, the right shape in the wrong place, deep nesting, NaN). Every
answer also goes through the spec check of this folder's conftest, 200s included.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_ft.local import LocalService

from .conftest import SpecChecked, chat_rows, jsonl
from .spec import spec

Key = str | int
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_N", "60")),  # FUZZ_N=1000 for a longer hunt
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _resolve(schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def schema_paths(ref: str) -> list[tuple[Key, ...]]:
    """Every property path of a request schema (array items as index 0), sorted."""
    out: set[tuple[Key, ...]] = set()

    def walk(schema: Any, prefix: tuple[Key, ...], depth: int) -> None:
        schema = _resolve(schema)
        if not isinstance(schema, dict) or depth > 6:
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, []):
                walk(sub, prefix, depth + 1)
        for name, sub in (schema.get("properties") or {}).items():
            out.add((*prefix, name))
            walk(sub, (*prefix, name), depth + 1)
        if "items" in schema:
            out.add((*prefix, 0))
            walk(schema["items"], (*prefix, 0), depth + 1)

    walk({"$ref": "#/components/schemas/" + ref}, (), 0)
    return sorted(out, key=str)


def put(body: Any, path: tuple[Key, ...], value: Any) -> Any:
    """``body`` with ``value`` at ``path``, creating (or overwriting) containers on the way."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) and body else [{}]
        items[0] = put(items[0], rest, value)
        return items
    obj = dict(body) if isinstance(body, dict) else {}
    obj[head] = put(obj.get(head), rest, value)
    return obj


TRICKY = st.sampled_from(
    [
        None,
        True,
        0,
        -1,
        2**31,
        2**64,
        -(2**63) - 1,
        1e308,
        -1e-308,
        0.5,
        "",
        "auto",
        "x" * 300,
        "json_schema",
        "function",
        "wandb",
        "dpo",
        "supervised",
        "system",
        "user",
        "assistant",
        "file-missing",
        "24h",
        "/v1/chat/completions",
        [],
        [{}],
        [None],
        [[]],
        {},
        {"type": "json_schema"},
        {"type": "function"},
        {"name": {"a": 1}},
        {"type": "wandb"},
        {"include_usage": "yes"},
        {"hyperparameters": "x"},
        {"json_schema": "x"},
        {"function": "f"},
        float("nan"),
        float("inf"),
    ]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
VALUES = TRICKY | JSONISH


@dataclass
class World:
    """A service with one of everything the endpoints refer to."""

    svc: LocalService
    http: httpx2.Client
    train: str
    batch_input: str
    job: str
    upload: str
    batch: str

    def post(self, path: str, content: bytes, content_type: str) -> httpx2.Response:
        headers = {"content-type": content_type.encode()}  # bytes: a boundary may be non-ASCII
        response = self.http.post(path, content=content, headers=headers)
        assert response.status_code < 500, (path, content[:300], response.text)
        assert "error" in response.json() if response.status_code >= 400 else True
        return response


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    svc = LocalService(tmp_path / "state", autostart=False, speed=0)
    http = httpx2.Client(transport=SpecChecked(svc.transport()), base_url="http://localhost")
    files = "/v1/files"
    train = http.post(
        files, files={"file": ("t.jsonl", jsonl(chat_rows(12)))}, data={"purpose": "fine-tune"}
    )
    line = {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    }
    batch_input = http.post(
        files, files={"file": ("b.jsonl", jsonl([line]))}, data={"purpose": "batch"}
    )
    job = http.post(
        "/v1/fine_tuning/jobs", json={"model": "gpt-4o-mini", "training_file": train.json()["id"]}
    )
    upload = http.post(
        "/v1/uploads",
        json={"purpose": "batch", "bytes": 3, "filename": "u.jsonl", "mime_type": "text/jsonl"},
    )
    batch = http.post(
        "/v1/batches",
        json={
            "input_file_id": batch_input.json()["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        },
    )
    yield World(
        svc,
        http,
        train.json()["id"],
        batch_input.json()["id"],
        job.json()["id"],
        upload.json()["id"],
        batch.json()["id"],
    )
    svc.close()


def _valid_bodies(w: World) -> dict[str, tuple[str, dict[str, Any]]]:
    """POST path -> (request schema, a valid body)."""
    message = {"role": "user", "content": "Reply in json: hi"}
    return {
        "/v1/chat/completions": (
            "CreateChatCompletionRequest",
            {"model": "gpt-4o-mini", "messages": [message]},
        ),
        "/v1/fine_tuning/jobs": (
            "CreateFineTuningJobRequest",
            {"model": "gpt-4o-mini", "training_file": w.train},
        ),
        "/v1/batches": (
            "CreateBatchRequest",
            {
                "input_file_id": w.batch_input,
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
            },
        ),
        "/v1/uploads": (
            "CreateUploadRequest",
            {"purpose": "batch", "bytes": 3, "filename": "u.jsonl", "mime_type": "text/jsonl"},
        ),
        f"/v1/uploads/{w.upload}/complete": ("CompleteUploadRequest", {"part_ids": []}),
    }


JSON_ENDPOINTS = [
    "/v1/chat/completions",
    "/v1/fine_tuning/jobs",
    "/v1/batches",
    "/v1/uploads",
    "complete",
]


def _dumps(body: Any) -> bytes:
    return json.dumps(body, allow_nan=True).encode()


@pytest.mark.parametrize("endpoint", JSON_ENDPOINTS)
@FUZZ
@given(data=st.data())
def test_json_endpoints_never_answer_500(world: World, endpoint: str, data: st.DataObject) -> None:
    bodies = _valid_bodies(world)
    path = next(p for p in bodies if p == endpoint or p.endswith("/" + endpoint))
    ref, body = bodies[path]
    where = st.sampled_from(schema_paths(ref))
    for target in data.draw(st.lists(where, min_size=1, max_size=3, unique=True), label="paths"):
        body = put(body, target, data.draw(VALUES, label=str(target)))
    world.post(path, _dumps(body), "application/json")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"null",
        b"[]",
        b'"x"',
        b"1",
        b"{",
        b"\xff\xfe",
        b"[" * 100_000,
        b'{"a":' * 50_000,
        b'{"model": NaN}',
        '{"model": "\u00e9"}'.encode("latin-1"),
    ],
)
def test_garbage_bodies_at_every_post_route(world: World, raw: bytes) -> None:
    for path in [
        *_valid_bodies(world),
        "/v1/files",
        f"/v1/uploads/{world.upload}/parts",
        f"/v1/uploads/{world.upload}/cancel",
        f"/v1/fine_tuning/jobs/{world.job}/pause",
        f"/v1/fine_tuning/jobs/{world.job}/resume",
        f"/v1/fine_tuning/jobs/{world.job}/cancel",
        f"/v1/batches/{world.batch}/cancel",
    ]:
        for content_type in ("application/json", "multipart/form-data; boundary=b", "text/plain"):
            world.post(path, raw, content_type)


FORM_FIELDS = st.dictionaries(
    st.sampled_from(
        ["purpose", "file", "data", "expires_after[anchor]", "expires_after[seconds]", ""]
    ),
    st.binary(max_size=40) | st.sampled_from([b"fine-tune", b"batch", b"", b"\xff", b"evals"]),
    max_size=4,
)


def _multipart(fields: dict[str, bytes], filename: str, boundary: str) -> bytes:
    out = b""
    for name, value in fields.items():
        disposition = f'form-data; name="{name}"'
        if name in ("file", "data"):
            disposition += f'; filename="{filename}"'
        out += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


@FUZZ
@given(
    fields=FORM_FIELDS,
    filename=st.text(max_size=20),
    boundary=st.sampled_from(["b", "x" * 70, "a b", "é"]),
    declared=st.sampled_from(["b", "other", ""]),
)
def test_multipart_endpoints_never_answer_500(
    world: World, fields: dict[str, bytes], filename: str, boundary: str, declared: str
) -> None:
    body = _multipart(fields, filename, boundary)
    content_type = f"multipart/form-data; boundary={declared or boundary}"
    for path in ("/v1/files", f"/v1/uploads/{world.upload}/parts"):
        world.post(path, body, content_type)


_TOOL = {"type": "function", "function": {"name": "lookup"}}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        (
            {
                "tools": [{"type": "function", "function": {"name": {"a": 1}}}],
                "tool_choice": "required",
            },
            "tools[0].function.name",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
            "tools[0].function.parameters",
        ),
        ({"tools": 2147483648}, "tools"),
        (
            {"tools": [_TOOL], "tool_choice": {"type": "function", "function": {"name": {}}}},
            "tool_choice.function.name",
        ),
        ({"tools": [_TOOL], "tool_choice": float("inf")}, "tool_choice"),
        (
            {"response_format": {"type": "json_schema", "json_schema": "x"}},
            "response_format.json_schema",
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "n", "schema": [1]},
                }
            },
            "response_format.json_schema.schema",
        ),
        ({"response_format": "json_object"}, "response_format"),
        ({"stream": True, "stream_options": "x"}, "stream_options"),
        (
            {"stream": True, "stream_options": {"include_usage": "yes"}},
            "stream_options.include_usage",
        ),
        ({"stream": "/v1/chat/completions"}, "stream"),
        ({"logit_bias": "x"}, "logit_bias"),
        ({"presence_penalty": "file-missing"}, "presence_penalty"),
    ],
)
def test_named_malformed_chat_requests_are_400(
    world: World, extra: dict[str, Any], param: str
) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "json"}], **extra}
    response = world.post("/v1/chat/completions", _dumps(body), "application/json")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["type"] == "invalid_request_error"
