"""The service's own HTTP vocabulary: a request, a response, the error envelope, ids and JSON."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

JSON = dict[str, Any]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "requests",
    500: "server_error",
    503: "server_error",
}


@dataclass(frozen=True)
class Request:
    """One HTTP request as the service sees it: lower-case header names, raw body bytes."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        query_string: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
    ) -> Request:
        """Build a request from wire pieces (query string undecoded, headers in any case)."""
        return cls(
            method=method.upper(),
            path=path,
            query=tuple(parse_qsl(query_string, keep_blank_values=True)),
            headers={k.lower(): v for k, v in headers},
            body=body,
        )

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The last value of query parameter ``name``."""
        for key, value in reversed(self.query):
            if key == name:
                return value
        return default

    def json(self) -> JSON:
        """The body parsed as a JSON object, or a 400 ApiError."""
        try:
            data = json.loads(self.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(
                400, f"We could not parse the JSON body of your request: {exc}"
            ) from None
        except RecursionError:
            raise ApiError(
                400, "We could not parse the JSON body of your request: it is nested too deeply."
            ) from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return data


@dataclass
class Response:
    """A response: a status, headers and either body bytes or an iterator of chunks (SSE).

    ``delay`` is latency the transport must add (sleep or await), ``drop`` asks the transport to
    end the connection without an answer. Both are decided by the core, applied by the edge.
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: list[bytes] | None = None
    delay: float = 0.0
    drop: bool = False

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        """A JSON response."""
        return cls(status, {"content-type": "application/json"}, dumps(data))


class ApiError(Exception):
    """An error the service answers with OpenAI's envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _ERROR_TYPES.get(status, "invalid_request_error")
        self.headers = dict(headers or {})

    def envelope(self) -> JSON:
        """The ``{"error": {...}}`` body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def to_response(self) -> Response:
        """This error as a response."""
        resp = Response.json(self.envelope(), self.status)
        resp.headers.update(self.headers)
        return resp


def not_found(kind: str, ident: str, param: str | None = None) -> ApiError:
    """The 404 for an unknown id."""
    return ApiError(
        404, f"No such {kind}: '{ident}'", param=param, code=f"{kind}_not_found".replace(" ", "_")
    )


def new_id(prefix: str, n: int = 24) -> str:
    """A random id such as ``file-3kF...`` (letters and digits only, so it is safe as a file name)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def dumps(data: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def fmt_duration(seconds: float) -> str:
    """A reset duration in OpenAI's style: ``0s``, ``20ms``, ``1s``, ``1m30.5s``, ``6m0s``."""
    ms = max(0, round(seconds * 1000))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
