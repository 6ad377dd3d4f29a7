"""Streaming over a real loopback server: chunks leave while the model is still generating."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from openai_ft.local import LocalService
from openai_ft.local.engines.hf import generate
from openai_ft.local.http.server import LocalServer
from tests.local.conftest import FakeClock


def test_the_first_token_reaches_the_client_before_the_second_is_generated(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    waited: list[bool] = []
    step = generate.Decoder._step

    def gated(self: Any, row: generate.Row, *args: Any) -> int:
        token = step(self, row, *args)
        if len(row.tokens) == 1 and not waited:
            # Hold generation until the client has the first token: a buffered stream would
            # never deliver it, and this wait would time out.
            waited.append(release.wait(timeout=60))
        return token

    monkeypatch.setattr(generate.Decoder, "_step", gated)
    svc = LocalService(tmp_path / "state", autostart=False, clock=FakeClock(), speed=0)
    server = LocalServer(svc, "127.0.0.1", 0)
    server.start()
    try:
        client = openai.OpenAI(
            api_key="x",
            base_url=server.base_url,
            max_retries=0,
            http_client=httpx2.Client(transport=httpx2.HTTPTransport()),
        )
        stream = client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "my parcel is late"}],
            max_completion_tokens=6,
            temperature=0,
            stream=True,
        )
        pieces = []
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                release.set()
    finally:
        release.set()
        server.close()
        svc.close()
    assert waited == [True]
    assert len(pieces) >= 2
