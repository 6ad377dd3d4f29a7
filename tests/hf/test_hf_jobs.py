"""hf jobs beyond plain SFT: weights, DPO on an earlier fine-tune, checkpoints, resume, cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from openai_ft.local import LocalService
from tests.local.conftest import FakeClock, make_client

from .conftest import dpo_rows, sft_rows, upload

HP = {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 10, "lora_rank": 4}


def _losses(client: openai.OpenAI, job_id: str) -> dict[int, float]:
    events = client.fine_tuning.jobs.list_events(job_id, limit=200)
    return {e.data["step"]: e.data["train_loss"] for e in events if e.type == "metrics"}


def _job(client: openai.OpenAI, rows: list[dict[str, Any]], **kw: Any) -> str:
    method = kw.pop("method", "supervised")
    hp = {**HP, **kw.pop("hp", {})}
    return client.fine_tuning.jobs.create(
        model=kw.pop("model", "tiny"),
        training_file=upload(client, rows),
        seed=3,
        method={"type": method, method: {"hyperparameters": hp}},  # type: ignore[misc]
        **kw,
    ).id


def _trailing(noise: str, weight: int) -> list[dict[str, Any]]:
    rows = sft_rows(12)
    for row in rows:
        row["messages"] += [
            {"role": "user", "content": "anything else?"},
            {"role": "assistant", "content": noise, "weight": weight},
        ]
    return rows


def test_weight_zero_turns_contribute_no_loss(client: openai.OpenAI, svc: LocalService) -> None:
    # A weight-0 last turn cannot change the loss whatever it says; with weight 1 it does. (No
    # dropout: its random masks follow the padded length. Float noise from padding remains.)
    hp = {"n_epochs": 1, "batch_size": 6, "lora_dropout": 0}
    a = _job(client, _trailing("no thanks", 0), hp=hp)
    b = _job(client, _trailing("something quite different 42", 0), hp=hp)
    c = _job(client, _trailing("no thanks", 1), hp=hp)
    svc.run_jobs()
    la, lb, lc = _losses(client, a), _losses(client, b), _losses(client, c)
    assert sorted(la) == [1, 2]
    assert la == pytest.approx(lb, rel=1e-5)
    assert la[1] != pytest.approx(lc[1], rel=1e-3)


def test_weights_select_exactly_the_loss_tokens(tiny_model: Path) -> None:
    from openai_ft.local.engines.hf.data import IGNORE, sft_example
    from openai_ft.local.engines.hf.model import load_tokenizer

    tok = load_tokenizer(str(tiny_model))
    for weight, expected in (
        (0, "billing<|im_end|>"),
        (1, "noise reply<|im_end|>billing<|im_end|>"),
    ):
        row = sft_example(tok, sft_rows(1, weight_first=weight)[0], 512)
        kept = [
            t for t, label in zip(row["input_ids"], row["labels"], strict=True) if label != IGNORE
        ]
        assert tok.decode(kept) == expected


def test_dpo_continues_an_sft_fine_tune_and_checkpoints_are_usable_models(
    client: openai.OpenAI, svc: LocalService
) -> None:
    sft = _job(client, sft_rows(12), suffix="sft")
    svc.run_jobs()
    sft_model = client.fine_tuning.jobs.retrieve(sft).fine_tuned_model
    assert sft_model is not None
    dpo = _job(client, dpo_rows(12), method="dpo", model=sft_model, hp={"beta": 0.2})
    svc.run_jobs()
    job = client.fine_tuning.jobs.retrieve(dpo)
    assert job.status == "succeeded", job.error
    assert job.method.dpo.hyperparameters.beta == 0.2
    assert str(job.fine_tuned_model).startswith("ft:tiny:local::")
    losses = _losses(client, dpo)
    assert len(losses) == 6 and all(v > 0 for v in losses.values())
    # log(2) at the first step: the reference is the SFT model the job starts from, not the base
    assert losses[1] == pytest.approx(0.6931, abs=1e-3)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(dpo).data
    assert sorted(c.step_number for c in checkpoints) == [3, 6]
    for ckpt in checkpoints:
        out = client.chat.completions.create(
            model=ckpt.fine_tuned_model_checkpoint,
            messages=[{"role": "user", "content": "ticket 1: my shipping problem"}],
            max_completion_tokens=3,
        )
        assert out.choices[0].message.role == "assistant"
    # deleting the model deletes its stored adapter
    blob = svc.service.state.get("model", job.fine_tuned_model)["x_blob"]
    assert svc.service.state.blob_path(blob).exists()
    client.models.delete(str(job.fine_tuned_model))
    assert not svc.service.state.blob_path(blob).exists()


def test_a_job_stopped_mid_run_resumes_in_a_new_service_with_identical_losses(
    client: openai.OpenAI, svc: LocalService, tmp_path: Path
) -> None:
    rows = sft_rows(12)
    whole = _job(client, rows)
    svc.run_jobs()
    expected = _losses(client, whole)
    cut = _job(client, rows)
    svc.run_jobs(max_steps=4)  # stops after step 4 of 6: a process that ends mid-job
    assert client.fine_tuning.jobs.retrieve(cut).status == "running"
    svc.close()
    again = LocalService(tmp_path / "state", autostart=False, clock=FakeClock(), speed=0)
    try:
        client2 = make_client(again)
        again.run_jobs()
        assert client2.fine_tuning.jobs.retrieve(cut).status == "succeeded"
        got = _losses(client2, cut)
    finally:
        again.close()
    assert sorted(got) == [1, 2, 3, 4, 5, 6]
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_cancel_and_pause_stop_training_and_resume_finishes(
    client: openai.OpenAI, svc: LocalService
) -> None:
    paused = _job(client, sft_rows(12))
    svc.run_jobs(max_steps=2)
    client.fine_tuning.jobs.pause(paused)
    svc.run_jobs()
    assert len(_losses(client, paused)) == 2
    client.fine_tuning.jobs.resume(paused)
    svc.run_jobs()
    assert client.fine_tuning.jobs.retrieve(paused).status == "succeeded"
    assert sorted(_losses(client, paused)) == [1, 2, 3, 4, 5, 6]
    cancelled = _job(client, sft_rows(12))
    svc.run_jobs(max_steps=1)
    client.fine_tuning.jobs.cancel(cancelled)
    svc.run_jobs()
    job = client.fine_tuning.jobs.retrieve(cancelled)
    assert job.status == "cancelled" and job.fine_tuned_model is None
    assert len(_losses(client, cancelled)) == 1


def test_unknown_hyperparameter_is_a_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        _job(client, sft_rows(12), hp={"lora_rnak": 8})
    assert "lora_rnak" in str(err.value)
    with pytest.raises(openai.BadRequestError) as err:
        _job(client, sft_rows(12), hp={"lr_scheduler": "sideways"})
    assert "lr_scheduler" in str(err.value)


def test_early_stopping_finishes_the_job_before_its_last_step(
    client: openai.OpenAI, svc: LocalService
) -> None:
    valid = upload(client, sft_rows(4), "valid.jsonl")
    job_id = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=upload(client, sft_rows(12)),
        validation_file=valid,
        seed=3,
        hyperparameters={"n_epochs": 6, "batch_size": 12},
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": 6,
                    "batch_size": 12,
                    "learning_rate_multiplier": 0.0001,
                    "eval_steps": 1,
                    "early_stopping_patience": 1,
                }
            },
        },
    ).id
    svc.run_jobs()
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.status == "succeeded", job.error
    assert len(_losses(client, job_id)) < 6
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=100)]
    assert any(m.startswith("Early stopping at step") for m in messages)


def test_full_fine_tuning_and_frozen_layers_train_and_report_their_settings(
    client: openai.OpenAI, svc: LocalService
) -> None:
    one_step = {"n_epochs": 1, "batch_size": 12, "freeze_layers": 1}
    full = _job(client, sft_rows(12), hp={**one_step, "fine_tuning": "full"})
    lora = _job(client, sft_rows(12), hp={**one_step, "gradient_accumulation_steps": 5})
    svc.run_jobs()
    sizes = {}
    for job_id in (full, lora):
        job = client.fine_tuning.jobs.retrieve(job_id)
        assert job.status == "succeeded", job.error
        blob = svc.service.state.get("model", job.fine_tuned_model)["x_blob"]
        sizes[job_id] = svc.service.state.blob_path(blob).stat().st_size
    hp = client.fine_tuning.jobs.retrieve(lora).method.supervised.hyperparameters.model_dump()
    assert hp["gradient_accumulation_steps"] == 4  # the largest divisor of 12 up to 5
    assert sizes[full] > 4 * sizes[lora]  # full weights vs one adapter
    from safetensors.torch import load

    from openai_ft.local.engines.hf.model import HFModel

    blob = svc.service.state.get("model", client.fine_tuning.jobs.retrieve(lora).fine_tuned_model)
    adapter = HFModel.from_bytes(svc.service.state.read_blob(blob["x_blob"]))
    keys = load(adapter.files["adapter_model.safetensors"]).keys()
    assert keys and all(".layers.1." in k for k in keys)  # layer 0 is frozen: no adapter there


def test_dpo_from_a_base_model_trains_a_new_adapter(
    client: openai.OpenAI, svc: LocalService
) -> None:
    job_id = _job(client, dpo_rows(12), method="dpo", hp={"n_epochs": 1, "batch_size": 6})
    svc.run_jobs()
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.status == "succeeded", job.error
    assert job.method.dpo.hyperparameters.beta == 0.1  # "auto"
    losses = _losses(client, job_id)
    # DPO's first loss is log(2): the policy starts equal to its reference (the base)
    assert losses[1] == pytest.approx(0.6931, abs=1e-3)
