"""The API handlers: plain functions ``(service, request, **path_args) -> Response`` per area
(files and uploads, fine-tuning jobs and models, chat completions, batches), and the request
checks they share (chat requests, job hyperparameters)."""
