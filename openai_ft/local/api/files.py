"""Files and Uploads endpoints."""

from __future__ import annotations

import hashlib
from typing import Any

from openai_ft.local.http.app import MAX_PART_BYTES, Service, list_body, paginate_args
from openai_ft.local.http.core import ApiError, Request, Response, new_id, not_found
from openai_ft.local.http.multipart import parse_multipart

UPLOAD_PURPOSES = ("fine-tune", "batch", "assistants", "vision", "user_data", "evals")
UPLOAD_TTL = 3600


def store_file(svc: Service, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
    """Save bytes as a new file object (also used for result, output and error files)."""
    file_id = new_id("file-")
    svc.state.write_blob(file_id, data)
    obj = {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": svc.now(),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }
    return svc.state.put("file", obj)


def get_file(svc: Service, file_id: str, param: str | None = None) -> dict[str, Any]:
    """The file object or a 404."""
    obj = svc.state.get("file", file_id)
    if obj is None:
        raise not_found("file", file_id, param)
    return obj


def _check_size(svc: Service, n: int) -> None:
    limit = svc.settings.max_file_bytes
    if n > limit:
        raise ApiError(
            413,
            f"File is too large: {n} bytes; the limit is {limit} bytes. Split it or use the Uploads API.",
            param="file",
            code="file_too_large",
        )


def _check_purpose(purpose: str | None) -> str:
    if purpose not in UPLOAD_PURPOSES:
        raise ApiError(
            400,
            f"Invalid value for 'purpose': {purpose!r}. Expected one of {', '.join(UPLOAD_PURPOSES)}.",
            param="purpose",
            code="invalid_value",
        )
    return purpose


def create_file(svc: Service, req: Request) -> Response:
    """POST /v1/files (multipart: ``file`` and ``purpose``)."""
    length = req.headers.get("content-length")
    if length and length.isdigit():
        _check_size(svc, int(length) - 4096)
    form = parse_multipart(req.headers.get("content-type", ""), req.body)
    purpose = _check_purpose(
        form["purpose"].data.decode("utf-8", "replace") if "purpose" in form else None
    )
    part = form.get("file")
    if part is None:
        raise ApiError(
            400,
            "Missing required parameter: 'file'.",
            param="file",
            code="missing_required_parameter",
        )
    _check_size(svc, len(part.data))
    return Response.json(store_file(svc, part.data, part.filename or "upload", purpose))


def list_files(svc: Service, req: Request) -> Response:
    """GET /v1/files (``purpose`` filter, cursor pagination)."""
    purpose = req.arg("purpose")
    where = {"$.purpose": purpose} if purpose else None
    items, more = svc.state.page("file", where=where, **paginate_args(req, default_limit=10000))
    return Response.json(list_body(items, more))


def retrieve_file(svc: Service, req: Request, file_id: str) -> Response:
    """GET /v1/files/{id}."""
    return Response.json(get_file(svc, file_id))


def delete_file(svc: Service, req: Request, file_id: str) -> Response:
    """DELETE /v1/files/{id}."""
    get_file(svc, file_id)
    svc.state.delete(file_id)
    svc.state.delete_blob(file_id)
    return Response.json({"id": file_id, "object": "file", "deleted": True})


def file_content(svc: Service, req: Request, file_id: str) -> Response:
    """GET /v1/files/{id}/content: the exact bytes."""
    get_file(svc, file_id)
    return Response(200, {"content-type": "application/octet-stream"}, svc.state.read_blob(file_id))


# -- uploads ------------------------------------------------------------------------------------


def _get_upload(svc: Service, upload_id: str, *, pending: bool = True) -> dict[str, Any]:
    obj = svc.state.get("upload", upload_id)
    if obj is None:
        raise not_found("upload", upload_id)
    if obj["status"] == "pending" and svc.now() >= obj["expires_at"]:
        obj = svc.state.mutate("upload", upload_id, lambda o: {**o, "status": "expired"}) or obj
    if pending and obj["status"] != "pending":
        raise ApiError(
            409,
            f"Upload {upload_id} is already {obj['status']}; start a new upload.",
            code="upload_not_pending",
        )
    return obj


def create_upload(svc: Service, req: Request) -> Response:
    """POST /v1/uploads."""
    body = req.json()
    purpose = _check_purpose(body.get("purpose"))
    size = body.get("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ApiError(400, "Invalid 'bytes': expected a non-negative integer.", param="bytes")
    _check_size(svc, size)
    filename = body.get("filename")
    if not isinstance(filename, str) or not filename:
        raise ApiError(400, "Missing required parameter: 'filename'.", param="filename")
    mime = body.get("mime_type")
    if mime is not None and not isinstance(mime, str):
        raise ApiError(400, "Invalid 'mime_type': expected a string.", param="mime_type")
    now = svc.now()
    obj = {
        "id": new_id("upload_"),
        "object": "upload",
        "bytes": size,
        "created_at": now,
        "filename": filename,
        "purpose": purpose,
        "status": "pending",
        "expires_at": now + UPLOAD_TTL,
        "file": None,
    }
    return Response.json(svc.state.put("upload", obj))


def add_part(svc: Service, req: Request, upload_id: str) -> Response:
    """POST /v1/uploads/{id}/parts (multipart ``data``, at most 64 MB)."""
    _get_upload(svc, upload_id)
    form = parse_multipart(req.headers.get("content-type", ""), req.body)
    part = form.get("data")
    if part is None:
        raise ApiError(400, "Missing required parameter: 'data'.", param="data")
    if len(part.data) > MAX_PART_BYTES:
        raise ApiError(
            413,
            f"Part is too large: {len(part.data)} bytes; the limit is {MAX_PART_BYTES}.",
            param="data",
            code="part_too_large",
        )
    part_id = new_id("part_")
    svc.state.write_blob(part_id, part.data)
    obj = {
        "id": part_id,
        "object": "upload.part",
        "created_at": svc.now(),
        "upload_id": upload_id,
        "x_bytes": len(part.data),
    }
    svc.state.put("part", obj, parent=upload_id)
    return Response.json({k: v for k, v in obj.items() if not k.startswith("x_")})


def complete_upload(svc: Service, req: Request, upload_id: str) -> Response:
    """POST /v1/uploads/{id}/complete: join the parts in the given order into a file."""
    upload = _get_upload(svc, upload_id)
    body = req.json()
    part_ids = body.get("part_ids")
    if not isinstance(part_ids, list) or not all(isinstance(p, str) for p in part_ids):
        raise ApiError(400, "Invalid 'part_ids': expected a list of part ids.", param="part_ids")
    parts = {p["id"]: p for p in svc.state.all("part", parent=upload_id)}
    unknown = [p for p in part_ids if p not in parts]
    if unknown:
        raise ApiError(
            400, f"Unknown part id(s) for this upload: {', '.join(unknown)}.", param="part_ids"
        )
    data = b"".join(svc.state.read_blob(p) for p in part_ids)
    if len(data) != upload["bytes"]:
        raise ApiError(
            400,
            f"The parts add up to {len(data)} bytes but the upload was created with bytes={upload['bytes']}.",
            param="part_ids",
            code="bytes_mismatch",
        )
    md5 = body.get("md5")
    if md5 and hashlib.md5(data).hexdigest() != md5:
        raise ApiError(
            400,
            "The md5 checksum of the parts does not match 'md5'.",
            param="md5",
            code="checksum_mismatch",
        )
    file_obj = store_file(svc, data, upload["filename"], upload["purpose"])
    for p in parts:
        svc.state.delete(p)
        svc.state.delete_blob(p)
    done = svc.state.mutate(
        "upload", upload_id, lambda o: {**o, "status": "completed", "file": file_obj}
    )
    return Response.json(done)


def cancel_upload(svc: Service, req: Request, upload_id: str) -> Response:
    """POST /v1/uploads/{id}/cancel."""
    _get_upload(svc, upload_id)
    for p in svc.state.all("part", parent=upload_id):
        svc.state.delete(p["id"])
        svc.state.delete_blob(p["id"])
    return Response.json(
        svc.state.mutate("upload", upload_id, lambda o: {**o, "status": "cancelled"})
    )
