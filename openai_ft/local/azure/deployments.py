"""Deployments as the service keeps them: a timeline read against the clock, and chat routing.

A stored deployment holds when its provisioning started (``x_changed``) and, once deleted, when
the delete started (``x_deleting``); its provisioning state is computed from those and the
service clock on every read, so separate processes on one state folder agree on it without a
background task, and a test moves it by moving its clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openai_ft.local.azure import AzureOptions
from openai_ft.local.http.core import ApiError

if TYPE_CHECKING:
    from openai_ft.local.http.app import Service

KIND = "deployment"
NOT_FOUND_MESSAGE = (
    "The API deployment for this resource does not exist. If you created the deployment "
    "within the last 5 minutes, please wait a moment and try again."
)
DEFAULT_OPTIONS = AzureOptions()


def options(svc: Service) -> AzureOptions:
    """The service's Azure options (the defaults when it is not in Azure mode)."""
    return svc.settings.azure or DEFAULT_OPTIONS


def is_azure(svc: Service) -> bool:
    """True when the service plays Azure (``serve --azure``)."""
    return svc.settings.azure is not None


def provisioning_state(dep: dict[str, Any], now: float, opts: AzureOptions) -> str | None:
    """``Accepted``/``Creating``/``Succeeded``/``Deleting`` at ``now``; None once deleted."""
    deleting = dep.get("x_deleting")
    if deleting is not None:
        return "Deleting" if now - deleting < opts.delete_s else None
    elapsed = now - dep["x_changed"]
    if elapsed < opts.accept_s:
        return "Accepted"
    if elapsed < opts.provision_s:
        return "Creating"
    return "Succeeded"


def answers(dep: dict[str, Any], now: float, opts: AzureOptions) -> bool:
    """True once a deployment has been Succeeded for longer than the not-ready window."""
    if dep.get("x_deleting") is not None:
        return False
    return bool(now - dep["x_changed"] >= opts.provision_s + opts.not_ready_s)


def live(svc: Service, key: str) -> dict[str, Any] | None:
    """The deployment stored under ARM id ``key`` unless it is gone."""
    dep = svc.state.arm_get(key)
    if dep is None or provisioning_state(dep, svc.clock(), options(svc)) is None:
        return None
    return dep


def by_name(svc: Service, name: str) -> dict[str, Any] | None:
    """The newest live deployment called ``name`` in any account (the data plane sees them all)."""
    now, opts = svc.clock(), options(svc)
    found = [
        d
        for d in svc.state.arm_list(KIND)
        if d["name"].lower() == name.lower() and provisioning_state(d, now, opts) is not None
    ]
    return found[-1] if found else None


def deployment_not_found() -> ApiError:
    """Azure's 404 for a deployment that does not exist (or does not answer yet)."""
    return ApiError(404, NOT_FOUND_MESSAGE, code="DeploymentNotFound")


def route_chat(svc: Service, body: dict[str, Any], deployment: str | None = None) -> dict[str, Any]:
    """The chat body with ``model`` replaced by the model behind its deployment.

    ``deployment`` is the name from a classic ``/openai/deployments/{name}/...`` path; without
    it the body's ``model`` names the deployment (the v1 data plane). In Azure mode a name
    that is no answering deployment is a 404; otherwise a name without a deployment is taken
    as a model id, as OpenAI does.
    """
    name = deployment if deployment is not None else body.get("model")
    if not isinstance(name, str) or not name:
        return body
    dep = by_name(svc, name)
    if dep is None:
        if is_azure(svc):
            raise deployment_not_found()
        return {**body, "model": name}
    if not answers(dep, svc.clock(), options(svc)):
        raise deployment_not_found()
    return {**body, "model": dep["x_target"]}


__all__ = [
    "KIND",
    "NOT_FOUND_MESSAGE",
    "answers",
    "by_name",
    "deployment_not_found",
    "is_azure",
    "live",
    "options",
    "provisioning_state",
    "route_chat",
]
