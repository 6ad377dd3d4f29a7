"""``--checkpoints JOB``: the models a fine-tuning job produced, and the best one on held-out data.

The best model is chosen by its mean score on the eval data (the first scorer), never by the
training loss the service reports: a checkpoint that memorised its training set has the lowest
loss and can still generalise worst.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openai_ft.errors import UsageError


async def checkpoint_models(client: Any, job_id: str) -> list[str]:
    """The job's checkpoint models (oldest step first), then its final model."""
    from openai_ft.client import translate_errors

    with translate_errors(f"listing the checkpoints of {job_id}"):
        job = await client.fine_tuning.jobs.retrieve(job_id)
        ckpts = [c async for c in client.fine_tuning.jobs.checkpoints.list(job_id)]
    names = [c.fine_tuned_model_checkpoint for c in sorted(ckpts, key=lambda c: c.step_number)]
    if job.fine_tuned_model and job.fine_tuned_model not in names:
        names.append(job.fine_tuned_model)
    if not names:
        raise UsageError(
            f"job {job_id} has no checkpoints or fine-tuned model yet (status {job.status})",
            tip=f"wait for it: openai-ft watch {job_id}",
        )
    return names


def best_model(summary: dict[str, Any], candidates: Sequence[str]) -> dict[str, Any] | None:
    """``{"model", "scorer", "score"}`` of the candidate with the highest mean on the first scorer.

    Ties go to the later candidate (the final model over its checkpoints, a later checkpoint over
    an earlier one). None when no candidate has a score.
    """
    wanted = set(candidates)
    scored = [
        (m["model"], name, s["mean"])
        for m in summary.get("models", [])
        if m["model"] in wanted
        for name, s in list(m["scores"].items())[:1]
        if s["mean"] is not None
    ]
    if not scored:
        return None
    model, scorer, score = max(reversed(scored), key=lambda t: t[2])
    return {"model": model, "scorer": scorer, "score": score}
