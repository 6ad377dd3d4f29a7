"""Fine-tuning jobs and models endpoints."""

from __future__ import annotations

import re
import uuid
from typing import Any

from openai_ft.local.api.hyperparams import (
    AZURE_ONLY,
    check_job_options,
    check_training_type,
    with_azure,
)
from openai_ft.local.engines import hf_alias, hf_base_models, job_spec
from openai_ft.local.http.app import Service, list_body, paginate_args
from openai_ft.local.http.core import ApiError, Request, Response, new_id, not_found
from openai_ft.local.jobs.launch import job_runnable

ORG = "local"
BASE_MODELS = (
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
)
ALIASES = {
    "gpt-4o": BASE_MODELS[0],
    "gpt-4o-mini": BASE_MODELS[1],
    "gpt-4.1": BASE_MODELS[2],
    "gpt-4.1-mini": BASE_MODELS[3],
    "gpt-4.1-nano": BASE_MODELS[4],
}
TERMINAL = ("succeeded", "failed", "cancelled")


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without our private ``x_`` fields."""
    return {k: v for k, v in obj.items() if not k.startswith("x_")}


def is_fine_tuned(model: str) -> bool:
    """True for a fine-tuned or checkpoint id: OpenAI's ``ft:...`` or Azure's ``<base>.ft-<hex>``."""
    return model.startswith("ft:") or ".ft-" in model


def base_model_of(model: str) -> str:
    """The base snapshot behind an alias, a ``ft:`` id or an Azure ``<base>.ft-<hex>`` id."""
    name = model.split(":")[1] if model.startswith("ft:") else model.split(".ft-")[0]
    return ALIASES.get(name, name)


def shutdown_date(model: str) -> str | None:
    """The catalog's shutdown date for a base model."""
    from openai_ft.catalog import model_info

    return model_info(model).shutdown_date


# -- models -------------------------------------------------------------------------------------


def _base_model_obj(name: str) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": 1700000000,
        "owned_by": "system",
        "shutdown_date": shutdown_date(name),
    }


def list_models(svc: Service, req: Request) -> Response:
    """GET /v1/models: base snapshots, their aliases and our fine-tuned models."""
    data = [_base_model_obj(m) for m in (*BASE_MODELS, *ALIASES)]
    data += hf_base_models(svc)
    data += [public(m) for m in svc.state.all("model") if not m.get("x_checkpoint")]
    return Response.json({"object": "list", "data": data})


def retrieve_model(svc: Service, req: Request, model: str) -> Response:
    """GET /v1/models/{id}."""
    if model in BASE_MODELS or model in ALIASES:
        return Response.json(_base_model_obj(model))
    hf_base = [m for m in hf_base_models(svc) if m["id"] == model]
    if hf_base:
        return Response.json(hf_base[0])
    obj = svc.state.get("model", model)
    if obj is None:
        raise not_found("model", model, "model")
    return Response.json(public(obj))


def delete_model(svc: Service, req: Request, model: str) -> Response:
    """DELETE /v1/models/{id} (fine-tuned models only)."""
    if model in BASE_MODELS or model in ALIASES or hf_alias(svc, model) == model:
        raise ApiError(
            403,
            f"You cannot delete the base model '{model}'; only fine-tuned models can be deleted.",
            code="model_not_deletable",
        )
    obj = svc.state.get("model", model)
    if obj is None:
        raise not_found("model", model, "model")
    svc.state.delete(model)
    svc.state.delete_blob(obj["x_blob"])
    svc.forget_model(model)
    return Response.json({"id": model, "object": "model", "deleted": True})


def model_exists(svc: Service, model: str) -> bool:
    """True for a base model, an alias, or one of our fine-tuned/checkpoint models."""
    if model in BASE_MODELS or model in ALIASES or svc.state.get("model", model) is not None:
        return True
    return hf_alias(svc, model) is not None


