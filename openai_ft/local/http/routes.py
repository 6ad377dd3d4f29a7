"""The route table: method, path template, endpoint function.

The OpenAI API is served under ``/v1``, and again for Azure clients under ``/openai/v1`` (the v1
data plane) and ``/openai`` (the classic data plane, where ``?api-version=`` is required and
chat goes through ``/openai/deployments/{deployment}/...``). The Azure control plane (ARM,
``/subscriptions/...``) is :mod:`openai_ft.local.azure.arm`.
"""

from __future__ import annotations

from openai_ft.local.api import batches, chat, files, jobs
from openai_ft.local.azure import arm, dataplane
from openai_ft.local.http.app import Handler, compile_routes

_JOB = "/v1/fine_tuning/jobs/{job_id}"

_OPENAI: list[tuple[str, str, Handler]] = [
    ("POST", "/v1/files", files.create_file),
    ("GET", "/v1/files", files.list_files),
    ("GET", "/v1/files/{file_id}", files.retrieve_file),
    ("DELETE", "/v1/files/{file_id}", files.delete_file),
    ("GET", "/v1/files/{file_id}/content", files.file_content),
    ("POST", "/v1/uploads", files.create_upload),
    ("POST", "/v1/uploads/{upload_id}/parts", files.add_part),
    ("POST", "/v1/uploads/{upload_id}/complete", files.complete_upload),
    ("POST", "/v1/uploads/{upload_id}/cancel", files.cancel_upload),
    ("POST", "/v1/fine_tuning/jobs", jobs.create_job),
    ("GET", "/v1/fine_tuning/jobs", jobs.list_jobs),
    ("GET", _JOB, jobs.retrieve_job),
    ("POST", _JOB + "/cancel", jobs.cancel_job),
    ("POST", _JOB + "/pause", jobs.pause_job),
    ("POST", _JOB + "/resume", jobs.resume_job),
    ("GET", _JOB + "/events", jobs.list_events),
    ("GET", _JOB + "/checkpoints", jobs.list_checkpoints),
    ("GET", "/v1/models", jobs.list_models),
    ("GET", "/v1/models/{model}", jobs.retrieve_model),
    ("DELETE", "/v1/models/{model}", jobs.delete_model),
    ("POST", "/v1/chat/completions", chat.chat_completion),
    ("POST", "/v1/batches", batches.create_batch),
    ("GET", "/v1/batches", batches.list_batches),
    ("GET", "/v1/batches/{batch_id}", batches.retrieve_batch),
    ("POST", "/v1/batches/{batch_id}/cancel", batches.cancel_batch),
]
_CLASSIC_CHAT = "/openai/deployments/{deployment}/chat/completions"

ROUTES = compile_routes(
    _OPENAI
    + [(method, "/openai" + path, handler) for method, path, handler in _OPENAI]
    + [
        (method, "/openai" + path.removeprefix("/v1"), dataplane.classic(handler))
        for method, path, handler in _OPENAI
    ]
    + [("POST", _CLASSIC_CHAT, dataplane.classic(dataplane.deployment_chat))]
    + arm.ROUTES
)
