"""Batches: a ``purpose=batch`` file of ``/v1/chat/completions`` requests, answered in the background."""

from __future__ import annotations

import json
from typing import Any

from openai_ft.local.api.files import store_file
from openai_ft.local.api.jobs import check_metadata
from openai_ft.local.http.app import Service, list_body, paginate_args
from openai_ft.local.http.core import ApiError, Request, Response, new_id, not_found

ENDPOINTS = ("/v1/chat/completions",)
WINDOW_SECONDS = 24 * 3600
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")


def create_batch(svc: Service, req: Request) -> Response:
    """POST /v1/batches."""
    body = req.json()
    endpoint = body.get("endpoint")
    if endpoint not in ENDPOINTS:
        raise ApiError(
            400,
            f"Invalid 'endpoint': {endpoint!r}; the local service batches {', '.join(ENDPOINTS)}.",
            param="endpoint",
            code="invalid_value",
        )
    if body.get("completion_window") != "24h":
        raise ApiError(
            400,
            "Invalid 'completion_window': only '24h' is supported.",
            param="completion_window",
            code="invalid_value",
        )
    file_id = body.get("input_file_id")
    file_obj = svc.state.get("file", file_id) if isinstance(file_id, str) else None
    if file_obj is None:
        raise not_found("file", str(file_id), "input_file_id")
    if file_obj["purpose"] != "batch":
        raise ApiError(
            400,
            f"Invalid 'input_file_id': {file_id} has purpose '{file_obj['purpose']}', expected 'batch'.",
            param="input_file_id",
            code="invalid_file_purpose",
        )
    now = svc.now()
    batch = {
        "id": new_id("batch_"),
        "object": "batch",
        "endpoint": endpoint,
        "errors": None,
        "input_file_id": file_id,
        "completion_window": "24h",
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": now,
        "in_progress_at": None,
        "expires_at": now + WINDOW_SECONDS,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": check_metadata(body.get("metadata")),
    }
    svc.state.put("batch", batch)
    svc.wake.set()
    return Response.json(view(batch))


def view(batch: dict[str, Any]) -> dict[str, Any]:
    """A batch as the API shows it: unset timestamps and file ids are left out, not null."""
    return {k: v for k, v in batch.items() if v is not None}


def _get(svc: Service, batch_id: str) -> dict[str, Any]:
    batch = svc.state.get("batch", batch_id)
    if batch is None:
        raise not_found("batch", batch_id)
    return batch


def list_batches(svc: Service, req: Request) -> Response:
    """GET /v1/batches (newest first)."""
    items, more = svc.state.page("batch", **paginate_args(req))
    return Response.json(list_body([view(b) for b in items], more))


def retrieve_batch(svc: Service, req: Request, batch_id: str) -> Response:
    """GET /v1/batches/{id}."""
    return Response.json(view(_get(svc, batch_id)))


def cancel_batch(svc: Service, req: Request, batch_id: str) -> Response:
    """POST /v1/batches/{id}/cancel."""
    _get(svc, batch_id)
    now = svc.now()

    def change(b: dict[str, Any]) -> dict[str, Any] | None:
        if b["status"] not in ("validating", "in_progress"):
            return None
        return {**b, "status": "cancelling", "cancelling_at": now}

    batch = svc.state.mutate("batch", batch_id, change)
    if batch is None or batch["status"] != "cancelling":
        raise ApiError(
            400,
            f"Cannot cancel batch {batch_id}: its status is '{batch['status'] if batch else 'unknown'}'.",
            code="invalid_batch_status",
        )
    svc.wake.set()
    return Response.json(view(batch))


