"""The ARM stand-in: Microsoft.CognitiveServices deployments (api-version 2026-09-01 shapes).

``PUT .../accounts/{account}/deployments/{name}`` creates (201, ``Azure-AsyncOperation`` and
``Retry-After``; ``Accepted`` -> ``Creating`` -> ``Succeeded`` over service-clock time) or updates
(200); ``GET`` reads one, the collection lists ``{value, nextLink}``; ``DELETE`` answers 202
(``location``, ``Retry-After``) and the deployment is ``Deleting`` until gone, 204 when absent.
Also the account itself, the region's model list (with ``deprecation`` dates from the catalog)
and the two long-running-operation monitors. Every route needs ``Authorization: Bearer <token>``
and ``?api-version=``; errors are ARM's ``{"error": {"code", "message"}}``, never a 500.
"""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime
from typing import Any

from openai_ft.local.azure import arm_body
from openai_ft.local.azure.arm_body import SNAPSHOT
from openai_ft.local.azure.arm_gate import ArmError, ArmHandler, arm_route
from openai_ft.local.azure.deployments import KIND, live, options, provisioning_state
from openai_ft.local.http.app import Service
from openai_ft.local.http.core import Request, Response

PROVIDER = "/providers/Microsoft.CognitiveServices"
SUB = "/subscriptions/{subscription}"
ACCOUNT = SUB + "/resourceGroups/{group}" + PROVIDER + "/accounts/{account}"
DEPLOYMENT = ACCOUNT + "/deployments/{name}"
LOCATION = SUB + PROVIDER + "/locations/{location}"
TYPE = "Microsoft.CognitiveServices/accounts/deployments"


# -- helpers ------------------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _origin(req: Request) -> str:
    return "http://" + req.headers.get("host", "management.azure.com")


def _account_id(subscription: str, group: str, account: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}{PROVIDER}/accounts/{account}"


def _op_url(req: Request, subscription: str, svc: Service, kind: str, op: str, version: str) -> str:
    loc = options(svc).location
    return (
        f"{_origin(req)}/subscriptions/{subscription}{PROVIDER}/locations/{loc}/{kind}/{op}"
        f"?api-version={version}"
    )


def public(dep: dict[str, Any], now: float, svc: Service) -> dict[str, Any]:
    """A stored deployment as ARM shows it (provisioning state computed at ``now``)."""
    state = provisioning_state(dep, now, options(svc)) or "Deleting"
    out = {k: v for k, v in dep.items() if not k.startswith("x_")}
    out["properties"] = {
        **dep["properties"],
        "provisioningState": state,
        "capabilities": {"chatCompletion": "true"},
    }
    out["etag"] = f'"{dep["x_etag"]}"'
    out["systemData"] = {
        "createdAt": _iso(dep["x_created"]),
        "createdByType": "User",
        "lastModifiedAt": _iso(dep["x_modified"]),
        "lastModifiedByType": "User",
    }
    return out


# -- deployments --------------------------------------------------------------------------------


@arm_route
def put_deployment(
    svc: Service, req: Request, version: str, subscription: str, group: str, account: str, name: str
) -> Response:
    """PUT a deployment: 201 (created, provisioning) or 200 (updated)."""
    body = arm_body.body(req)
    sku = arm_body.sku(body)
    props, target = arm_body.properties(svc, body)
    tags = arm_body.tags(body)
    key = _account_id(subscription, group, account) + f"/deployments/{name}"
    now = svc.clock()
    old = live(svc, key)
    if old is not None and old.get("x_deleting") is not None:
        raise ArmError(
            409,
            f"The deployment '{name}' is being deleted; try again when the delete has finished.",
            code="AnotherOperationInProgress",
        )
    op = secrets.token_hex(16)
    restart = old is None or old["x_target"] != target
    dep: dict[str, Any] = {
        "id": key,
        "name": name,
        "type": TYPE,
        "sku": sku,
        "properties": props,
        "x_target": target,
        "x_created": now if old is None else old["x_created"],
        "x_modified": now,
        "x_changed": now if restart else old["x_changed"],  # type: ignore[index]
        "x_deleting": None,
        "x_etag": secrets.token_hex(8),
    }
    if tags is not None:
        dep["tags"] = tags
    svc.state.arm_put(KIND, key, dep)
    response = Response.json(public(dep, now, svc), 201 if old is None else 200)
    if restart:
        svc.state.arm_put(
            "operation",
            f"operation:{op}",
            {"id": op, "x_kind": "create", "x_start": now, "x_target": key},
        )
        response.headers["azure-asyncoperation"] = _op_url(
            req, subscription, svc, "operationStatuses", op, version
        )
        response.headers["retry-after"] = str(max(1, math.ceil(options(svc).accept_s)))
    return response


