"""The Uploads API in parts: parallel, bounded memory, resumable through the ledger."""

from __future__ import annotations

import contextlib
import io
import math
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from openai_ft.client import creating, map_error
from openai_ft.errors import BackendError, OpenAIFTError, ServiceUnavailable

if TYPE_CHECKING:
    import openai

    from openai_ft.store import Ledger

# Resume only when the upload stays open long enough to send the remaining parts.
RESUME_MARGIN = 120.0
COMPLETE_ATTEMPTS = 3


@dataclass(frozen=True)
class Target:
    """One file to send: where (ledger backend and location), what (hash, size), under what name."""

    backend: str
    location: str
    sha256: str
    name: str
    size: int
    purpose: str


class Counting(io.BytesIO):
    """Bytes that report how far they have been read (the SDK streams them in chunks)."""

    def __init__(self, data: bytes, report: Callable[[int], None]) -> None:
        super().__init__(data)
        self._report = report

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._report(self.tell())
        return chunk


class _Progress:
    """Bytes sent over all parts; a part's retry does not count its bytes twice."""

    def __init__(self, report: Callable[[int], None] | None, already: int) -> None:
        self._report = report
        self._lock = threading.Lock()
        self._done = already
        self._inflight: dict[int, int] = {}

    def part(self, idx: int, pos: int) -> None:
        with self._lock:
            if pos <= self._inflight.get(idx, 0):
                return
            self._inflight[idx] = pos
            total = self._done + sum(self._inflight.values())
        if self._report:
            self._report(total)

    def finish(self, idx: int, size: int) -> None:
        with self._lock:
            self._inflight.pop(idx, None)
            self._done += size


_WHERE = "backend = ? AND location = ? AND sha256 = ?"


def forget_upload(ledger: Ledger, t: Target) -> None:
    """Drop the record of an upload in parts (done, or no longer known to the service)."""
    key = (t.backend, t.location, t.sha256)
    row = ledger.one(f"SELECT upload_id FROM uploads WHERE {_WHERE}", key)
    if row is not None:
        ledger.execute("DELETE FROM upload_parts WHERE upload_id = ?", (row["upload_id"],))
        ledger.execute(f"DELETE FROM uploads WHERE {_WHERE}", key)


def _open_upload(
    client: openai.OpenAI, ledger: Ledger, t: Target, part_size: int, now: float
) -> tuple[str, dict[int, str]]:
    """The upload to continue (with its sent parts) or a fresh one."""
    row = ledger.one(
        f"SELECT upload_id, part_size, expires_at FROM uploads WHERE {_WHERE}",
        (t.backend, t.location, t.sha256),
    )
    if row is not None:
        still_open = (row["expires_at"] or 0) > now + RESUME_MARGIN
        if still_open and row["part_size"] == part_size:
            rows = ledger.query(
                "SELECT idx, part_id FROM upload_parts WHERE upload_id = ?", (row["upload_id"],)
            )
            return str(row["upload_id"]), {int(r["idx"]): str(r["part_id"]) for r in rows}
        with contextlib.suppress(Exception):  # an expired upload cannot be cancelled; fine
            client.uploads.cancel(row["upload_id"])
        forget_upload(ledger, t)
    try:
        up = creating(client).uploads.create(
            bytes=t.size,
            filename=t.name,
            mime_type="application/jsonl",
            purpose=t.purpose,  # type: ignore[arg-type]
        )
    except Exception as exc:
        raise map_error(exc, f"starting the upload of {t.name}") from exc
    expires = float(getattr(up, "expires_at", 0) or now + 3600)
    ledger.execute(
        "INSERT OR REPLACE INTO uploads (backend, location, sha256, upload_id, part_size,"
        " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (t.backend, t.location, t.sha256, up.id, part_size, expires, now),
    )
    return str(up.id), {}


def chunked_upload(
    client: openai.OpenAI,
    ledger: Ledger,
    t: Target,
    path: Path,
    *,
    part_size: int,
    workers: int,
    report: Callable[[int], None] | None,
    clock: Callable[[], float],
    find: Callable[[], str | None],
) -> tuple[str, int, int]:
    """Send a file in parts; return (file id, number of parts, parts reused from before).

    The upload's record stays in the ledger: the caller records the file id first, then calls
    :func:`forget_upload`, so there is no moment when neither is recorded.
    """
    size = t.size
    upload_id, done = _open_upload(client, ledger, t, part_size, clock())
    n_parts = max(1, math.ceil(size / part_size))
    resumed = len(done)
    sizes = [min(part_size, size - i * part_size) for i in range(n_parts)]
    progress = _Progress(report, sum(sizes[i] for i in done))
    todo = [i for i in range(n_parts) if i not in done]

    failed = threading.Event()

    def send(idx: int) -> None:
        if failed.is_set():
            return  # another part failed: stop here, what was sent is recorded
        with path.open("rb") as fh:
            fh.seek(idx * part_size)
            data = fh.read(part_size)
        counting = Counting(data, lambda pos: progress.part(idx, pos))
        try:
            part = client.uploads.parts.create(upload_id, data=counting)
        except BaseException:
            failed.set()
            raise
        ledger.execute(
            "INSERT OR REPLACE INTO upload_parts (upload_id, idx, part_id) VALUES (?, ?, ?)",
            (upload_id, idx, part.id),
        )
        done[idx] = str(part.id)
        progress.finish(idx, len(data))

    # Threads read their own part only when they run: memory stays at workers x part_size.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(send, i) for i in todo]
        _finished, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in pending:
            fut.cancel()
        for fut in futures:
            exc = fut.exception() if fut.done() and not fut.cancelled() else None
            if exc is not None:
                err = map_error(exc, f"sending a part of {path}")
                if resumed and not isinstance(err, ServiceUnavailable):
                    forget_upload(ledger, t)  # the service no longer knows this upload
                    err.tip = "run the same command again to start the upload over"
                elif isinstance(err, OpenAIFTError):
                    err.tip = "run the same command again: the parts already sent are kept"
                raise err from exc
    file_id = _complete(client, upload_id, [done[i] for i in range(n_parts)], path, find)
    return file_id, n_parts, resumed


def _complete(
    client: openai.OpenAI,
    upload_id: str,
    part_ids: list[str],
    path: Path,
    find: Callable[[], str | None],
) -> str:
    last: BackendError | None = None
    for _ in range(COMPLETE_ATTEMPTS):
        try:
            up = creating(client).uploads.complete(upload_id, part_ids=part_ids)
        except Exception as exc:  # a lost answer: look for the file, then retry
            err = map_error(exc, f"completing the upload of {path}")
            found = find() if last is not None else None
            if found:
                return found
            if not isinstance(err, ServiceUnavailable):
                raise err from exc
            last = err
            continue
        if up.file is None:
            raise BackendError(f"the upload of {path} completed without a file ({up.status})")
        return str(up.file.id)
    assert last is not None
    raise last
