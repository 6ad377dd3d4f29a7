"""SFT jobs of the hf engine driven through the official SDK."""

from __future__ import annotations

import openai

from openai_ft.local import LocalService

from .conftest import sft_rows, upload


def test_sft_job_trains_with_lora_reports_steps_and_stores_an_adapter(
    client: openai.OpenAI, svc: LocalService
) -> None:
    train = upload(client, sft_rows(12))
    valid = upload(client, sft_rows(4), "valid.jsonl")
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=train,
        validation_file=valid,
        suffix="t",
        seed=7,
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": 2,
                    "batch_size": 6,
                    "learning_rate_multiplier": 10,
                    "lora_rank": 4,
                    "eval_steps": 2,
                }
            },
        },
    )
    svc.run_jobs()
    done = client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model == f"ft:tiny:local:t:{job.id.removeprefix('ftjob-')}"
    hp = done.method.supervised.hyperparameters.model_dump()
    assert hp["lora_rank"] == 4 and hp["fine_tuning"] == "lora" and hp["n_epochs"] == 2
    events = [
        e for e in client.fine_tuning.jobs.list_events(job.id, limit=100) if e.type == "metrics"
    ]
    steps = sorted(e.data["step"] for e in events)
    assert steps == [1, 2, 3, 4]
    assert all(e.data["train_loss"] > 0 for e in events)
    assert sum("valid_loss" in e.data for e in events) == 2
    ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert sorted(c.step_number for c in ckpts) == [2, 4]
    ids = [m.id for m in client.models.list()]
    assert "tiny" in ids and done.fine_tuned_model in ids
