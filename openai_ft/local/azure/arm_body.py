"""The body of a deployment PUT, checked as ARM checks it: sku, model, writable properties, tags.

The model must be one this resource can serve: a base model (``gpt-4.1-mini`` with a version,
or a full snapshot name), a registered open-weight model, or a fine-tuned model (or checkpoint)
whose job succeeded.
"""

from __future__ import annotations

import re
from typing import Any

from openai_ft.local.azure.arm_gate import ArmError, invalid
from openai_ft.local.http.app import Service
from openai_ft.local.http.core import ApiError, Request

SKUS = ("Standard", "GlobalStandard", "DataZoneStandard", "DeveloperTier", "ProvisionedManaged")
SNAPSHOT = re.compile(r"^(?P<name>.+)-(?P<version>\d{4}-\d{2}-\d{2})$")
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


def sku(body: dict[str, Any]) -> dict[str, Any]:
    sku = body.get("sku")
    if not isinstance(sku, dict) or not isinstance(sku.get("name"), str) or not sku["name"]:
        raise invalid("The 'sku' of a deployment is required and needs a 'name' (e.g. Standard).")
    if sku["name"] not in SKUS:
        raise invalid(
            f"The SKU '{sku['name'][:40]}' is not supported for this model; use one of "
            f"{', '.join(SKUS)}.",
            code="InvalidSkuName",
        )
    capacity = sku.get("capacity", 1)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= _INT32:
        raise invalid(f"Invalid sku.capacity {capacity!r}: expected an integer of at least 1.")
    for key in ("tier", "size", "family"):
        if key in sku and not isinstance(sku[key], str):
            raise invalid(f"Invalid sku.{key}: expected a string.")
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
        return name, version or SNAPSHOT.match(name).group("version")  # type: ignore[union-attr]
    if name in ALIASES:
        snapshot = ALIASES[name] if version is None else f"{name}-{version}"
        if snapshot not in BASE_MODELS:
            versions = [m.removeprefix(name + "-") for m in BASE_MODELS if m.startswith(name + "-")]
            raise invalid(
                f"The model '{name}' has no version '{version}'; versions: {', '.join(versions)}.",
                code="DeploymentModelNotSupported",
            )
        return snapshot, snapshot.removeprefix(name + "-")
    if hf_alias(svc, name) == name:
        return name, version or "1"
    stored = svc.state.get("model", name)
    if stored is None:
        raise invalid(
            f"The model '{name[:120]}' does not exist in this resource: deploy a base model or "
            "a fine-tuned model whose job succeeded.",
            code="DeploymentModelNotSupported",
        )
    job = svc.state.get("job", stored.get("x_job", ""))
    if not stored.get("x_checkpoint") and (job is None or job["status"] != "succeeded"):
        raise invalid(
            f"The fine-tuned model '{name}' is not ready: its job has not succeeded.",
            code="DeploymentModelNotSupported",
        )
    return name, version or "1"


def properties(svc: Service, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    props = body.get("properties")
    if not isinstance(props, dict):
        raise invalid("The 'properties' of a deployment are required (with a 'model').")
    model = props.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or not model["name"]:
        raise invalid("properties.model.name is required: the model to deploy.")
    for key in ("format", "version", "publisher", "source", "sourceAccount"):
        if key in model and not isinstance(model[key], str):
            raise invalid(f"Invalid properties.model.{key}: expected a string.")
    if model.get("format", "OpenAI") != "OpenAI":
        raise invalid(
            f"Invalid properties.model.format '{model['format'][:40]}': this resource serves "
            "'OpenAI' models.",
            code="DeploymentModelNotSupported",
        )
    target, version = _resolve_model(svc, model)
    out: dict[str, Any] = {"model": {**model, "format": "OpenAI", "version": version}}
    for key, allowed in _ENUMS.items():
        if props.get(key) is not None:
            if props[key] not in allowed:
                raise invalid(f"Invalid properties.{key}: expected one of {', '.join(allowed)}.")
            out[key] = props[key]
    for key in ("raiPolicyName", "spilloverDeploymentName"):
        if props.get(key) is not None:
            if not isinstance(props[key], str):
                raise invalid(f"Invalid properties.{key}: expected a string.")
            out[key] = props[key]
    out.setdefault("raiPolicyName", "Microsoft.DefaultV2")
    out.setdefault("versionUpgradeOption", "NoAutoUpgrade")
    return out, target


def tags(body: dict[str, Any]) -> dict[str, str] | None:
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise invalid("Invalid 'tags': an object of string values.")
    return tags


def body(req: Request) -> dict[str, Any]:
    try:
        return req.json()
    except ApiError as exc:
        raise ArmError(400, exc.message, code="InvalidRequestContent") from None


__all__ = ["SKUS", "SNAPSHOT", "body", "properties", "sku", "tags"]
