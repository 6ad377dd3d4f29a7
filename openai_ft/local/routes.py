"""The route table: method, path template, endpoint function."""

from __future__ import annotations

from openai_ft.local import api_batches, api_chat, api_files, api_jobs
from openai_ft.local.app import compile_routes

_JOB = "/v1/fine_tuning/jobs/{job_id}"

ROUTES = compile_routes(
    [
        ("POST", "/v1/files", api_files.create_file),
        ("GET", "/v1/files", api_files.list_files),
        ("GET", "/v1/files/{file_id}", api_files.retrieve_file),
        ("DELETE", "/v1/files/{file_id}", api_files.delete_file),
        ("GET", "/v1/files/{file_id}/content", api_files.file_content),
        ("POST", "/v1/uploads", api_files.create_upload),
        ("POST", "/v1/uploads/{upload_id}/parts", api_files.add_part),
        ("POST", "/v1/uploads/{upload_id}/complete", api_files.complete_upload),
        ("POST", "/v1/uploads/{upload_id}/cancel", api_files.cancel_upload),
        ("POST", "/v1/fine_tuning/jobs", api_jobs.create_job),
        ("GET", "/v1/fine_tuning/jobs", api_jobs.list_jobs),
        ("GET", _JOB, api_jobs.retrieve_job),
        ("POST", _JOB + "/cancel", api_jobs.cancel_job),
        ("POST", _JOB + "/pause", api_jobs.pause_job),
        ("POST", _JOB + "/resume", api_jobs.resume_job),
        ("GET", _JOB + "/events", api_jobs.list_events),
        ("GET", _JOB + "/checkpoints", api_jobs.list_checkpoints),
        ("GET", "/v1/models", api_jobs.list_models),
        ("GET", "/v1/models/{model}", api_jobs.retrieve_model),
        ("DELETE", "/v1/models/{model}", api_jobs.delete_model),
        ("POST", "/v1/chat/completions", api_chat.chat_completion),
        ("POST", "/v1/batches", api_batches.create_batch),
        ("GET", "/v1/batches", api_batches.list_batches),
        ("GET", "/v1/batches/{batch_id}", api_batches.retrieve_batch),
        ("POST", "/v1/batches/{batch_id}/cancel", api_batches.cancel_batch),
    ]
)
