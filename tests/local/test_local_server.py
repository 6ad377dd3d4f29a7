"""The service over a real loopback socket, and the ``serve`` command's pieces."""

from __future__ import annotations

import io
from pathlib import Path

import httpx2
import openai
import pytest

from openai_ft.local import FaultRule, LocalService
from openai_ft.local.http.server import LocalServer

from .conftest import SpecChecked, chat_rows, jsonl


def test_sdk_over_loopback_socket(home: Path) -> None:
    svc = LocalService(
        home,
        speed=0,
        api_key="k-123",
        faults=[FaultRule("drop", r"/v1/models/gpt-4o$", times=1)],
        autostart=False,  # the job advances through run_jobs: no polling a worker thread
    )
    log = io.StringIO()
    server = LocalServer(svc, "127.0.0.1", 0, log=log)
    server.start()
    try:
        client = openai.OpenAI(
            api_key="k-123",
            base_url=server.base_url,
            max_retries=0,
            http_client=httpx2.Client(transport=SpecChecked(httpx2.HTTPTransport())),
        )
        f = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
        assert client.files.content(f.id).content == jsonl(chat_rows(12))
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=f.id)
        with client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        ) as stream:
            chunks = list(stream)
        assert chunks[-1].usage is not None
        with pytest.raises(openai.APIConnectionError):
            client.models.retrieve("gpt-4o")  # the server closes the connection without answering
        assert client.models.retrieve("gpt-4o").id == "gpt-4o"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(api_key="wrong", base_url=server.base_url, max_retries=0).models.list()
        with pytest.raises(openai.NotFoundError):
            client.batches.retrieve("batch_nope")
        svc.run_jobs()
        assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
        raw = httpx2.get(server.base_url + "/models", headers={"authorization": "Bearer k-123"})
        assert raw.headers["x-request-id"].startswith("req_")
    finally:
        server.close()
        svc.close()
    lines = log.getvalue().splitlines()
    assert any(line.startswith("POST /v1/files 200 ") for line in lines)
    assert any(line.startswith("GET /v1/models 401 ") for line in lines)
    _method, _path, status, ms = lines[0].split(" ")
    assert float(ms) >= 0 and status.isdigit()


def test_serve_command_rejects_bad_fail_rate(home: Path) -> None:
    from openai_ft.cli import main

    assert main(["serve", "--home", str(home), "--fail-rate", "2"]) == 2
