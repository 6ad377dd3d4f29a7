"""Job options are checked at create time with the spec's ranges; whatever is accepted trains."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from openai_ft.local import LocalService

from .conftest import SpecChecked, chat_rows, jsonl


def _upload(client: openai.OpenAI, rows: list[Any]) -> str:
    return client.files.create(file=("t.jsonl", jsonl(rows)), purpose="fine-tune").id


def _prefs(n: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
            "preferred_output": [{"role": "assistant", "content": "good"}],
            "non_preferred_output": [{"role": "assistant", "content": "bad"}],
        }
        for i in range(n)
    ]


def _post(svc: LocalService, body: dict[str, Any]) -> httpx2.Response:
    raw = httpx2.Client(transport=SpecChecked(svc.transport()), base_url="http://localhost")
    return raw.post("/v1/fine_tuning/jobs", json=body)


def _sup(hp: dict[str, Any]) -> dict[str, Any]:
    return {"method": {"type": "supervised", "supervised": {"hyperparameters": hp}}}


def _dpo(hp: dict[str, Any]) -> dict[str, Any]:
    return {"method": {"type": "dpo", "dpo": {"hyperparameters": hp}}}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        (_sup({"n_epochs": 0}), "method.supervised.hyperparameters.n_epochs"),
        (_sup({"n_epochs": 51}), "method.supervised.hyperparameters.n_epochs"),
        (_sup({"n_epochs": 2.5}), "method.supervised.hyperparameters.n_epochs"),
        (_sup({"n_epochs": True}), "method.supervised.hyperparameters.n_epochs"),
        (_sup({"batch_size": 257}), "method.supervised.hyperparameters.batch_size"),
        (
            _sup({"learning_rate_multiplier": 0}),
            "method.supervised.hyperparameters.learning_rate_multiplier",
        ),
        (
            _sup({"learning_rate_multiplier": "fast"}),
            "method.supervised.hyperparameters.learning_rate_multiplier",
        ),
        (_sup({"beta": 0.1}), "method.supervised.hyperparameters.beta"),
        (_dpo({"beta": 0}), "method.dpo.hyperparameters.beta"),
        (_dpo({"beta": 2.5}), "method.dpo.hyperparameters.beta"),
        ({"hyperparameters": {"n_epochs": 60}}, "hyperparameters.n_epochs"),
        ({"hyperparameters": "many"}, "hyperparameters"),
        ({"method": {"type": "supervised", "supervised": "s"}}, "method.supervised"),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": [1]}}},
            "method.supervised.hyperparameters",
        ),
        ({"method": {"type": "reinforcement"}}, "method.type"),
        ({"method": "supervised"}, "method.type"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"suffix": ""}, "suffix"),
        ({"suffix": "x" * 65}, "suffix"),
        ({"suffix": "a:b"}, "suffix"),
        ({"integrations": [{"type": "wandb"}]}, "integrations[0]"),
        ({"integrations": [{"type": "wandb", "wandb": {"project": 1}}]}, "integrations[0]"),
        (
            {"integrations": [{"type": "wandb", "wandb": {"project": "p", "tags": "t"}}]},
            "integrations[0]",
        ),
        ({"integrations": ["wandb"]}, "integrations[0]"),
        ({"integrations": {"type": "wandb"}}, "integrations"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
    ],
)
def test_bad_job_options_are_400_with_param(
    svc: LocalService, client: openai.OpenAI, extra: dict[str, Any], param: str
) -> None:
    body = {"model": "gpt-4o-mini", "training_file": _upload(client, chat_rows(12)), **extra}
    resp = _post(svc, body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert client.fine_tuning.jobs.list().data == []  # nothing was created


@pytest.mark.parametrize(
    ("rows", "extra"),
    [
        ("chat", _sup({"n_epochs": 26, "batch_size": 12})),
        ("chat", _sup({"n_epochs": 50, "batch_size": 256})),
        ("chat", _sup({"learning_rate_multiplier": 1e6})),
        ("chat", {"hyperparameters": {"learning_rate_multiplier": 1e-9, "n_epochs": 1}}),
        ("dpo", _dpo({"beta": 2, "n_epochs": 30, "learning_rate_multiplier": 250.0})),
        ("chat", {"seed": 2**31 - 1, "suffix": "s" * 64}),
        (
            "chat",
            {
                "seed": 0,
                "integrations": [
                    {"type": "wandb", "wandb": {"project": "p", "tags": ["a"], "name": None}}
                ],
            },
        ),
    ],
)
def test_every_accepted_job_trains(
    svc: LocalService, client: openai.OpenAI, rows: str, extra: dict[str, Any]
) -> None:
    data = chat_rows(12) if rows == "chat" else _prefs()
    body = {"model": "gpt-4o-mini", "training_file": _upload(client, data), **extra}
    resp = _post(svc, body)
    assert resp.status_code == 200, resp.text
    svc.run_jobs()
    job = client.fine_tuning.jobs.retrieve(resp.json()["id"])
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model is not None
    reply = client.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "q1"}], seed=-5
    )
    assert reply.choices[0].message.content


def test_negative_chat_seed_on_a_fine_tuned_model(svc: LocalService, client: openai.OpenAI) -> None:
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=_upload(client, chat_rows(12))
    )
    svc.run_jobs()
    model = client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
    assert model is not None
    for seed in (-1, -(2**63), 2**63 - 1):
        reply = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "review 1: great lovely product"}],
            seed=seed,
            n=3,
        )
        assert all(c.message.content for c in reply.choices)


def test_metadata_filter_finds_any_key(client: openai.OpenAI) -> None:
    train = _upload(client, chat_rows(12))
    keys = ["équipe", 'say "hi"', "a.b", "tag]x", "日本"]
    ids = {
        k: client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=train, metadata={k: "v", "other": k}
        ).id
        for k in keys
    }
    for key, job_id in ids.items():
        found = [j.id for j in client.fine_tuning.jobs.list(metadata={key: "v"})]
        assert found == [job_id], key
        assert [j.id for j in client.fine_tuning.jobs.list(metadata={"other": key})] == [job_id]
        assert client.fine_tuning.jobs.list(metadata={key: "w"}).data == []
    both = client.fine_tuning.jobs.list(metadata={"équipe": "v", "other": "équipe"})
    assert [j.id for j in both] == [ids["équipe"]]


def test_another_engine_extends_the_accepted_keys() -> None:
    from openai_ft.local.api.hyperparams import OPENAI_HYPERPARAMETERS, Range, check_hyperparameters
    from openai_ft.local.http.core import ApiError

    lora = OPENAI_HYPERPARAMETERS.extend("supervised", lora_rank=Range(int, 1, 64))
    body = _sup({"lora_rank": 8, "n_epochs": 2})
    assert check_hyperparameters(body, lora) == (
        "supervised",
        {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": "auto", "lora_rank": 8},
    )
    with pytest.raises(ApiError) as exc:
        check_hyperparameters(body)  # the stock table does not know lora_rank
    assert exc.value.param == "method.supervised.hyperparameters.lora_rank"
    with pytest.raises(ApiError) as exc:
        check_hyperparameters(_sup({"lora_rank": 65}), lora)
    assert "an integer from 1 to 64" in exc.value.message
    assert "lora_rank" not in OPENAI_HYPERPARAMETERS.methods["supervised"]