@arm_route
def get_deployment(
    svc: Service, req: Request, version: str, subscription: str, group: str, account: str, name: str
) -> Response:
    """GET a deployment (404 ``DeploymentNotFound`` when there is none)."""
    key = _account_id(subscription, group, account) + f"/deployments/{name}"
    dep = live(svc, key)
    if dep is None:
        raise ArmError(
            404,
            f"The Deployment '{name}' under resource group '{group}' was not found.",
            code="DeploymentNotFound",
        )
    return Response.json(public(dep, svc.clock(), svc))


@arm_route
def list_deployments(
    svc: Service, req: Request, version: str, subscription: str, group: str, account: str
) -> Response:
    """GET the deployments of an account: ``{value, nextLink}`` pages."""
    prefix = _account_id(subscription, group, account) + "/deployments/"
    now = svc.clock()
    deps = [d for d in svc.state.arm_list(KIND, prefix) if live(svc, d["id"]) is not None]
    raw = req.arg("$skipToken") or "0"
    if not raw.isdigit():
        raise ArmError(400, f"Invalid $skipToken '{raw[:40]}'.", code="InvalidSkipToken")
    start, size = int(raw), options(svc).page_size
    page = deps[start : start + size]
    out: dict[str, Any] = {"value": [public(d, now, svc) for d in page]}
    if start + size < len(deps):
        out["nextLink"] = (
            f"{_origin(req)}{req.path}?api-version={version}&$skipToken={start + size}"
        )
    return Response.json(out)


@arm_route
def delete_deployment(
    svc: Service, req: Request, version: str, subscription: str, group: str, account: str, name: str
) -> Response:
    """DELETE a deployment: 202 while it is deleted, 204 when there is none."""
    key = _account_id(subscription, group, account) + f"/deployments/{name}"
    dep = live(svc, key)
    if dep is None:
        return Response(204)
    now = svc.clock()
    if dep.get("x_deleting") is None:
        svc.state.arm_put(KIND, key, {**dep, "x_deleting": now})
    op = secrets.token_hex(16)
    svc.state.arm_put(
        "operation",
        f"operation:{op}",
        {"id": op, "x_kind": "delete", "x_start": dep.get("x_deleting") or now, "x_target": key},
    )
    retry = str(max(1, math.ceil(options(svc).delete_s)))
    return Response(
        202,
        {
            "location": _op_url(req, subscription, svc, "operationResults", op, version),
            "azure-asyncoperation": _op_url(
                req, subscription, svc, "operationStatuses", op, version
            ),
            "retry-after": retry,
        },
    )


# -- long-running operations --------------------------------------------------------------------


def _operation(svc: Service, op: str) -> tuple[dict[str, Any], str]:
    """An operation and its status: InProgress, Succeeded or Canceled."""
    record = svc.state.arm_get(f"operation:{op}")
    if record is None:
        raise ArmError(404, f"The operation '{op[:64]}' was not found.", code="OperationNotFound")
    opts, now = options(svc), svc.clock()
    dep = svc.state.arm_get(record["x_target"])
    if record["x_kind"] == "delete":
        done = now - record["x_start"] >= opts.delete_s
        return record, "Succeeded" if done else "InProgress"
    if dep is None or (
        dep.get("x_deleting") is not None
        and dep["x_deleting"] < record["x_start"] + opts.provision_s
    ):
        return record, "Canceled"
    return record, "Succeeded" if now - record["x_start"] >= opts.provision_s else "InProgress"


