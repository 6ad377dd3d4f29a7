"""HTTP and routing: :class:`~openai_ft.local.http.app.Service` (routing, key check, faults,
rate limits, the error envelope), the route table, the request gate, and the two ways in: the
in-process httpx2 transports and the stdlib threaded server of ``openai-ft serve``."""
