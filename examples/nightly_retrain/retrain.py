"""A nightly retrain job, as a user of openai-ft might write it: the code under test.

    python retrain.py train.jsonl    # prints the new model's name

It builds its own ``openai.OpenAI()`` (the key comes from ``OPENAI_API_KEY``); its tests, in
``test_retrain.py``, run it against the local service with the ``openai_local`` fixture.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import openai

BASE_MODEL = "gpt-4o-mini-2024-07-18"
TERMINAL = ("succeeded", "failed", "cancelled")


class RetrainFailed(Exception):
    """The fine-tuning job ended without a model."""


def start_job(client: openai.OpenAI, file_id: str, sleep: Callable[[float], None]) -> str:
    """Create the job once; a 429 created nothing, so wait as told and try again (3 tries)."""
    creating = client.with_options(max_retries=0)  # a retried create could start two jobs
    for attempt in range(3):
        try:
            return creating.fine_tuning.jobs.create(model=BASE_MODEL, training_file=file_id).id
        except openai.RateLimitError as exc:
            if attempt == 2:
                raise
            sleep(float(exc.response.headers.get("retry-after", "20")))
    raise AssertionError("unreachable")


def retrain(path: Path, *, sleep: Callable[[float], None] = time.sleep, poll_s: float = 30) -> str:
    """Upload ``path``, fine-tune on it, wait; the new model's name, or RetrainFailed."""
    client = openai.OpenAI()
    with path.open("rb") as fh:
        upload = client.files.create(file=fh, purpose="fine-tune")
    job = client.fine_tuning.jobs.retrieve(start_job(client, upload.id, sleep))
    while job.status not in TERMINAL:
        sleep(poll_s)
        job = client.fine_tuning.jobs.retrieve(job.id)
    if job.status != "succeeded" or job.fine_tuned_model is None:
        code = job.error.code if job.error else job.status
        raise RetrainFailed(f"job {job.id} ended {job.status}: {code}")
    return job.fine_tuned_model


def classify(model: str, ticket: str) -> str:
    """The label the model gives a support ticket."""
    reply = openai.OpenAI().chat.completions.create(
        model=model, messages=[{"role": "user", "content": ticket}], max_tokens=5
    )
    return (reply.choices[0].message.content or "").strip()


if __name__ == "__main__":
    print(retrain(Path(sys.argv[1])))
