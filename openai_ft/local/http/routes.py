"""The route table: method, path template, endpoint function."""

from __future__ import annotations

from openai_ft.local.api import batches, chat, files, jobs
from openai_ft.local.http.app import compile_routes

_JOB = "/v1/fine_tuning/jobs/{job_id}"

ROUTES = compile_routes(
    [
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
)
