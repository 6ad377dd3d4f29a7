"""What is checked before a request's body is read: the API key and the declared body size.

A server that reads first and checks after lets anyone make it hold any number of bytes; these
checks need only the method, the path and the headers, so the HTTP server runs them as soon as
the headers are in and answers 401/400/413 without reading a byte of the body.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping

from openai_ft.local.http.core import ApiError

JSON_BODY_LIMIT = 32 * 2**20  # JSON endpoints (chat, jobs, batches, uploads): 32 MiB
MULTIPART_SLACK = 2**20  # form fields and boundaries around a file or part
MAX_PART_BYTES = 64 * 2**20
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_PART = re.compile(r"^/v1/uploads/[^/]+/parts/?$")


def key_matches(expected: str, authorization: str) -> bool:
    """``Authorization: Bearer <expected>``, compared in constant time."""
    given = authorization.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, f"Bearer {expected}".encode())


def check_key(expected: str | None, headers: Mapping[str, str], path: str = "") -> None:
    """A 401 unless the request carries the key (no key configured: anything goes).

    The key comes as ``Authorization: Bearer`` or as Azure's ``api-key`` header. ARM routes
    (``/subscriptions/...``) check their own bearer token instead.
    """
    if expected is None or path.startswith("/subscriptions/"):
        return
    api_key = headers.get("api-key")
    if api_key is not None and hmac.compare_digest(
        api_key.encode("utf-8", "surrogateescape"), expected.encode()
    ):
        return
    if not key_matches(expected, headers.get("authorization", "")):
        raise ApiError(
            401,
            "Incorrect API key provided. Pass the key given to `openai-ft serve --api-key`.",
            code="invalid_api_key",
        )


def _v1(path: str) -> str:
    """Azure's ``/openai/v1/...`` and classic ``/openai/...`` paths as the ``/v1/...`` they serve."""
    if path.startswith("/openai/v1/"):
        return path.removeprefix("/openai")
    return "/v1" + path.removeprefix("/openai") if path.startswith("/openai/") else path


def body_limit(max_file_bytes: int, method: str, path: str) -> int:
    """The largest body accepted for ``method path``: a file, an upload part, or JSON."""
    path = _v1(path)
    if method == "POST" and path.rstrip("/") == "/v1/files":
        return max_file_bytes + MULTIPART_SLACK
    if method == "POST" and _PART.match(path):
        return MAX_PART_BYTES + MULTIPART_SLACK
    return JSON_BODY_LIMIT


def too_large(size: int, limit: int, path: str) -> ApiError:
    """The 413 for a body of ``size`` bytes over ``limit``."""
    is_file = _v1(path).rstrip("/") == "/v1/files"
    return ApiError(
        413,
        f"Request body too large: {size} bytes; the limit for {path} is {limit} bytes."
        + (" Split the file or use the Uploads API." if is_file else ""),
        param="file" if is_file else None,
        code="file_too_large" if is_file else "request_too_large",
    )


def declared_length(lengths: list[str], transfer_encoding: str | None) -> int | None:
    """The body size the headers announce (None: chunked), or a 400 for a malformed one.

    Several different Content-Length values, a non-decimal or negative one, or Content-Length
    together with Transfer-Encoding are how request smuggling starts: all are refused.
    """
    if transfer_encoding is not None:
        if transfer_encoding.strip().lower() != "chunked":
            raise ApiError(
                400,
                f"Unsupported Transfer-Encoding {transfer_encoding!r}: only 'chunked' is accepted.",
            )
        if lengths:
            raise ApiError(
                400, "A request may not carry both Content-Length and Transfer-Encoding."
            )
        return None
    values = {v.strip() for v in lengths}
    if not values:
        return 0
    if len(values) > 1:
        raise ApiError(400, "The request carries conflicting Content-Length headers.")
    value = values.pop()
    if not _DIGITS.match(value):
        raise ApiError(
            400, f"Invalid Content-Length {value[:40]!r}: expected a non-negative integer."
        )
    return int(value)


__all__ = [
    "JSON_BODY_LIMIT",
    "MAX_PART_BYTES",
    "body_limit",
    "check_key",
    "declared_length",
    "key_matches",
    "too_large",
]