@arm_route
def operation_status(
    svc: Service, req: Request, version: str, subscription: str, location: str, op: str
) -> Response:
    """GET an Azure-AsyncOperation monitor: ``{"status": "InProgress" | "Succeeded" | ...}``."""
    record, status = _operation(svc, op)
    out: dict[str, Any] = {
        "id": req.path,
        "name": op,
        "status": status,
        "startTime": _iso(record["x_start"]),
    }
    if status != "InProgress":
        opts = options(svc)
        took = opts.delete_s if record["x_kind"] == "delete" else opts.provision_s
        out["endTime"] = _iso(record["x_start"] + took)
    return Response.json(out)


@arm_route
def operation_result(
    svc: Service, req: Request, version: str, subscription: str, location: str, op: str
) -> Response:
    """GET a ``location`` monitor: 202 while running, then 204 (delete) or the deployment."""
    record, status = _operation(svc, op)
    if status == "InProgress":
        return Response(
            202,
            {"location": f"{_origin(req)}{req.path}?api-version={version}", "retry-after": "1"},
        )
    dep = live(svc, record["x_target"]) if record["x_kind"] == "create" else None
    return Response.json(public(dep, svc.clock(), svc)) if dep is not None else Response(204)


# -- the account and the region's models --------------------------------------------------------


@arm_route
def get_account(
    svc: Service, req: Request, version: str, subscription: str, group: str, account: str
) -> Response:
    """GET the account: any well-formed name exists here (the stand-in has every account)."""
    return Response.json(
        {
            "id": _account_id(subscription, group, account),
            "name": account,
            "type": "Microsoft.CognitiveServices/accounts",
            "location": options(svc).location,
            "kind": "OpenAI",
            "sku": {"name": "S0"},
            "properties": {
                "provisioningState": "Succeeded",
                "endpoint": f"{_origin(req)}/",
                "customSubDomainName": account,
            },
        }
    )


def _model_entry(snapshot: str) -> dict[str, Any]:
    from openai_ft.catalog import model_field

    match = SNAPSHOT.match(snapshot)
    name, version = (match.group("name"), match.group("version")) if match else (snapshot, "1")
    deprecation = {
        "fineTune": model_field(snapshot, "azure_fine_tune_retirement"),
        "inference": model_field(snapshot, "shutdown_date"),
    }
    return {
        "kind": "OpenAI",
        "skuName": "S0",
        "description": f"{name} ({version})",
        "model": {
            "format": "OpenAI",
            "name": name,
            "version": version,
            "isDefaultVersion": True,
            "lifecycleStatus": "GenerallyAvailable",
            "capabilities": {"chatCompletion": "true", "fineTune": "true"},
            "skus": [
                {"name": sku, "usageName": f"OpenAI.{sku}.{name}", "capacity": {"default": 1}}
                for sku in ("Standard", "GlobalStandard", "DeveloperTier")
            ],
            "deprecation": {k: f"{v}T00:00:00Z" for k, v in deprecation.items() if v},
        },
    }


@arm_route
def list_models(
    svc: Service, req: Request, version: str, subscription: str, location: str
) -> Response:
    """GET the models of a region, with ``deprecation.fineTune`` / ``deprecation.inference``."""
    from openai_ft.local.api.jobs import BASE_MODELS

    return Response.json({"value": [_model_entry(m) for m in BASE_MODELS]})


ROUTES: list[tuple[str, str, ArmHandler]] = [
    ("GET", ACCOUNT, get_account),
    ("GET", ACCOUNT + "/deployments", list_deployments),
    ("PUT", DEPLOYMENT, put_deployment),
    ("GET", DEPLOYMENT, get_deployment),
    ("DELETE", DEPLOYMENT, delete_deployment),
    ("GET", LOCATION + "/models", list_models),
    ("GET", LOCATION + "/operationStatuses/{op}", operation_status),
    ("GET", LOCATION + "/operationResults/{op}", operation_result),
]

__all__ = ["ROUTES", "ArmError", "arm_route", "public"]
