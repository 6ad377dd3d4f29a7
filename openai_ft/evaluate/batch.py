"""The Batch API path: one input file per model (``custom_id`` = request hash), submit, poll,
and join the output and error files back by ``custom_id``.

Submitting is idempotent, like creating a job: a pending row goes into the ledger first; the
input file has a content-addressed name and is looked up by name and size before it is sent; the
batch carries the hash of its requests in its ``metadata`` and is looked up before any create.
Creates run without SDK retries; after a lost answer we look again before retrying. So a rerun
after a crash or a lost answer polls the same batch instead of paying for a second one, and a
batch is marked joined only once its answers are stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from openai_ft.client import creating, map_error
from openai_ft.errors import BackendError, NotFound, ServiceUnavailable
from openai_ft.evaluate.cache import Answer, AnswerCache
from openai_ft.evaluate.runner import Call, Progress, ProgressFn, answer_from_response

ENDPOINT = "/v1/chat/completions"
DONE = ("completed", "failed", "expired", "cancelled")
POLL_SECONDS = 10.0  # the longest wait between two polls
POLL_FIRST = 0.5  # the first wait; it doubles up to POLL_SECONDS
BATCH_KEY = "openai_ft_batch"  # metadata: the hash of the batch's requests
CREATE_ATTEMPTS = 3
LOOKUP_SCAN = 500  # batches (newest first) searched for ours
ENDED = ("failed", "expired", "cancelled", "joined")
NOT_HERE = "not_found"  # recorded, but this location's service does not know it


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
        price = cost or (lambda m, p, c: 0.0)
        usds = [(price(k[0], a.prompt_tokens, a.completion_tokens), a.from_ledger) for k, a in done]
        on_progress(Progress(
            total, len(done), cached, sum(not a.ok for a in answers), 0, 0,
            sum(a.prompt_tokens for a in answers), sum(a.completion_tokens for a in answers),
            sum(u for u, _ in usds), clock() - start, sum(u for u, old in usds if not old),
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
            batch_id = await _submit(client, model, missing, cache, sleep)
            submitted.append((model, missing, batch_id))
    report()

    async def finish(model: str, missing: list[Call], batch_id: str) -> None:
        answers = await _wait_and_join(client, batch_id, cache, sleep, poll_seconds)
        # The answers and the 'joined' mark commit together: a crash before the end stores
        # none of them, and the rerun joins this batch again instead of paying for another.
        with cache.ledger.transaction():
            for call in missing:
                a = answers.get(call.key) or Answer(
                    "error", error="batch: no output line", batch=True
                )
                a = cache.stored_form(a)  # score what a rerun will read back from the ledger
                cache.put(model, call.key, a)
                results[(model, call.key)] = a
            cache.ledger.execute(
                "UPDATE eval_batches SET status = 'joined' WHERE backend = ? AND batch_id = ?",
                [cache.backend, batch_id],
            )
        report()

    await asyncio.gather(*(finish(*s) for s in submitted))
    return results


async def _submit(
    client: Any,
    model: str,
    calls: Sequence[Call],
    cache: AnswerCache,
    sleep: Callable[[float], Awaitable[None]],
) -> str:
    """The id of the batch for these calls: the one submitted before (recorded, or found on the
    service by its metadata), else a new one. Never two for the same requests."""
    keys_hash = hashlib.sha256("\n".join(sorted(c.key for c in calls)).encode()).hexdigest()[:32]
    led, backend = cache.ledger, cache.backend
    pending = f"pending:{model}:{keys_hash}"
    recorded = await _recorded(client, led, [backend, model, keys_hash], pending)
    if recorded is not None:
        return recorded
    marks = ", ".join("?" * len(ENDED))
    # The pending row first: a crash or a lost answer from here on is looked up on the rerun.
    led.execute(
        "INSERT OR IGNORE INTO eval_batches (backend, model, batch_id, keys_hash, status,"
        " created_at) VALUES (?, ?, ?, ?, 'submitting', ?)",
        [backend, model, pending, keys_hash, time.time()],
    )
    meta = {"openai_ft": "eval", "model": model[:500], BATCH_KEY: keys_hash}
    done = led.query(
        f"SELECT batch_id FROM eval_batches WHERE backend = ? AND status IN ({marks})",
        [backend, *ENDED],
    )
    ended = {str(r["batch_id"]) for r in done}
    b = await _find_batch(client, meta, ended)
    if b is None:
        file_id = await _input_file(client, batch_input(calls), sleep)
        b = await _create_batch(client, file_id, meta, ended, sleep)
    with led.transaction():  # a row another location left for this batch id gives way
        led.execute("DELETE FROM eval_batches WHERE backend = ? AND batch_id = ?", [backend, b.id])
        led.execute(
            "UPDATE eval_batches SET batch_id = ?, status = ? WHERE backend = ? AND batch_id = ?",
            [b.id, b.status, backend, pending],
        )
    return str(b.id)


async def _recorded(client: Any, led: Any, key: list[str], pending: str) -> str | None:
    """A batch recorded for these requests that the service still has (newest first).

    A recorded batch it does not know (another organisation or project behind the same backend
    name) is marked ``not_found``, never deleted: its own location still finds it by metadata.
    """
    gone = [*ENDED, NOT_HERE]
    marks = ", ".join("?" * len(gone))
    rows = led.query(
        "SELECT batch_id FROM eval_batches WHERE backend = ? AND model = ? AND keys_hash = ?"
        f" AND status NOT IN ({marks}) AND batch_id != ? ORDER BY created_at DESC",
        [*key, *gone, pending],
    )
    for row in rows:
        try:
            await client.batches.retrieve(row["batch_id"])
        except Exception as exc:
            err = map_error(exc, f"checking batch {row['batch_id']}")
            if not isinstance(err, NotFound):
                raise err from exc
            led.execute(
                "UPDATE eval_batches SET status = ? WHERE backend = ? AND batch_id = ?",
                [NOT_HERE, key[0], row["batch_id"]],
            )
            continue
        return str(row["batch_id"])
    return None


async def _find_batch(client: Any, meta: dict[str, str], skip: set[str]) -> Any | None:
    """Our batch for these requests on the service (newest first), unless it ended unusable."""
    try:
        seen = 0
        async for b in client.batches.list(limit=100):
            got = b.metadata or {}
            usable = b.status not in ENDED and b.id not in skip
            if usable and all(got.get(k) == v for k, v in meta.items()):
                return b
            seen += 1
            if seen >= LOOKUP_SCAN:
                break
    except Exception as exc:
        raise map_error(exc, "listing batches") from exc
    return None


async def _input_file(client: Any, data: bytes, sleep: Callable[[float], Awaitable[None]]) -> str:
    """The batch input file: found by its content-addressed name and size, else created once."""
    name = f"eval-batch.{hashlib.sha256(data).hexdigest()[:16]}.jsonl"

    async def find() -> str | None:
        try:
            async for f in client.files.list(purpose="batch"):
                if f.filename == name and f.bytes == len(data) and f.status != "error":
                    return str(f.id)
        except Exception as exc:
            raise map_error(exc, "listing files") from exc
        return None

    async def create() -> str:
        f = await creating(client).files.create(file=(name, data), purpose="batch")
        return str(f.id)

    file_id = await _once(find, create, sleep, f"uploading the batch input {name}", True)
    return str(file_id)


async def _create_batch(
    client: Any,
    file_id: str,
    meta: dict[str, str],
    skip: set[str],
    sleep: Callable[[float], Awaitable[None]],
) -> Any:
    """Create the batch without SDK retries; after a lost answer, look for it before retrying."""

    async def create() -> Any:
        return await creating(client).batches.create(
            input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h", metadata=meta
        )

    return await _once(lambda: _find_batch(client, meta, skip), create, sleep, "creating the batch")


async def _once(
    find: Callable[[], Awaitable[Any]],
    create: Callable[[], Awaitable[Any]],
    sleep: Callable[[float], Awaitable[None]],
    action: str,
    first_look: bool = False,
) -> Any:
    """``create()``, retried only after an ambiguous failure and only when ``find()`` finds
    nothing (the lost answer's object would be found there)."""
    last: Exception | None = None
    for attempt in range(CREATE_ATTEMPTS):
        if attempt:
            await sleep(2.0**attempt)
        if attempt or first_look:
            found = await find()
            if found is not None:
                return found
        try:
            return await create()
        except Exception as exc:
            err = map_error(exc, action)
            if not isinstance(err, ServiceUnavailable):
                raise err from exc
            last = err
    assert last is not None
    raise last


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
    return answers
