"""Each endpoint answers a missing or unknown model the way OpenAI does, through the SDK."""

from __future__ import annotations

import openai
import pytest

from openai_ft.local import LocalService
from tests.local.conftest import chat_rows, jsonl, make_client

MESSAGES = [{"role": "user", "content": "hello"}]


def test_chat_with_an_unknown_model_is_404_model_not_found(svc: LocalService) -> None:
    client = make_client(svc)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)  # type: ignore[arg-type]
    assert info.value.code == "model_not_found"
    assert "no-such-model" in info.value.message


@pytest.mark.parametrize("model", ["", None, 42])
def test_chat_without_a_usable_model_is_400_missing_parameter(
    svc: LocalService, model: object
) -> None:
    client = make_client(svc)
    body = {"messages": MESSAGES} if model is None else {"messages": MESSAGES, "model": model}
    with pytest.raises(openai.BadRequestError) as info:
        client.post("/chat/completions", body=body, cast_to=object)
    assert info.value.code == "missing_required_parameter"
    assert info.value.param == "model"


def test_job_with_an_unknown_model_is_400_model_not_available(svc: LocalService) -> None:
    client = make_client(svc)
    file = client.files.create(file=("t.jsonl", jsonl(chat_rows())), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as info:
        client.fine_tuning.jobs.create(model="no-such-model", training_file=file.id)
    assert info.value.code == "model_not_available"
    assert info.value.param == "model"


def test_job_without_a_model_is_400_missing_parameter(svc: LocalService) -> None:
    client = make_client(svc)
    file = client.files.create(file=("t.jsonl", jsonl(chat_rows())), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as info:
        client.post("/fine_tuning/jobs", body={"training_file": file.id}, cast_to=object)
    assert info.value.code == "missing_required_parameter"
