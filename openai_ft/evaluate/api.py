"""``openai_ft.evaluate(...)``: run models over an eval set, score, compare, save the run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.config import BackendSettings, resolve_backend
from openai_ft.errors import UsageError
from openai_ft.evaluate import judge as judging
from openai_ft.evaluate.cache import Answer, AnswerCache, open_ledger, request_hash
from openai_ft.evaluate.data import Example, estimate_tokens, load_examples, request_body
from openai_ft.evaluate.runner import Call, ProgressFn, Runner, RunOptions
from openai_ft.evaluate.runs import new_run_id, save_run
from openai_ft.evaluate.scorers import Scorer, as_scorer
from openai_ft.evaluate.summary import score_column, summarize
from openai_ft.store import Ledger

if TYPE_CHECKING:
    import pandas as pd

ScorerLike = Scorer | str | Callable[[str, str], float | bool]


@dataclass(frozen=True)
class EvalResult:
    """The per-example results (one row per example and model) and the summary dict."""

    run_id: str
    results: pd.DataFrame
    summary: dict[str, Any]


def resolve_models(
    models: Sequence[str], backend: str, ledger: Ledger | None, *, allow_empty: bool = False
) -> list[str]:
    """Expand ``@latest`` to the latest fine-tuned model of the backend, ``@name`` to an alias."""
    out: list[str] = []
    for m in models:
        if m == "@latest":
            from openai_ft.runs import require_latest_model

            m = require_latest_model(backend, ledger=ledger)
        elif m.startswith("@"):
            from openai_ft.aliases import is_alias_ref, resolve_alias

            if is_alias_ref(m):  # @prod: a model alias, refused if it names another backend's
                m = resolve_alias(m, backend, ledger=ledger)
        out.append(m)
    if not out and not allow_empty:
        raise UsageError(
            "no model to evaluate", tip="pass --model MODEL (several allowed) or --checkpoints JOB"
        )
    return out


def _cost(model: str, prompt: int, completion: int, batch: bool = False) -> float:
    from openai_ft.catalog import inference_cost

    return inference_cost(model, prompt, completion, batch=batch)


def evaluate(
    data: str | Path | Sequence[Example], models: Sequence[str], **kwargs: Any
) -> EvalResult:
    """Evaluate ``models`` on ``data`` (chat JSONL); see :func:`evaluate_async` for options."""
    return asyncio.run(evaluate_async(data, models, **kwargs))


async def evaluate_async(
    data: str | Path | Sequence[Example],
    models: Sequence[str],
    *,
    scorers: Sequence[ScorerLike] = ("exact",),
    settings: BackendSettings | None = None,
    client: Any = None,
    ledger: Ledger | None = None,
    temperature: float | None = None,
    max_completion_tokens: int | None = None,
    seed: int | None = None,
    n: int | None = None,
    options: RunOptions | None = None,
    batch: bool = False,
    rubric: str = judging.DEFAULT_RUBRIC,
    on_progress: ProgressFn | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    run_id: str | None = None,
    save: bool = True,
    checkpoints: str | None = None,
    limit: int | None = None,
) -> EvalResult:
    """Answer every example with every model, score, compare paired, and save the run.

    Scorers are names (``"exact"``, ``"numeric:0.01"``...), :class:`Scorer` objects or plain
    ``fn(prediction, reference) -> float | bool`` functions. Answers come from the ledger when
    present; only missing ones are sent. ``checkpoints=JOB`` adds the job's checkpoints and final
    model after ``models`` (baselines) and names the best of them in ``summary["best"]``.
    ``limit=N`` evaluates only the first N examples.
    """
    examples = _examples(data, limit)
    s = settings or resolve_backend()
    led = open_ledger(ledger)
    try:
        models = resolve_models(models, s.name, led, allow_empty=checkpoints is not None)
        scorer_objs = [as_scorer(x) for x in scorers]
        if not scorer_objs:
            raise UsageError("no scorer chosen", tip="pass --scorer exact (several allowed)")
        opts = options or RunOptions()
        sampling = {"temperature": temperature, "max_completion_tokens": max_completion_tokens,
                    "seed": seed, "n": n}  # fmt: skip
        if client is None:
            from openai_ft.client import make_async_client

            client = make_async_client(s, max_retries=0, max_connections=max(opts.concurrency, 1))
        candidates: list[str] = []
        if checkpoints is not None:
            from openai_ft.evaluate.checkpoints import checkpoint_models

            candidates = await checkpoint_models(client, checkpoints)
            models = models + [c for c in candidates if c not in models]
        cache = AnswerCache(led, s.name)
        bodies = [request_body(ex, sampling) for ex in examples]
        keys = [request_hash(b) for b in bodies]
        calls = [
            Call(m, b, k, estimate_tokens(b))
            for m in models
            for b, k in zip(bodies, keys, strict=True)
        ]
        timing = {"clock": clock, "sleep": sleep, "on_progress": on_progress}
        answers = await _answers(client, calls, cache, opts, batch, timing)
        rows = _rows(examples, models, keys, answers, scorer_objs)
        unparsed: dict[str, dict[str, Any]] = {}
        for sc in scorer_objs:
            if sc.judge_model:
                unparsed[sc.name] = await _judge(sc, rows, rubric, client, cache, opts, timing)
        import pandas as pd

        frame = pd.DataFrame(rows)
        rid = run_id or new_run_id()
        summary = summarize(frame, models, scorer_objs, rid)
        from openai_ft.catalog import PRICE_TABLE_DATE

        summary.update({"backend": s.name, "price_table_date": PRICE_TABLE_DATE, "batch": batch})
        if unparsed:
            summary["judge_unparsed"] = unparsed
        if checkpoints is not None:
            from openai_ft.evaluate.checkpoints import best_model

            summary["best"] = best_model(summary, candidates)
            summary["checkpoints_job"] = checkpoints
        if save:
            config = {"data": str(data) if isinstance(data, str | Path) else None, "models": models,
                      "scorers": [x.name for x in scorer_objs], "sampling": sampling, "batch": batch,
                      "checkpoints": checkpoints}  # fmt: skip
            save_run(rid, frame, summary, config, s.name, led)
        return EvalResult(rid, frame, summary)
    finally:
        if ledger is None:  # ours: a connection left open keeps SQLite's WAL state alive
            led.close()


def _examples(data: str | Path | Sequence[Example], limit: int | None) -> list[Example]:
    """The eval set (loaded from a path), cut to its first ``limit`` examples when given."""
    examples = list(data) if not isinstance(data, str | Path) else load_examples(data)
    if limit is not None:
        if limit < 1:
            raise UsageError(f"limit must be at least 1, got {limit}", tip="drop it or pass 1+")
        examples = examples[:limit]
    return examples


async def _answers(
    client: Any,
    calls: Sequence[Call],
    cache: AnswerCache,
    opts: RunOptions,
    batch: bool,
    timing: dict[str, Any],
) -> dict[tuple[str, str], Answer]:
    """Every call's answer, through the Batch API or the async runner."""
    if batch:
        from openai_ft.evaluate.batch import run_batch

        return await run_batch(client, calls, cache, retry_errors=opts.retry_errors,
                               cost=lambda m, p, c: _cost(m, p, c, True), **timing)  # fmt: skip
    return await Runner(client, cache, opts, cost=_cost, **timing).run(calls)


