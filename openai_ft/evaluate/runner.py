"""The async request runner: bounded concurrency, client-side pacing, our own 429/5xx handling
(the SDK runs with ``max_retries=0`` so retries never multiply), and every answer written to the
ledger the moment it arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

from openai_ft.evaluate.cache import Answer, AnswerCache
from openai_ft.evaluate.pacing import Pacer, Ticket, retry_after
from openai_ft.evaluate.scorers import message_text

MAX_ATTEMPTS = 6  # for 5xx and connection errors; 429s wait as the service says, up to 50 times
MAX_THROTTLES = 50


@dataclass(frozen=True)
class Call:
    """One chat completion to make: the model, the request body (without model) and its key."""

    model: str
    body: dict[str, Any]
    key: str
    tokens: int = 0  # estimated prompt + completion tokens, for --tpm pacing


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run, handed to the progress callback after every answer."""

    total: int
    done: int
    cached: int
    errors: int
    requests: int
    throttled: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    elapsed: float
    spent_usd: float = 0.0  # what this run paid: cost_usd less the answers from the ledger

    @property
    def rate(self) -> float:
        """Requests sent per second so far."""
        return self.requests / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current pace (None before the first answer)."""
        fresh = self.done - self.cached
        if fresh <= 0 or self.elapsed <= 0:
            return None
        return (self.total - self.done) * self.elapsed / fresh


@dataclass(frozen=True)
class RunOptions:
    """How to run: concurrency, limits, and whether stored failures are tried again."""

    concurrency: int = 8
    rpm: float | None = None
    tpm: float | None = None
    retry_errors: bool = False
    max_attempts: int = MAX_ATTEMPTS


ProgressFn = Callable[[Progress], None]


class LedgerWriter:
    """The one task that writes answers and send logs to the ledger, from a worker thread.

    A SQLite commit can wait seconds for another process's write lock (``busy_timeout``); done on
    the event loop, that wait froze every request in flight. Here the requests keep flowing while
    a write waits, and what queued meanwhile is written together once the lock is free.
    """

    def __init__(
        self, transaction: Callable[[], AbstractContextManager[Any]] = nullcontext
    ) -> None:
        self._queue: asyncio.Queue[Callable[[], None] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # What queued together commits together: an attempt's log and its answer, queued with no
        # await between them, can never be split by a crash (a rerun would send that one again).
        self._transaction = transaction

    def write(self, fn: Callable[[], None]) -> None:
        """Queue one write (a call of the answer cache); it runs in order, off the event loop."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain())
        self._queue.put_nowait(fn)

    async def _drain(self) -> None:
        while True:
            todo = [await self._queue.get()]
            while not self._queue.empty():
                todo.append(self._queue.get_nowait())
            writes = [fn for fn in todo if fn is not None]
            if writes:
                await asyncio.to_thread(_run_all, writes, self._transaction)
            if None in todo:
                return

    async def close(self) -> None:
        """Wait until everything queued is written (re-raises a failed write)."""
        if self._task is not None:
            self._queue.put_nowait(None)
            task, self._task = self._task, None
            await task


def _run_all(
    writes: list[Callable[[], None]], transaction: Callable[[], AbstractContextManager[Any]]
) -> None:
    with transaction():
        for fn in writes:
            fn()


def answer_from_response(data: dict[str, Any]) -> Answer:
    """An Answer from a chat completion body (the dict the API returned)."""
    usage = data.get("usage") or {}
    texts = tuple(message_text(c.get("message") or {}) for c in data.get("choices") or [])
    return Answer(
        "ok",
        texts,
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        response=data,
    )


