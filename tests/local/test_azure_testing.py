"""openai_ft.testing.local_openai(azure=...): the public test double playing Azure."""

from __future__ import annotations

import re

import openai
import pytest

from openai_ft.local.azure import AzureOptions
from openai_ft.testing import ManualClock, local_openai

from .conftest import chat_rows, jsonl

ACCOUNT = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/ac"
INSTANT = AzureOptions(accept_s=0, create_s=0, not_ready_s=0, delete_s=0)


def test_local_openai_plays_azure_end_to_end() -> None:
    with local_openai(clock=ManualClock(), azure=INSTANT) as local:
        http = local.http_client()
        v1 = openai.OpenAI(
            api_key="local", base_url="http://azure.local/openai/v1", http_client=http
        )
        f = v1.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
        job = v1.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=f.id)
        job = v1.fine_tuning.jobs.retrieve(job.id)  # a poll trains it to the end
        assert job.status == "succeeded"
        assert re.fullmatch(r"gpt-4\.1-mini-2025-04-14\.ft-[0-9a-f]{32}", job.fine_tuned_model)
        put = http.put(
            f"http://management.local{ACCOUNT}/deployments/ft1",
            params={"api-version": "2026-09-01"},
            headers={"Authorization": "Bearer any"},
            json={
                "sku": {"name": "DeveloperTier", "capacity": 1},
                "properties": {"model": {"name": job.fine_tuned_model, "version": "1"}},
            },
        )
        assert put.status_code == 201, put.text
        azure = openai.AzureOpenAI(
            api_key="local",
            azure_endpoint="http://azure.local",
            api_version="2024-10-21",
            http_client=http,
        )
        reply = azure.chat.completions.create(
            model="ft1", messages=[{"role": "user", "content": "review 1: awful broken product"}]
        )
        assert reply.model == job.fine_tuned_model
        with pytest.raises(openai.NotFoundError):
            azure.chat.completions.create(
                model=job.fine_tuned_model, messages=[{"role": "user", "content": "hi"}]
            )
        paths = {r.path for r in local.requests}
        assert "/v1/chat/completions" in paths
