"""Tests of retrain.py on the local service, through the openai-ft pytest plugin's fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
from retrain import RetrainFailed, classify, retrain

from openai_ft.testing import LocalOpenAI


@pytest.fixture
def data(tmp_path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"ticket {i}: my {label} problem"},
                {"role": "assistant", "content": label},
            ]
        }
        for i, label in enumerate(["billing", "refund", "login"] * 4)
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_retrain_returns_the_fine_tuned_model(openai_local: LocalOpenAI, data: Path) -> None:
    model = retrain(data, sleep=lambda s: None)
    assert model.startswith("ft:gpt-4o-mini-2024-07-18")
    assert [job["status"] for job in openai_local.jobs()] == ["succeeded"]


def test_a_failed_job_raises_with_its_error_code(openai_local: LocalOpenAI, data: Path) -> None:
    openai_local.fail_next_job("invalid_training_file", "Training file has 3 bad rows.")
    with pytest.raises(RetrainFailed, match="failed: invalid_training_file"):
        retrain(data, sleep=lambda s: None)


@pytest.mark.openai_local(faults=[{"kind": "429", "path": "/fine_tuning/jobs$", "times": 1}])
def test_a_429_on_create_is_waited_out_and_starts_one_job(
    openai_local: LocalOpenAI, data: Path
) -> None:
    waits: list[float] = []
    assert retrain(data, sleep=waits.append)
    creates = openai_local.requests_to("POST", "/v1/fine_tuning/jobs")
    assert [r.status for r in creates] == [429, 200]
    assert waits == [1.0]  # the retry-after the service sent
    assert len(openai_local.jobs()) == 1


def test_classify_with_a_canned_reply(openai_local: LocalOpenAI) -> None:
    openai_local.reply("ft:my-model", "where is my refund?", "refund")
    with pytest.raises(openai.NotFoundError):
        classify("ft:my-model", "where is my refund?")  # the model must exist, as on OpenAI
    openai_local.reply("gpt-4o-mini", "where is my refund?", "refund")
    assert classify("gpt-4o-mini", "where is my refund?") == "refund"