class Runner:
    """Sends calls that have no stored answer; see :func:`run_calls`."""

    def __init__(
        self,
        client: Any,
        cache: AnswerCache,
        options: RunOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_progress: ProgressFn | None = None,
        cost: Callable[[str, int, int], float] | None = None,
    ) -> None:
        # Our loop retries; a retrying SDK underneath would multiply attempts.
        self.client = client.with_options(max_retries=0)
        self.cache = cache
        self.options = options
        self.clock = clock
        self.sleep = sleep
        self.on_progress = on_progress
        self.cost = cost or (lambda model, p, c: 0.0)
        self.pacer = Pacer(options.rpm, options.tpm, clock=clock)
        self._stats = dict(done=0, cached=0, errors=0, requests=0, pt=0, ct=0)
        self._usd = self._spent = 0.0
        self._missing: dict[str, str] = {}  # model -> why it is not there (a 404)
        self.writer = LedgerWriter(cache.ledger.transaction)
        self._total = 0
        self._start = 0.0

    def _progress(self) -> Progress:
        s = self._stats
        return Progress(
            self._total, s["done"], s["cached"], s["errors"], s["requests"],
            self.pacer.throttled, s["pt"], s["ct"], self._usd, self.clock() - self._start,
            self._spent,
        )  # fmt: skip

    def _count(self, model: str, answer: Answer, cached: bool) -> None:
        s = self._stats
        s["done"] += 1
        s["cached"] += int(cached)
        s["errors"] += int(not answer.ok)
        s["pt"] += answer.prompt_tokens
        s["ct"] += answer.completion_tokens
        usd = self.cost(model, answer.prompt_tokens, answer.completion_tokens)
        self._usd += usd
        self._spent += 0.0 if cached else usd
        if self.on_progress:
            self.on_progress(self._progress())

    async def run(self, calls: Sequence[Call]) -> dict[tuple[str, str], Answer]:
        """Answer every call (from the ledger or the service); returns (model, key) -> Answer.

        Each model's first request goes alone: a model the service does not know (404) fails
        that one request, and the model's other calls fail without being sent.
        """
        unique = list({(c.model, c.key): c for c in calls}.values())
        self._total, self._start = len(unique), self.clock()
        results: dict[tuple[str, str], Answer] = {}
        pending = self._from_ledger(unique, results)
        firsts = list({c.model: c for c in reversed(pending)}.values())
        queue: asyncio.Queue[Call] = asyncio.Queue()
        for c in pending:
            if all(c is not f for f in firsts):
                queue.put_nowait(c)

        async def answer(call: Call) -> None:
            missing = self._missing.get(call.model)
            if missing is not None:  # never sent: nothing paid, nothing stored
                result = Answer("error", error=f"not sent: {call.model} {missing}")
            else:
                result = await self._send(call)
            results[(call.model, call.key)] = result
            self._count(call.model, result, cached=False)

        async def worker() -> None:
            while not queue.empty():
                await answer(queue.get_nowait())

        try:
            await asyncio.gather(*(answer(c) for c in firsts))
            workers = max(1, min(self.options.concurrency, queue.qsize()))
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:  # also on Ctrl-C: every answer received is in the ledger before we stop
            await self.writer.close()
        return results

    def _from_ledger(
        self, calls: Sequence[Call], results: dict[tuple[str, str], Answer]
    ) -> list[Call]:
        """Fill ``results`` with stored answers; return the calls still to send, in order."""
        by_model: dict[str, list[Call]] = {}
        for c in calls:
            by_model.setdefault(c.model, []).append(c)
        pending: list[Call] = []
        for model, group in by_model.items():
            stored = self.cache.get_many(model, [c.key for c in group])
            for c in group:
                a = stored.get(c.key)
                if a is not None and (a.ok or not self.options.retry_errors):
                    results[(model, c.key)] = a
                    self._count(model, a, cached=True)
                else:
                    pending.append(c)
        return pending

    async def _send(self, call: Call) -> Answer:
        import openai

        failures = throttles = 0
        while True:
            ticket = await self._slot(call.tokens)
            self._stats["requests"] += 1
            try:
                raw = await self.client.chat.completions.with_raw_response.create(
                    model=call.model, **call.body
                )
                data = raw.parse().model_dump(exclude_none=True)
            except openai.APIStatusError as exc:
                headers = dict(exc.response.headers)
                self._log_send(call, exc.status_code)
                if exc.status_code == 404:  # model_not_found, or Azure's DeploymentNotFound
                    self._missing[call.model] = f"was not found (HTTP 404: {exc.message})"
                if exc.status_code == 429:
                    throttles += 1
                    wait = self.pacer.throttle(headers, throttles, ticket)
                    if throttles <= MAX_THROTTLES:
                        await self.sleep(wait)
                        continue
                else:
                    self.pacer.observe(headers, ticket)
                failures += 1
                retryable = exc.status_code >= 500 or exc.status_code in (408, 409)
                if retryable and failures < self.options.max_attempts:
                    await self.sleep(retry_after(headers, failures))
                    continue
                return self._fail(call, f"HTTP {exc.status_code}: {exc.message}")
            except (openai.APIConnectionError, openai.APIResponseValidationError) as exc:
                self.pacer.observe({}, ticket)
                self._log_send(call, None)
                failures += 1
                if failures < self.options.max_attempts:
                    await self.sleep(retry_after({}, failures))
                    continue
                return self._fail(call, f"{type(exc).__name__}: {exc}")
            self.pacer.observe(dict(raw.headers), ticket)
            self._log_send(call, raw.status_code)
            return self._store(call, answer_from_response(data))

    async def _slot(self, tokens: int) -> Ticket:
        """Wait until the pacer lets a request of ``tokens`` tokens go."""
        while True:
            wait, ticket = self.pacer.reserve(tokens)
            if ticket is not None:
                return ticket
            await self.sleep(wait)

    def _log_send(self, call: Call, status: int | None) -> None:
        self.writer.write(partial(self.cache.log_send, call.model, call.key, status))

    def _store(self, call: Call, answer: Answer) -> Answer:
        """Queue the answer for the ledger; return it as stored, so a rerun scores the same."""
        stored = self.cache.stored_form(answer)
        self.writer.write(partial(self.cache.put, call.model, call.key, stored))
        return stored

    def _fail(self, call: Call, message: str) -> Answer:
        return self._store(call, Answer("error", error=message))


async def run_calls(
    client: Any,
    calls: Sequence[Call],
    cache: AnswerCache,
    options: RunOptions | None = None,
    **kwargs: Any,
) -> dict[tuple[str, str], Answer]:
    """Answer ``calls`` through ``client`` (an AsyncOpenAI), reusing and filling the ledger."""
    return await Runner(client, cache, options or RunOptions(), **kwargs).run(calls)
