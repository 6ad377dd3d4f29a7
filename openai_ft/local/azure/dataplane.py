"""Azure's classic data plane: ``/openai/...?api-version=`` and per-deployment chat paths."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from openai_ft.local.http.core import ApiError, Request, Response

if TYPE_CHECKING:
    from openai_ft.local.http.app import Handler, Service

_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def require_api_version(req: Request) -> str:
    """The request's ``api-version`` (the classic Azure data plane needs one), or a 400."""
    version = req.arg("api-version")
    if not version or not _API_VERSION.match(version):
        raise ApiError(
            400,
            "Missing or invalid query parameter 'api-version' (e.g. ?api-version=2024-10-21); "
            "or use the v1 data plane under /openai/v1/, which needs none.",
            param="api-version",
            code="MissingApiVersionParameter" if not version else "InvalidApiVersionParameter",
        )
    return version


def classic(handler: Handler) -> Handler:
    """``handler`` behind the classic data plane's ``api-version`` check."""

    def wrapped(svc: Service, req: Request, **args: str) -> Response:
        require_api_version(req)
        return handler(svc, req, **args)

    wrapped.__doc__ = handler.__doc__
    wrapped.__name__ = handler.__name__
    return wrapped


def deployment_chat(svc: Service, req: Request, deployment: str) -> Response:
    """POST /openai/deployments/{deployment}/chat/completions: chat with a deployment's model."""
    from openai_ft.local.api.chat import answer
    from openai_ft.local.azure.deployments import route_chat

    body = route_chat(svc, req.json(), deployment)
    return answer(svc, body, routed=True)


__all__ = ["classic", "deployment_chat", "require_api_version"]