def require_model(svc: Service, body: dict[str, Any], status: int, message: str, code: str) -> str:
    """The body's ``model``; missing is a 400, unknown is ``status``/``message``/``code``.

    ``message`` is formatted with ``model=``: each endpoint answers an unknown model its own way
    (chat 404 ``model_not_found``, jobs 400 ``model_not_available``), as OpenAI does.
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(
            400,
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    if not model_exists(svc, model):
        raise ApiError(status, message.format(model=model), param="model", code=code)
    return model


# -- jobs ---------------------------------------------------------------------------------------


def _file_param(svc: Service, body: dict[str, Any], name: str, required: bool) -> str | None:
    file_id = body.get(name)
    if file_id is None and not required:
        return None
    if not isinstance(file_id, str) or not file_id:
        raise ApiError(
            400,
            f"Missing required parameter: '{name}'.",
            param=name,
            code="missing_required_parameter",
        )
    obj = svc.state.get("file", file_id)
    if obj is None:
        raise ApiError(
            400,
            f"invalid {name}: {file_id} does not exist; upload it with purpose 'fine-tune' first.",
            param=name,
            code="invalid_file",
        )
    if obj["purpose"] != "fine-tune":
        raise ApiError(
            400,
            f"invalid {name}: {file_id} has purpose '{obj['purpose']}', expected 'fine-tune'.",
            param=name,
            code="invalid_file_purpose",
        )
    return file_id


def check_metadata(metadata: Any) -> dict[str, str] | None:
    """``metadata``: up to 16 pairs, keys up to 64 characters, values up to 512, all strings."""
    if metadata is None:
        return None
    if (
        not isinstance(metadata, dict)
        or len(metadata) > 16
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
            for k, v in metadata.items()
        )
    ):
        raise ApiError(
            400,
            "Invalid 'metadata': up to 16 string keys (64 characters at most) with string values "
            "(512 characters at most).",
            param="metadata",
            code="invalid_value",
        )
    return metadata


def _wandb_problem(entry: Any) -> str | None:
    """What is wrong with one ``integrations`` entry, or None for a well-formed wandb entry."""
    if not isinstance(entry, dict) or entry.get("type") != "wandb":
        return "expected {'type': 'wandb', 'wandb': {...}}"
    wandb = entry.get("wandb")
    if not isinstance(wandb, dict) or not isinstance(wandb.get("project"), str):
        return "'wandb' needs a string 'project'"
    for key in ("name", "entity"):
        if wandb.get(key) is not None and not isinstance(wandb[key], str):
            return f"'wandb.{key}' must be a string or null"
    tags = wandb.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        return "'wandb.tags' must be a list of strings"
    return None


def _check_integrations(integrations: Any) -> list[Any] | None:
    """``integrations``: null or a list of well-formed wandb entries."""
    if integrations is None:
        return None
    if not isinstance(integrations, list):
        raise ApiError(
            400,
            "Invalid 'integrations': expected a list.",
            param="integrations",
            code="invalid_value",
        )
    for i, entry in enumerate(integrations):
        problem = _wandb_problem(entry)
        if problem is not None:
            raise ApiError(
                400,
                f"Invalid 'integrations[{i}]': {problem}.",
                param=f"integrations[{i}]",
                code="invalid_value",
            )
    return integrations


def create_job(svc: Service, req: Request) -> Response:
    """POST /v1/fine_tuning/jobs."""
    body = req.json()
    model = require_model(
        svc,
        body,
        400,
        "Model {model} is not available for fine-tuning or does not exist.",
        "model_not_available",
    )
    training = _file_param(svc, body, "training_file", True)
    validation = _file_param(svc, body, "validation_file", False)
    azure = svc.settings.azure is not None
    spec = with_azure(job_spec(svc, model)) if azure else job_spec(svc, model)
    options = check_job_options(body, spec, azure=azure)
    kind, hps, suffix = options.method, options.hyperparameters, options.suffix
    training_type = check_training_type(body.get("trainingType")) if azure else None
    seed = options.seed
    if seed is None:
        seed = int.from_bytes(new_id("", 8).encode()[:4], "big") % 2**31
    metadata = check_metadata(body.get("metadata"))
    integrations = _check_integrations(body.get("integrations"))
    job_id = new_id("ftjob-")
    job = {
        "id": job_id,
        "object": "fine_tuning.job",
        "created_at": svc.now(),
        "error": None,
        "fine_tuned_model": None,
        "finished_at": None,
        "hyperparameters": {k: v for k, v in hps.items() if k != "beta"},
        "model": model,
        "organization_id": f"org-{ORG}",
        "result_files": [],
        "seed": seed,
        "status": "validating_files",
        "trained_tokens": None,
        "training_file": training,
        "validation_file": validation,
        "integrations": integrations,
        "metadata": metadata,
        "estimated_finish": None,
        "user_provided_suffix": suffix,
        "method": {"type": kind, kind: {"hyperparameters": hps}},
        "x_last_step": 0,
        "x_total_steps": None,
    }
    if azure:
        _azure_job(job, training_type)
    svc.state.put("job", job)
    add_event(svc, job_id, f"Created fine-tuning job: {job_id}")
    job_runnable(svc, job_id)  # wakes the worker, or starts the job's own process
    return Response.json(public(job))


def _azure_job(job: dict[str, Any], training_type: str | None) -> None:
    """Azure's shape of a new job: its model id fixed now, Azure-only settings kept.

    The fine-tuned id is ``<base>.ft-<32 hex>[-suffix]`` and is chosen at creation, so every
    process that trains the job names the model alike. Azure-only hyperparameters the
    request set are kept on the job (the stand-in engines do not use them).
    """
    suffix = job["user_provided_suffix"]
    name = f"{base_model_of(job['model'])}.ft-{uuid.uuid4().hex}"
    job["x_ft_name"] = name + (f"-{suffix}" if suffix else "")
    job["x_azure"] = True
    kind = job["method"]["type"]
    hps = job["method"][kind]["hyperparameters"]
    extra = {k: hps.pop(k) for k in AZURE_ONLY.get(kind, {}) if k in hps}
    job["x_extra_hyperparameters"] = {k: v for k, v in extra.items() if v != "auto"}
    job["hyperparameters"] = {k: v for k, v in hps.items() if k != "beta"}
    job["hyperparameters"].update(job["x_extra_hyperparameters"])
    hps.update(job["x_extra_hyperparameters"])
    if training_type is not None:
        job["trainingType"] = training_type


def checkpoint_id(job: dict[str, Any] | None) -> str:
    """A new checkpoint id: Azure's ``ftchkpt-<32 hex>`` for an Azure job, else ``ftckpt_...``."""
    if job is not None and job.get("x_azure"):
        return f"ftchkpt-{uuid.uuid4().hex}"
    return new_id("ftckpt_")