def _parse_lines(data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    requests, errors = [], []
    seen: set[str] = set()
    for number, line in enumerate(data.decode("utf-8-sig", "replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            errors.append(
                {
                    "code": "invalid_json_line",
                    "message": "This line is not valid JSON.",
                    "param": None,
                    "line": number,
                }
            )
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("custom_id"), str):
            errors.append(
                {
                    "code": "missing_custom_id",
                    "message": "Each line needs a string 'custom_id'.",
                    "param": "custom_id",
                    "line": number,
                }
            )
        elif obj["custom_id"] in seen:
            errors.append(
                {
                    "code": "duplicate_custom_id",
                    "message": f"custom_id {obj['custom_id']!r} is used twice.",
                    "param": "custom_id",
                    "line": number,
                }
            )
        elif (
            obj.get("url") not in ENDPOINTS
            or obj.get("method", "POST") != "POST"
            or not isinstance(obj.get("body"), dict)
        ):
            errors.append(
                {
                    "code": "invalid_request",
                    "message": "Each line needs method 'POST', url '/v1/chat/completions' and a JSON 'body'.",
                    "param": "url",
                    "line": number,
                }
            )
        else:
            seen.add(obj["custom_id"])
            requests.append(obj)
    if not requests and not errors:
        errors.append(
            {
                "code": "empty_file",
                "message": "The input file has no requests.",
                "param": None,
                "line": None,
            }
        )
    return requests, errors


def _status(svc: Service, batch_id: str, **fields: Any) -> dict[str, Any] | None:
    return svc.state.mutate("batch", batch_id, lambda b: {**b, **fields})


def run_batch(svc: Service, batch_id: str) -> None:
    """Process one batch to a final status (the caller holds its lease)."""
    from openai_ft.local.api.chat import answer

    batch = svc.state.get("batch", batch_id)
    if batch is None or batch["status"] not in ACTIVE:
        return
    if batch["status"] == "cancelling" and batch["in_progress_at"] is None:
        _status(svc, batch_id, status="cancelled", cancelled_at=svc.now())
        return
    file_obj = svc.state.get("file", batch["input_file_id"])
    if file_obj is None:
        _status(
            svc,
            batch_id,
            status="failed",
            failed_at=svc.now(),
            errors={
                "object": "list",
                "data": [
                    {
                        "code": "file_not_found",
                        "message": "The input file was deleted.",
                        "param": "input_file_id",
                        "line": None,
                    }
                ],
            },
        )
        return
    requests, errors = _parse_lines(svc.state.read_blob(file_obj["id"]))
    if errors:
        _status(
            svc,
            batch_id,
            status="failed",
            failed_at=svc.now(),
            errors={"object": "list", "data": errors},
        )
        return
    _status(
        svc,
        batch_id,
        status="in_progress",
        in_progress_at=svc.now(),
        request_counts={"total": len(requests), "completed": 0, "failed": 0},
    )
    out_lines, err_lines = [], []
    final = "completed"
    for item in requests:
        current = svc.state.get("batch", batch_id) or batch
        if current["status"] == "cancelling":
            final = "cancelled"
            break
        if svc.now() >= current["expires_at"]:
            final = "expired"
            break
        request_id = "req_" + new_id("", 24)
        try:
            resp = answer(svc, {**item["body"], "stream": False})
            out_lines.append(
                {
                    "id": new_id("batch_req_"),
                    "custom_id": item["custom_id"],
                    "response": {
                        "status_code": 200,
                        "request_id": request_id,
                        "body": json.loads(resp.body),
                    },
                    "error": None,
                }
            )
        except ApiError as exc:
            err_lines.append(
                {
                    "id": new_id("batch_req_"),
                    "custom_id": item["custom_id"],
                    "response": {
                        "status_code": exc.status,
                        "request_id": request_id,
                        "body": exc.envelope(),
                    },
                    "error": None,
                }
            )
        counts = {"total": len(requests), "completed": len(out_lines), "failed": len(err_lines)}
        _status(svc, batch_id, request_counts=counts)
    if final == "completed":
        _status(svc, batch_id, status="finalizing", finalizing_at=svc.now())
    fields: dict[str, Any] = {}
    if out_lines:
        fields["output_file_id"] = store_file(
            svc, _jsonl(out_lines), f"{batch_id}_output.jsonl", "batch_output"
        )["id"]
    if err_lines:
        fields["error_file_id"] = store_file(
            svc, _jsonl(err_lines), f"{batch_id}_error.jsonl", "batch_output"
        )["id"]
    stamp = {"completed": "completed_at", "cancelled": "cancelled_at", "expired": "expired_at"}[
        final
    ]
    _status(svc, batch_id, status=final, **{stamp: svc.now()}, **fields)


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
