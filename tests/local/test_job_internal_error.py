"""A job whose training raises ends failed with server_error, as on OpenAI, and never loops."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from openai_ft.local import LocalService
from openai_ft.local.engines.ngram.engine import NGramEngine
from openai_ft.local.engines.ngram.model import TrainedModel
from openai_ft.local.engines.ngram.train import Hyperparameters, StepMetrics

from .conftest import FakeClock, chat_rows, jsonl, make_client

BROKEN_SEED = 13


class BrokenEngine(NGramEngine):
    """The real engine, except that a run with BROKEN_SEED crashes after two steps."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def train(
        self,
        train: list[dict[str, Any]],
        valid: list[dict[str, Any]] | None,
        hp: Hyperparameters,
        *,
        method: str,
        seed: int,
        base: TrainedModel | None,
        on_step: Callable[[StepMetrics], None],
        on_epoch_end: Callable[[int, int, TrainedModel], None],
        should_stop: Callable[[], bool],
        start_step: int = 0,
    ) -> TrainedModel:
        self.calls.append(seed)
        if seed != BROKEN_SEED:
            return super().train(
                train, valid, hp, method=method, seed=seed, base=base, on_step=on_step,
                on_epoch_end=on_epoch_end, should_stop=should_stop, start_step=start_step,
            )  # fmt: skip
        total = self.total_steps(len(train), hp)
        for step in (1, 2):
            on_step(StepMetrics(step=step, total_steps=total, epoch=1, train_loss=1.0 / step,
                                train_mean_token_accuracy=0.5, valid_loss=None,
                                valid_mean_token_accuracy=None, full_valid_loss=None,
                                full_valid_mean_token_accuracy=None))  # fmt: skip
        raise RuntimeError("the trainer ran out of gradients")


def _job(client: openai.OpenAI, seed: int) -> str:
    fid = client.files.create(file=("train.jsonl", jsonl(chat_rows(12))), purpose="fine-tune").id
    return client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=fid, seed=seed
    ).id


@pytest.mark.timeout(60)
def test_a_crashing_engine_fails_the_job_with_server_error(home: Path, clock: FakeClock) -> None:
    engine = BrokenEngine()
    with LocalService(home, autostart=False, speed=0, clock=clock, engine=engine) as svc:
        client = make_client(svc)
        broken = _job(client, BROKEN_SEED)
        healthy = _job(client, 7)
        svc.run_jobs()  # returns: the crash is caught per job

        job = client.fine_tuning.jobs.retrieve(broken)
        assert job.status == "failed"
        assert job.error is not None and job.error.code == "server_error"
        assert "RuntimeError" in job.error.message and "out of gradients" in job.error.message
        assert job.fine_tuned_model is None and job.estimated_finish is None
        events = list(client.fine_tuning.jobs.list_events(broken))
        errors = [e for e in events if e.level == "error"]
        assert len(errors) == 1 and "out of gradients" in errors[0].message
        steps = [e for e in events if getattr(e, "type", None) == "metrics"]
        assert len(steps) == 2  # the steps before the crash were recorded

        # The other job in the same pass was not held back by the crash.
        ok = client.fine_tuning.jobs.retrieve(healthy)
        assert ok.status == "succeeded" and ok.fine_tuned_model

        # A failed job is not picked up again: more passes do nothing.
        tried = len(engine.calls)
        svc.run_jobs()
        svc.run_jobs()
        assert len(engine.calls) == tried == 2
        assert client.fine_tuning.jobs.retrieve(broken).status == "failed"
        assert len(list(client.fine_tuning.jobs.list_events(broken))) == len(events)
