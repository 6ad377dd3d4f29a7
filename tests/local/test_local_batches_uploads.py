"""Batches and the Uploads API through the SDK."""

from __future__ import annotations

import hashlib
import json

import openai
import pytest

from openai_ft.local import LocalService

from .conftest import FakeClock, jsonl


def _line(cid: str, content: str = "hello") -> dict:
    return {
        "custom_id": cid,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": 5,
        },
    }


def test_batch_completes_with_output_and_error_files(
    svc: LocalService, client: openai.OpenAI
) -> None:
    bad = _line("c3")
    bad["body"]["model"] = "no-such-model"
    f = client.files.create(
        file=("b.jsonl", jsonl([_line("c1"), _line("c2"), bad])), purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=f.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"k": "v"},
    )
    assert batch.status == "validating"
    svc.run_jobs()
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.completed_at is not None
    assert done.request_counts is not None
    assert (
        done.request_counts.total,
        done.request_counts.completed,
        done.request_counts.failed,
    ) == (3, 2, 1)
    out = [json.loads(x) for x in client.files.content(done.output_file_id or "").text.splitlines()]
    assert {o["custom_id"] for o in out} == {"c1", "c2"}
    assert (
        out[0]["response"]["status_code"] == 200
        and out[0]["response"]["body"]["object"] == "chat.completion"
    )
    err = [json.loads(x) for x in client.files.content(done.error_file_id or "").text.splitlines()]
    assert err[0]["custom_id"] == "c3" and err[0]["response"]["status_code"] == 404
    assert [b.id for b in client.batches.list(limit=1)] == [batch.id]


def test_batch_invalid_lines_fail_and_cancel(svc: LocalService, client: openai.OpenAI) -> None:
    f = client.files.create(
        file=("b.jsonl", jsonl([_line("a"), "{not json", _line("a")])), purpose="batch"
    )
    batch = client.batches.create(
        input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    svc.run_jobs()
    failed = client.batches.retrieve(batch.id)
    assert failed.status == "failed" and failed.errors is not None
    assert [(e.line, e.code) for e in failed.errors.data or []] == [
        (2, "invalid_json_line"),
        (3, "duplicate_custom_id"),
    ]
    ok = client.files.create(file=("b.jsonl", jsonl([_line("a")])), purpose="batch")
    other = client.batches.create(
        input_file_id=ok.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert client.batches.cancel(other.id).status == "cancelling"
    svc.run_jobs()
    assert client.batches.retrieve(other.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        client.batches.cancel(other.id)
    with pytest.raises(openai.NotFoundError):
        client.batches.create(
            input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h"
        )


def test_uploads_parts_complete_md5_and_expiry(
    svc: LocalService, client: openai.OpenAI, clock: FakeClock
) -> None:
    data = b"0123456789" * 10
    up = client.uploads.create(
        bytes=len(data), filename="train.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    assert up.status == "pending" and up.expires_at == up.created_at + 3600
    p1 = client.uploads.parts.create(up.id, data=data[:60])
    p2 = client.uploads.parts.create(up.id, data=data[60:])
    with pytest.raises(openai.BadRequestError):
        client.uploads.complete(up.id, part_ids=[p1.id])  # byte count must match
    with pytest.raises(openai.BadRequestError):
        client.uploads.complete(up.id, part_ids=[p1.id, p2.id], md5="0" * 32)
    done = client.uploads.complete(
        up.id, part_ids=[p1.id, p2.id], md5=hashlib.md5(data).hexdigest()
    )
    assert done.status == "completed" and done.file is not None
    assert client.files.content(done.file.id).content == data
    with pytest.raises(openai.ConflictError):
        client.uploads.cancel(up.id)
    later = client.uploads.create(
        bytes=3, filename="x.jsonl", mime_type="text/jsonl", purpose="batch"
    )
    assert client.uploads.cancel(later.id).status == "cancelled"
    old = client.uploads.create(
        bytes=3, filename="x.jsonl", mime_type="text/jsonl", purpose="batch"
    )
    clock.advance(3601)
    with pytest.raises(openai.ConflictError) as exc:
        client.uploads.parts.create(old.id, data=b"abc")
    assert "expired" in exc.value.message
    with pytest.raises(openai.NotFoundError):
        client.uploads.cancel("upload_missing")
