"""The Batch API path: one input file per model (``custom_id`` = request hash), submit, poll,
and join the output and error files back by ``custom_id``. The batch id is kept in the ledger, so
a rerun after a crash polls the same batch instead of paying for a second one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from openai_ft.errors import BackendError
from openai_ft.evaluate.cache import Answer, AnswerCache
from openai_ft.evaluate.runner import Call, Progress, ProgressFn, answer_from_response

ENDPOINT = "/v1/chat/completions"
DONE = ("completed", "failed", "expired", "cancelled")
POLL_SECONDS = 10.0  # the longest wait between two polls
POLL_FIRST = 0.5  # the first wait; it doubles up to POLL_SECONDS


def batch_input(calls: Sequence[Call]) -> bytes:
    """The JSONL input file: one line per call, ``custom_id`` = the request hash."""
    lines = [
        json.dumps(
            {
                "custom_id": c.key,
                "method": "POST",
                "url": ENDPOINT,
                "body": {"model": c.model, **c.body},
            },
            ensure_ascii=False,
        )
        for c in calls
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def join_output(text: str) -> dict[str, Answer]:
    """Answers by ``custom_id`` from a batch output or error file."""
    out: dict[str, Answer] = {}
    for raw in text.splitlines():
        if not raw.strip():
            continue
        row = json.loads(raw)
        cid = str(row.get("custom_id"))
        resp = row.get("response") or {}
        status = int(resp.get("status_code") or 0)
        if status == 200 and isinstance(resp.get("body"), dict):
            a = answer_from_response(resp["body"])
            out[cid] = Answer(
                "ok", a.texts, a.prompt_tokens, a.completion_tokens, batch=True, response=a.response
            )
        else:
            err = row.get("error") or (resp.get("body") or {}).get("error") or {}
            msg = err.get("message") if isinstance(err, dict) else str(err)
            out[cid] = Answer(
                "error", error=f"batch: HTTP {status or '?'}: {msg or 'failed'}", batch=True
            )
    return out


async def _content(client: Any, file_id: str | None) -> str:
    if not file_id:
        return ""
    resp = await client.files.content(file_id)
    return str(resp.text)


async def run_batch(
    client: Any,
    calls: Sequence[Call],
    cache: AnswerCache,
    *,
    retry_errors: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_progress: ProgressFn | None = None,
    poll_seconds: float = POLL_SECONDS,
    cost: Callable[[str, int, int], float] | None = None,
) -> dict[tuple[str, str], Answer]:
    """Answer ``calls`` through the Batch API (one batch per model); stored answers are reused.

    Every model's batch is submitted first and then all are polled together, so two models take
    the time of one batch, not two.
    """
    start = clock()
    results: dict[tuple[str, str], Answer] = {}
    by_model: dict[str, dict[str, Call]] = {}
    for c in calls:
        by_model.setdefault(c.model, {})[c.key] = c
    total = sum(len(g) for g in by_model.values())
    cached = 0

    def report() -> None:
        if not on_progress:
            return
        done = list(results.items())
        answers = [a for _, a in done]
        usd = sum((cost or (lambda m, p, c: 0.0))(k[0], a.prompt_tokens, a.completion_tokens)
                  for k, a in done)  # fmt: skip
        on_progress(Progress(
            total, len(done), cached, sum(not a.ok for a in answers), 0, 0,
            sum(a.prompt_tokens for a in answers), sum(a.completion_tokens for a in answers),
            usd, clock() - start,
        ))  # fmt: skip

    submitted: list[tuple[str, list[Call], str]] = []
    for model, group in by_model.items():
        stored = cache.get_many(model, group)
        missing = []
        for key, call in group.items():
            a = stored.get(key)
            if a is not None and (a.ok or not retry_errors):
                results[(model, key)] = a
                cached += 1
            else:
                missing.append(call)
        if missing:
            submitted.append((model, missing, await _submit(client, model, missing, cache)))
    report()

    async def finish(model: str, missing: list[Call], batch_id: str) -> None:
        answers = await _wait_and_join(client, batch_id, cache, sleep, poll_seconds)
        for call in missing:
            a = answers.get(call.key) or Answer("error", error="batch: no output line", batch=True)
            cache.put(model, call.key, a)
            results[(model, call.key)] = a
        report()

    await asyncio.gather(*(finish(*s) for s in submitted))
    return results


async def _submit(client: Any, model: str, calls: Sequence[Call], cache: AnswerCache) -> str:
    """The id of the batch for these calls: the one a killed run submitted, else a new one."""
    keys_hash = hashlib.sha256("\n".join(sorted(c.key for c in calls)).encode()).hexdigest()[:32]
    led = cache.ledger
    row = led.one(
        "SELECT batch_id FROM eval_batches WHERE backend = ? AND model = ? AND keys_hash = ?"
        " AND status NOT IN ('failed', 'expired', 'cancelled', 'joined') ORDER BY created_at DESC",
        [cache.backend, model, keys_hash],
    )
    if row is not None:
        return str(row["batch_id"])
    f = await client.files.create(file=("eval-batch.jsonl", batch_input(calls)), purpose="batch")
    b = await client.batches.create(
        input_file_id=f.id, endpoint=ENDPOINT, completion_window="24h",
        metadata={"openai_ft": "eval", "model": model[:500]},
    )  # fmt: skip
    led.execute(
        "INSERT INTO eval_batches (backend, model, batch_id, keys_hash, status, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [cache.backend, model, b.id, keys_hash, b.status, time.time()],
    )
    return str(b.id)


async def _wait_and_join(
    client: Any,
    batch_id: str,
    cache: AnswerCache,
    sleep: Callable[[float], Awaitable[None]],
    poll_seconds: float,
) -> dict[str, Answer]:
    led = cache.ledger
    wait = min(POLL_FIRST, poll_seconds)
    while True:
        b = await client.batches.retrieve(batch_id)
        led.execute("UPDATE eval_batches SET status = ? WHERE backend = ? AND batch_id = ?",
                    [b.status, cache.backend, batch_id])  # fmt: skip
        if b.status in DONE:
            break
        await sleep(wait)
        wait = min(poll_seconds, wait * 2)  # small batches finish fast; big ones are polled calmly
    if b.status != "completed" and not b.output_file_id and not b.error_file_id:
        raise BackendError(f"batch {batch_id} ended {b.status}", tip="rerun to submit a new batch")
    answers = join_output(await _content(client, b.error_file_id))
    answers.update(join_output(await _content(client, b.output_file_id)))
    led.execute("UPDATE eval_batches SET status = 'joined' WHERE backend = ? AND batch_id = ?",
                [cache.backend, batch_id])  # fmt: skip
    return answers
