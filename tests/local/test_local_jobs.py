"""Fine-tuning jobs through the official SDK on the in-process transport."""

from __future__ import annotations

import csv
import io
import json

import openai
import pytest

from openai_ft.local import LocalService

from .conftest import chat_rows, jsonl, make_client


def _upload(client: openai.OpenAI, rows: list, name: str = "train.jsonl") -> str:
    return client.files.create(file=(name, jsonl(rows)), purpose="fine-tune").id


def test_job_lifecycle_events_checkpoints_and_result_file(
    svc: LocalService, client: openai.OpenAI
) -> None:
    train = _upload(client, chat_rows(12))
    valid = _upload(client, chat_rows(12), "valid.jsonl")
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=train,
        validation_file=valid,
        suffix="demo",
        seed=7,
        metadata={"run": "a"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}},
    )
    assert job.status == "validating_files"
    assert job.fine_tuned_model is None and job.trained_tokens is None and job.finished_at is None
    svc.run_jobs(max_steps=2)
    mid = client.fine_tuning.jobs.retrieve(job.id)
    assert mid.status == "running"
    assert mid.estimated_finish is not None
    assert mid.fine_tuned_model is None and mid.finished_at is None and mid.trained_tokens is None
    assert mid.hyperparameters.n_epochs == 4
    assert isinstance(mid.hyperparameters.batch_size, int)
    svc.run_jobs()
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert (
        done.fine_tuned_model
        == f"ft:gpt-4o-mini-2024-07-18:local:demo:{job.id.removeprefix('ftjob-')}"
    )
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.finished_at is not None and done.estimated_finish is None

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=5))  # paginates to the end
    assert events[0].created_at >= events[-1].created_at
    messages = [e.message for e in events if e.type == "message"]
    for expected in (
        "Created fine-tuning job",
        "Validating training file",
        "Files validated",
        "Fine-tuning job started",
        "successfully completed",
    ):
        assert any(expected in m for m in messages), expected
    metrics = [e.data for e in events if e.type == "metrics"]
    steps = sorted(m["step"] for m in metrics)
    total = metrics[0]["total_steps"]
    assert steps == list(range(1, total + 1))  # each step once, even across the two run_jobs calls
    assert all("train_loss" in m and "train_mean_token_accuracy" in m for m in metrics)
    assert any("full_valid_loss" in m and "valid_mean_token_accuracy" in m for m in metrics)

    ckpts = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert len(ckpts) == 3  # 4 epochs, the last three kept
    assert ckpts[0].step_number == total
    assert all(
        c.fine_tuned_model_checkpoint.startswith(done.fine_tuned_model + ":ckpt-step-")
        for c in ckpts
    )
    reply = client.chat.completions.create(
        model=ckpts[1].fine_tuned_model_checkpoint,
        messages=[{"role": "user", "content": "review 1: awful broken product"}],
    )
    assert reply.choices[0].message.content in ("positive", "negative", "neutral")

    result = client.files.retrieve(done.result_files[0])
    assert result.purpose == "fine-tune-results"
    rows = list(csv.DictReader(io.StringIO(client.files.content(result.id).text)))
    assert list(rows[0]) == [
        "step",
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
    ]
    assert len(rows) == total

    model = client.models.retrieve(done.fine_tuned_model)
    assert model.id == done.fine_tuned_model
    answer = client.chat.completions.create(
        model=done.fine_tuned_model,
        temperature=0,
        messages=[
            {"role": "system", "content": "Classify the sentiment."},
            {"role": "user", "content": "review 99: great lovely product"},
        ],
    )
    assert answer.choices[0].message.content == "positive"


def test_bad_training_file_fails_job_naming_the_line(
    svc: LocalService, client: openai.OpenAI
) -> None:
    rows: list = chat_rows(12)
    rows[3] = {
        "messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]
    }
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(client, rows))
    svc.run_jobs()
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.param == "training_file"
    assert "line 4" in failed.error.message
    assert failed.fine_tuned_model is None and failed.finished_at is None


