"""What every ARM route of the stand-in checks first, and ARM's error shape.

A bearer token (the configured one, or any when none is), an ``api-version`` and well-formed
resource names; anything else is ARM's ``{"error": {"code", "message"}}``, never a 500.
"""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Callable
from typing import Any

from openai_ft.local.azure.deployments import options
from openai_ft.local.http.app import Service
from openai_ft.local.http.core import ApiError, Request, Response

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


class ArmError(ApiError):
    """An error in ARM's shape: ``{"error": {"code": ..., "message": ...}}``."""

    def envelope(self) -> dict[str, Any]:
        """ARM's ErrorResponse body."""
        return {"error": {"code": self.code, "message": self.message}}


def invalid(message: str, code: str = "InvalidResourceProperties") -> ArmError:
    return ArmError(400, message, code=code)


def _authorize(svc: Service, req: Request) -> None:
    header = req.headers.get("authorization")
    if not header:
        raise ArmError(
            401,
            "Authentication failed. The 'Authorization' header is missing.",
            code="AuthenticationFailed",
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ArmError(
            401,
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            code="AuthenticationFailed",
        )
    expected = options(svc).arm_token
    given = token.strip().encode("utf-8", "surrogateescape")
    if expected is not None and not hmac.compare_digest(given, expected.encode()):
        raise ArmError(
            401,
            "The access token is invalid. Pass the token given to `openai-ft serve --arm-token`.",
            code="InvalidAuthenticationToken",
        )


def _api_version(req: Request) -> str:
    version = req.arg("api-version")
    if not version:
        raise ArmError(
            400,
            "The api-version query parameter (?api-version=) is required for all requests.",
            code="MissingApiVersionParameter",
        )
    if not _API_VERSION.match(version):
        raise ArmError(
            400,
            f"The api-version '{version[:40]}' is invalid. The supported versions look like "
            "'2026-09-01'.",
            code="InvalidApiVersionParameter",
        )
    return version


def _check_name(kind: str, value: str) -> None:
    if not 2 <= len(value) <= 64 or not _NAME.match(value):
        raise ArmError(
            400,
            f"The {kind} name '{value[:80]}' is invalid: 2 to 64 characters, letters, digits, "
            "'_', '.' or '-', starting with a letter or digit.",
            code="InvalidResourceName",
        )


ArmHandler = Callable[..., Response]


def arm_route(fn: ArmHandler) -> ArmHandler:
    """Wrap an ARM handler: bearer token, api-version and resource names checked first."""

    def handler(svc: Service, req: Request, **args: str) -> Response:
        request_id = str(uuid.uuid4())  # ARM's x-ms-request-id, on errors too
        try:
            _authorize(svc, req)
            version = _api_version(req)
            if "account" in args:
                _check_name("account", args["account"])
            if "name" in args:
                _check_name("deployment", args["name"])
            response = fn(svc, req, version, **args)
        except ApiError as exc:
            exc.headers["x-ms-request-id"] = request_id
            raise
        response.headers["x-ms-request-id"] = request_id
        return response

    handler.__doc__ = fn.__doc__
    handler.__name__ = fn.__name__
    return handler


__all__ = ["ArmError", "ArmHandler", "arm_route", "invalid"]