def add_event(
    svc: Service,
    job_id: str,
    message: str,
    *,
    level: str = "info",
    kind: str = "message",
    data: dict[str, Any] | None = None,
) -> None:
    """Append an event to a job's log."""
    svc.state.put(
        "event",
        {
            "id": new_id("ftevent-"),
            "object": "fine_tuning.job.event",
            "created_at": svc.now(),
            "level": level,
            "message": message,
            "type": kind,
            "data": data or {},
        },
        parent=job_id,
    )


def get_job(svc: Service, job_id: str) -> dict[str, Any]:
    """The job (with private fields) or a 404."""
    job = svc.state.get("job", job_id)
    if job is None:
        raise not_found("fine-tuning job", job_id)
    return job


def list_jobs(svc: Service, req: Request) -> Response:
    """GET /v1/fine_tuning/jobs (newest first, ``metadata[k]=v`` filters)."""
    metadata = {}
    for key, value in req.query:
        m = re.fullmatch(r"metadata\[(.+)\]", key, re.S)
        if m:
            metadata[m.group(1)] = value
    items, more = svc.state.page("job", metadata=metadata, **paginate_args(req))
    return Response.json({"object": "list", "data": [public(j) for j in items], "has_more": more})


def retrieve_job(svc: Service, req: Request, job_id: str) -> Response:
    """GET /v1/fine_tuning/jobs/{id}."""
    return Response.json(public(get_job(svc, job_id)))


def _transition(
    svc: Service, job_id: str, allowed: tuple[str, ...], new: str, verb: str
) -> dict[str, Any]:
    get_job(svc, job_id)
    seen: dict[str, Any] = {}

    def change(job: dict[str, Any]) -> dict[str, Any] | None:
        seen.update(job)
        if job["status"] not in allowed:
            return None
        return {**job, "status": new, "estimated_finish": None}

    job = svc.state.mutate("job", job_id, change)
    if job is None or seen.get("status") not in allowed:
        raise ApiError(
            400,
            f"Cannot {verb} job {job_id}: its status is '{seen.get('status')}'.",
            param="job_id",
            code="invalid_job_status",
        )
    return job


def cancel_job(svc: Service, req: Request, job_id: str) -> Response:
    """POST /v1/fine_tuning/jobs/{id}/cancel."""
    job = _transition(
        svc, job_id, ("validating_files", "queued", "running", "paused"), "cancelled", "cancel"
    )
    add_event(svc, job_id, "Fine-tuning job cancelled")
    return Response.json(public(job))


def pause_job(svc: Service, req: Request, job_id: str) -> Response:
    """POST /v1/fine_tuning/jobs/{id}/pause."""
    job = _transition(svc, job_id, ("validating_files", "queued", "running"), "paused", "pause")
    add_event(svc, job_id, "Fine-tuning job paused")
    return Response.json(public(job))


def resume_job(svc: Service, req: Request, job_id: str) -> Response:
    """POST /v1/fine_tuning/jobs/{id}/resume."""
    job = _transition(svc, job_id, ("paused",), "queued", "resume")
    job = (
        svc.state.mutate(
            "job",
            job_id,
            lambda j: {
                **j,
                "status": "validating_files" if j["x_total_steps"] is None else "queued",
            },
        )
        or job
    )
    add_event(svc, job_id, "Fine-tuning job resumed")
    job_runnable(svc, job_id)  # wakes the worker, or starts the job's own process
    return Response.json(public(job))


def list_events(svc: Service, req: Request, job_id: str) -> Response:
    """GET /v1/fine_tuning/jobs/{id}/events (newest first)."""
    get_job(svc, job_id)
    args = paginate_args(req)
    args["order"] = "desc"
    items, more = svc.state.page("event", parent=job_id, **args)
    return Response.json({"object": "list", "data": items, "has_more": more})


def list_checkpoints(svc: Service, req: Request, job_id: str) -> Response:
    """GET /v1/fine_tuning/jobs/{id}/checkpoints (newest first)."""
    get_job(svc, job_id)
    args = paginate_args(req, default_limit=10)
    args["order"] = "desc"
    items, more = svc.state.page("checkpoint", parent=job_id, **args)
    return Response.json(list_body(items, more))