def _rows(
    examples: Sequence[Example],
    models: Sequence[str],
    keys: Sequence[str],
    answers: dict[tuple[str, str], Answer],
    scorers: Sequence[Scorer],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for model in models:
        for i, (ex, key) in enumerate(zip(examples, keys, strict=True)):
            a = answers.get((model, key)) or Answer("error", error="no answer")
            row: dict[str, Any] = {
                "example": i, "line": ex.line, "model": model, "question": ex.question,
                "reference": ex.reference, "prediction": a.texts[0] if a.texts else None,
                "status": a.status, "error": a.error, "prompt_tokens": a.prompt_tokens,
                "completion_tokens": a.completion_tokens, "batch": a.batch,
                "cost_usd": _cost(model, a.prompt_tokens, a.completion_tokens, a.batch),
                "request_hash": key, "from_ledger": a.from_ledger,
            }  # fmt: skip
            for sc in scorers:
                if sc.judge_model or not a.ok or not a.texts:
                    row[score_column(sc.name)] = None
                elif sc.classification:
                    row[score_column(sc.name)] = sc(a.texts[0], ex.reference)
                else:  # with --n, an example's score is the mean over its samples
                    row[score_column(sc.name)] = sum(sc(t, ex.reference) for t in a.texts) / len(
                        a.texts
                    )
            rows.append(row)
    return rows


async def _judge(
    sc: Scorer,
    rows: list[dict[str, Any]],
    rubric: str,
    client: Any,
    cache: AnswerCache,
    opts: RunOptions,
    timing: dict[str, Any],
) -> dict[str, Any]:
    """Fill the judge's score column; return how many of its replies gave no score (and the
    first such reply) and how many judge requests failed (and the first error), so an unusable
    judge is reported instead of leaving silent gaps.
    """
    assert sc.judge_model is not None
    todo = {
        i: judging.judge_call(
            sc.judge_model, r["question"], r["reference"], r["prediction"], rubric
        )
        for i, r in enumerate(rows)
        if r["status"] == "ok"
    }
    answers = await Runner(client, cache, opts, cost=_cost, **timing).run(list(todo.values()))
    col = score_column(sc.name)
    replies = count = failed = 0
    first: str | None = None
    first_error: str | None = None
    for i, call in todo.items():
        a = answers.get((call.model, call.key))
        score = None
        if a is None or not a.ok:
            failed += 1
            first_error = first_error or (a.error if a else "no answer")
        elif a.texts:
            replies += 1
            score = judging.parse_judge_score(a.texts[0])
            if score is None:
                count += 1
                first = a.texts[0][:300] if first is None else first
        rows[i][col] = score
    out: dict[str, Any] = {"count": count, "replies": replies, "first": first}
    if failed:
        out.update(failed=failed, first_error=(first_error or "")[:300])
    return out
