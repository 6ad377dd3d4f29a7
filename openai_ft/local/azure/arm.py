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

import hmac
import math
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from openai_ft.local.azure.deployments import KIND, live, options, provisioning_state
from openai_ft.local.http.app import Service
from openai_ft.local.http.core import ApiError, Request, Response

PROVIDER = "/providers/Microsoft.CognitiveServices"
SUB = "/subscriptions/{subscription}"
ACCOUNT = SUB + "/resourceGroups/{group}" + PROVIDER + "/accounts/{account}"
DEPLOYMENT = ACCOUNT + "/deployments/{name}"
LOCATION = SUB + PROVIDER + "/locations/{location}"
TYPE = "Microsoft.CognitiveServices/accounts/deployments"
SKUS = ("Standard", "GlobalStandard", "DataZoneStandard", "DeveloperTier", "ProvisionedManaged")
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_SNAPSHOT = re.compile(r"^(?P<name>.+)-(?P<version>\d{4}-\d{2}-\d{2})$")
_ENUMS = {
    "versionUpgradeOption": (
        "OnceNewDefaultVersionAvailable",
        "OnceCurrentVersionExpired",
        "NoAutoUpgrade",
    ),
    "deploymentState": ("Running", "Paused"),
    "serviceTier": ("Default", "Priority"),
}
_INT32 = 2**31 - 1


class ArmError(ApiError):
    """An error in ARM's shape: ``{"error": {"code": ..., "message": ...}}``."""

    def envelope(self) -> dict[str, Any]:
        """ARM's ErrorResponse body."""
        return {"error": {"code": self.code, "message": self.message}}


def _invalid(message: str, code: str = "InvalidResourceProperties") -> ArmError:
    return ArmError(400, message, code=code)


# -- the checks every route makes ---------------------------------------------------------------


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
        _authorize(svc, req)
        version = _api_version(req)
        if "account" in args:
            _check_name("account", args["account"])
        if "name" in args:
            _check_name("deployment", args["name"])
        return fn(svc, req, version, **args)

    handler.__doc__ = fn.__doc__
    handler.__name__ = fn.__name__
    return handler


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


# -- request body -------------------------------------------------------------------------------


def _sku(body: dict[str, Any]) -> dict[str, Any]:
    sku = body.get("sku")
    if not isinstance(sku, dict) or not isinstance(sku.get("name"), str) or not sku["name"]:
        raise _invalid("The 'sku' of a deployment is required and needs a 'name' (e.g. Standard).")
    if sku["name"] not in SKUS:
        raise _invalid(
            f"The SKU '{sku['name'][:40]}' is not supported for this model; use one of "
            f"{', '.join(SKUS)}.",
            code="InvalidSkuName",
        )
    capacity = sku.get("capacity", 1)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= _INT32:
        raise _invalid(f"Invalid sku.capacity {capacity!r}: expected an integer of at least 1.")
    for key in ("tier", "size", "family"):
        if key in sku and not isinstance(sku[key], str):
            raise _invalid(f"Invalid sku.{key}: expected a string.")
    return {
        **{k: sku[k] for k in ("name", "tier", "size", "family") if k in sku},
        "capacity": capacity,
    }


def _resolve_model(svc: Service, model: dict[str, Any]) -> tuple[str, str]:
    """The local model id a deployment serves, and the version shown."""
    from openai_ft.local.api.jobs import ALIASES, BASE_MODELS
    from openai_ft.local.engines import hf_alias

    name, version = model["name"], model.get("version")
    if name in BASE_MODELS:
        return name, version or _SNAPSHOT.match(name).group("version")  # type: ignore[union-attr]
    if name in ALIASES:
        snapshot = ALIASES[name] if version is None else f"{name}-{version}"
        if snapshot not in BASE_MODELS:
            versions = [m.removeprefix(name + "-") for m in BASE_MODELS if m.startswith(name + "-")]
            raise _invalid(
                f"The model '{name}' has no version '{version}'; versions: {', '.join(versions)}.",
                code="DeploymentModelNotSupported",
            )
        return snapshot, snapshot.removeprefix(name + "-")
    if hf_alias(svc, name) == name:
        return name, version or "1"
    stored = svc.state.get("model", name)
    if stored is None:
        raise _invalid(
            f"The model '{name[:120]}' does not exist in this resource: deploy a base model or "
            "a fine-tuned model whose job succeeded.",
            code="DeploymentModelNotSupported",
        )
    job = svc.state.get("job", stored.get("x_job", ""))
    if not stored.get("x_checkpoint") and (job is None or job["status"] != "succeeded"):
        raise _invalid(
            f"The fine-tuned model '{name}' is not ready: its job has not succeeded.",
            code="DeploymentModelNotSupported",
        )
    return name, version or "1"


def _properties(svc: Service, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    props = body.get("properties")
    if not isinstance(props, dict):
        raise _invalid("The 'properties' of a deployment are required (with a 'model').")
    model = props.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or not model["name"]:
        raise _invalid("properties.model.name is required: the model to deploy.")
    for key in ("format", "version", "publisher", "source", "sourceAccount"):
        if key in model and not isinstance(model[key], str):
            raise _invalid(f"Invalid properties.model.{key}: expected a string.")
    if model.get("format", "OpenAI") != "OpenAI":
        raise _invalid(
            f"Invalid properties.model.format '{model['format'][:40]}': this resource serves "
            "'OpenAI' models.",
            code="DeploymentModelNotSupported",
        )
    target, version = _resolve_model(svc, model)
    out: dict[str, Any] = {"model": {**model, "format": "OpenAI", "version": version}}
    for key, allowed in _ENUMS.items():
        if props.get(key) is not None:
            if props[key] not in allowed:
                raise _invalid(f"Invalid properties.{key}: expected one of {', '.join(allowed)}.")
            out[key] = props[key]
    for key in ("raiPolicyName", "spilloverDeploymentName"):
        if props.get(key) is not None:
            if not isinstance(props[key], str):
                raise _invalid(f"Invalid properties.{key}: expected a string.")
            out[key] = props[key]
    out.setdefault("raiPolicyName", "Microsoft.DefaultV2")
    out.setdefault("versionUpgradeOption", "NoAutoUpgrade")
    return out, target


def _tags(body: dict[str, Any]) -> dict[str, str] | None:
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise _invalid("Invalid 'tags': an object of string values.")
    return tags


def _body(req: Request) -> dict[str, Any]:
    try:
        return req.json()
    except ApiError as exc:
        raise ArmError(400, exc.message, code="InvalidRequestContent") from None


# -- deployments --------------------------------------------------------------------------------


@arm_route
def put_deployment(
    svc: Service, req: Request, version: str, subscription: str, group: str, account: str, name: str
) -> Response:
    """PUT a deployment: 201 (created, provisioning) or 200 (updated)."""
    body = _body(req)
    sku = _sku(body)
    props, target = _properties(svc, body)
    tags = _tags(body)
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

    match = _SNAPSHOT.match(snapshot)
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