def test_not_json_training_file_fails_job(svc: LocalService, client: openai.OpenAI) -> None:
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=_upload(client, [*chat_rows(12), "{oops"])
    )
    svc.run_jobs()
    failed = client.fine_tuning.jobs.retrieve(job.id)
    assert failed.status == "failed" and failed.error is not None
    assert "line 13: invalid_json" in failed.error.message


def test_cancel_pause_resume(svc: LocalService, client: openai.OpenAI) -> None:
    train = _upload(client, chat_rows(12))
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=train, hyperparameters={"n_epochs": 3}
    )
    svc.run_jobs(max_steps=1)
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    svc.run_jobs()
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"
    client.fine_tuning.jobs.resume(job.id)
    svc.run_jobs()
    assert client.fine_tuning.jobs.retrieve(job.id).status == "succeeded"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)
    other = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train)
    assert client.fine_tuning.jobs.cancel(other.id).status == "cancelled"
    svc.run_jobs()
    assert client.fine_tuning.jobs.retrieve(other.id).status == "cancelled"


def test_continued_training_and_dpo(svc: LocalService, client: openai.OpenAI) -> None:
    first = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=_upload(client, chat_rows(12)), suffix="one"
    )
    svc.run_jobs()
    ft = client.fine_tuning.jobs.retrieve(first.id).fine_tuned_model
    assert ft is not None
    second = client.fine_tuning.jobs.create(
        model=ft, training_file=_upload(client, chat_rows(12)), suffix="two"
    )
    svc.run_jobs()
    done = client.fine_tuning.jobs.retrieve(second.id)
    assert done.status == "succeeded" and done.fine_tuned_model is not None
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:local:two:")
    prefs = [
        {
            "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
            "preferred_output": [{"role": "assistant", "content": "good"}],
            "non_preferred_output": [{"role": "assistant", "content": "bad"}],
        }
        for i in range(10)
    ]
    dpo = client.fine_tuning.jobs.create(
        model=ft,
        training_file=_upload(client, prefs),
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": "auto"}}},
    )
    svc.run_jobs()
    got = client.fine_tuning.jobs.retrieve(dpo.id)
    assert got.status == "succeeded", got.error
    assert got.method is not None and got.method.dpo is not None
    beta = got.method.dpo.hyperparameters.beta
    assert isinstance(beta, float)


def test_list_jobs_pagination_and_metadata_filter(svc: LocalService, client: openai.OpenAI) -> None:
    train = _upload(client, chat_rows(12))
    ids = [
        client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=train, metadata={"k": str(i % 2)}
        ).id
        for i in range(5)
    ]
    page = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == ids[::-1][:2] and page.has_more
    assert [j.id for j in client.fine_tuning.jobs.list(limit=2)] == ids[
        ::-1
    ]  # auto-pagination to the end
    odd = [j.id for j in client.fine_tuning.jobs.list(metadata={"k": "1"})]
    assert odd == [ids[3], ids[1]]


def test_bad_requests_and_unknown_ids(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-nope")
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.list_events("ftjob-nope")
    with pytest.raises(openai.BadRequestError) as exc:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-missing")
    assert exc.value.body["param"] == "training_file"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model="nope-model", training_file="file-missing")
    train = _upload(client, chat_rows(12))
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=train, hyperparameters={"n_epochs": -1}
        )


def test_restart_resumes_a_running_job(home, clock) -> None:  # type: ignore[no-untyped-def]
    first = LocalService(home, autostart=False, clock=clock, speed=0)
    client = make_client(first)
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=_upload(client, chat_rows(12))
    )
    first.run_jobs(max_steps=3)
    assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
    first.close()  # the process "dies" mid-job
    second = LocalService(home, autostart=False, clock=clock, speed=0)
    client2 = make_client(second)
    assert client2.fine_tuning.jobs.retrieve(job.id).status == "running"
    second.run_jobs()
    done = client2.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    steps = [
        e.data["step"]
        for e in client2.fine_tuning.jobs.list_events(job.id, limit=100)
        if e.type == "metrics"
    ]
    assert sorted(steps) == list(range(1, len(steps) + 1))
    assert json.loads(json.dumps(steps))  # persisted across the restart
    second.close()
