"""Text generation for the ``hf`` engine: one decode loop for a batch of requests.

Concurrent chat requests on one model are batched: a worker thread per loaded model takes every
request waiting when it is free and decodes them together (left-padded, one forward pass per token
for the whole batch), so throughput grows with concurrency. Each row keeps its own sampling
settings (temperature, top_p, a ``torch.Generator`` seeded from the request's ``seed``), its own
stop strings and token limit, and reports each token as it is chosen (streaming).
"""

from __future__ import annotations

import inspect
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_BATCH_ROWS = 64
IDLE_EXIT_S = 30.0
GATHER_S = 0.005


@dataclass
class Row:
    """One completion to produce (a request with ``n`` > 1 is ``n`` rows)."""

    prompt: list[int]
    max_new: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stops: list[str] = field(default_factory=list)
    top_logprobs: int = 0
    on_text: Callable[[str, tuple[str, float, list[tuple[str, float]]]], None] | None = None
    # filled by the decode loop
    ids: list[int] = field(default_factory=list)
    text: str = ""
    tokens: list[tuple[str, float, list[tuple[str, float]]]] = field(default_factory=list)
    finish: str = "length"
    done: bool = False


def _choose(logits: Any, row: Row, generator: Any) -> int:
    import torch

    if row.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / row.temperature, dim=-1)
    if row.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, 0) - sorted_probs < row.top_p
        keep[0] = True
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


class Decoder:
    """A loaded causal LM and its tokenizer; decodes batches of rows."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos = {tokenizer.eos_token_id, *(_eos_ids(model))} - {None}
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._queue: queue.Queue[tuple[list[Row], threading.Event]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches: list[int] = []  # rows per decode call, for tests and benchmarks
        # transformers 5.x renamed the forward argument ``past_key_values`` to ``cache``.
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        # Only the last position's logits are used: skip the vocabulary projection of the rest.
        self._keep = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self._last_rows = 1

    def run(self, rows: list[Row]) -> None:
        """Decode ``rows`` (blocking), batched with whatever other threads submit meanwhile."""
        done = threading.Event()
        self._queue.put((rows, done))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="hf-decode", daemon=True)
                self._thread.start()
        done.wait()

    def _loop(self) -> None:
        while True:
            try:
                # An idle thread ends, so that a model the service forgot can be freed.
                jobs = [self._queue.get(timeout=IDLE_EXIT_S)]
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            self._gather(jobs)
            rows = [row for r, _ in jobs for row in r]
            try:
                self.decode(rows)
            except Exception as exc:  # thread boundary: the waiting requests must not hang
                for row in rows:
                    row.done, row.finish, row.text = True, "error", f"{type(exc).__name__}: {exc}"
            for _, event in jobs:
                event.set()

    def _gather(self, jobs: list[tuple[list[Row], threading.Event]]) -> None:
        """Add the requests waiting now; after a batched decode, wait up to ``GATHER_S`` for as
        many rows as it had (concurrent clients send their next requests within milliseconds,
        and a lone first request would otherwise make the others wait a whole decode)."""
        deadline = time.monotonic() + (GATHER_S if self._last_rows > 1 else 0.0)
        rows = sum(len(r) for r, _ in jobs)
        while rows < MAX_BATCH_ROWS:
            left = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            jobs.append(job)
            rows += len(job[0])
            if rows >= self._last_rows:
                deadline = 0.0  # as many as last time: go
        self._last_rows = rows

    def decode(self, rows: list[Row]) -> None:
        """Generate every row to its end (stop string, end of turn, or token limit)."""
        import torch

        self.batches.append(len(rows))
        device = next(self.model.parameters()).device
        width = max(len(r.prompt) for r in rows)
        ids = torch.tensor([[self.pad] * (width - len(r.prompt)) + r.prompt for r in rows])
        mask = torch.tensor([[0] * (width - len(r.prompt)) + [1] * len(r.prompt) for r in rows])
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        gens = [torch.Generator().manual_seed(_seed(r.seed)) for r in rows]
        past = None
        with torch.inference_mode():
            for _ in range(max(r.max_new for r in rows)):
                out = self.model(
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=positions,
                    use_cache=True,
                    **{self._cache_arg: past},
                    **self._keep,
                )
                past = getattr(out, "cache", None) or out.past_key_values
                logits = out.logits[:, -1, :].float().cpu()
                logps = torch.log_softmax(logits, dim=-1)
                chosen = [self._step(r, logits[i], logps[i], gens[i]) for i, r in enumerate(rows)]
                if all(r.done for r in rows):
                    break
                ids = torch.tensor(chosen, device=device)[:, None]
                mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
                positions = positions[:, -1:] + 1
        for r in rows:
            r.done = True

    def _step(self, row: Row, logits: Any, logp: Any, generator: Any) -> int:
        import torch

        if row.done:
            return self.pad
        token = _choose(logits, row, generator)
        if token in self.eos:
            row.done, row.finish = True, "stop"
            return self.pad
        row.ids.append(token)
        text = self.tokenizer.decode(row.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half a multi-byte character: wait for the rest
            piece = ""
        else:
            piece, row.text = text[len(row.text) :], text
        for stop in row.stops:
            cut = row.text.find(stop)
            if cut >= 0:
                piece = piece[: max(0, len(piece) - (len(row.text) - cut))]
                row.text, row.done, row.finish = row.text[:cut], True, "stop"
                break
        alts: list[tuple[str, float]] = []
        if row.top_logprobs:
            top = torch.topk(logp, row.top_logprobs)
            alts = [
                (self.tokenizer.decode([int(t)]), float(v))
                for v, t in zip(top.values, top.indices, strict=True)
            ]
        entry = (piece, float(logp[token]), alts)
        if piece or not row.done:
            row.tokens.append(entry)
            if row.on_text is not None:
                row.on_text(piece, entry)
        if not row.done and len(row.ids) >= row.max_new:
            row.done, row.finish = True, "length"
        return token


def _seed(seed: int | None) -> int:
    return secrets.randbits(63) if seed is None else seed % 2**63


def _eos_ids(model: Any) -> list[int]:
    value = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]


__all__ = ["MAX_BATCH_ROWS", "Decoder", "Row"]
