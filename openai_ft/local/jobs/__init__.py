"""The job runner: the worker that trains jobs and runs batches (in this process or a thread),
and the detached job processes (``python -m openai_ft.local.jobs.jobproc``) with their leases."""
