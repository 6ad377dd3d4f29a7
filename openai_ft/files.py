"""Content-addressed upload: the same bytes on the same backend are uploaded once.

Small files go through the Files API; files over :data:`CHUNK_THRESHOLD` go through the Uploads
API in parts sent in parallel (memory bounded by ``workers x part_size``). Every part is recorded
in the ledger, so an interrupted upload resumes with the parts already sent while the upload is
still open, and starts over cleanly once it has expired.

Creates run without SDK retries (:func:`client.creating`): the name we upload under carries a
prefix of the content hash, so after an ambiguous failure we look for that name before trying
again, and a retry never leaves two copies.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft._uploads import Counting, Target, chunked_upload, forget_upload
from openai_ft.client import creating, map_error
from openai_ft.errors import (
    BackendError,
    DataError,
    NotFound,
    ServiceUnavailable,
)

if TYPE_CHECKING:
    import openai

    from openai_ft.config import BackendSettings
    from openai_ft.store import Ledger

MB = 1024 * 1024
PART_SIZE = 64 * MB
CHUNK_THRESHOLD = 64 * MB
CREATE_ATTEMPTS = 3
PROCESS_TIMEOUT = 30 * 60.0


@dataclass(frozen=True)
class UploadProgress:
    """Bytes of one file sent so far (emitted many times per file)."""

    path: str
    sent: int
    total: int


@dataclass(frozen=True)
class UploadResult:
    """One uploaded (or reused) file."""

    path: str
    file_id: str
    sha256: str
    bytes: int
    reused: bool
    parts: int = 0
    resumed_parts: int = 0
    warnings: tuple[str, ...] = ()


ProgressCallback = Callable[[UploadProgress], None]


def sha256_file(path: str | Path, block: int = 1 * MB) -> str:
    """The sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def remote_name(path: Path, sha256: str) -> str:
    """The name we upload under: the file's name with a hash prefix (``train.1a2b3c4d5e6f.jsonl``)."""
    return f"{path.stem}.{sha256[:12]}{path.suffix}"


def check_data(path: Path, *, method: str, model: str | None, force: bool) -> tuple[str, ...]:
    """Validate a training file; refuse invalid data unless ``force`` (then return warnings)."""
    from openai_ft.dataset.validate import validate

    kwargs: dict[str, Any] = {"method": method}
    if model:
        kwargs["model"] = model
    report = validate(path, **kwargs)
    if report.valid:
        return ()
    errors = [e for e in report.errors if getattr(e, "severity", "error") == "error"]
    errors = errors or list(report.errors)
    # A line-level error is what the user can fix; "too few examples" is often its consequence.
    first = next((e for e in errors if e.line), errors[0])
    where = f"{path}:{first.line}" if first.line else str(path)
    summary = f"{where}: {first.message} ({len(errors)} error(s) in all)"
    if not force:
        from openai_ft.dataset.validate import fix_tip

        raise DataError(
            f"{summary}; not uploading invalid data",
            tip=fix_tip(path, first, method, "or pass --force to upload anyway"),
        )
    return (f"uploading invalid data because of --force: {summary}",)


def upload(
    paths: Sequence[str | Path] | str | Path,
    *,
    backend: str | BackendSettings | None = None,
    purpose: str = "fine-tune",
    force: bool = False,
    client: openai.OpenAI | None = None,
    ledger: Ledger | None = None,
    on_progress: ProgressCallback | None = None,
    method: str = "supervised",
    model: str | None = None,
    validate: bool = True,
    part_size: int = PART_SIZE,
    chunk_threshold: int = CHUNK_THRESHOLD,
    workers: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> list[UploadResult]:
    """Validate and upload files, reusing the recorded file id when the same bytes were sent."""
    from openai_ft.client import make_client
    from openai_ft.config import BackendSettings, resolve_backend
    from openai_ft.store import Ledger

    settings = backend if isinstance(backend, BackendSettings) else resolve_backend(backend)
    cli = client or make_client(settings)
    book = ledger or Ledger()
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    results = []
    for item in items:
        path = Path(item)
        if not path.is_file():
            from openai_ft.dataset.validate import missing_input

            raise missing_input(path)
        warnings = check_data(path, method=method, model=model, force=force) if validate else ()
        how = _How(on_progress, part_size, chunk_threshold, workers, sleep, clock)
        results.append(_upload_one(cli, book, settings.name, path, purpose, warnings, how))
    return results


@dataclass(frozen=True)
class _How:
    """How to send: progress callback, part size and threshold, threads, time."""

    on_progress: ProgressCallback | None
    part_size: int
    chunk_threshold: int
    workers: int
    sleep: Callable[[float], None]
    clock: Callable[[], float]


def _upload_one(
    client: openai.OpenAI,
    ledger: Ledger,
    backend: str,
    path: Path,
    purpose: str,
    warnings: tuple[str, ...],
    how: _How,
) -> UploadResult:
    """Reuse or send one file; its id is recorded as soon as the service names it."""
    from openai_ft.store import location

    sha = sha256_file(path)
    size = path.stat().st_size
    _record_dataset(ledger, path, sha, how.clock())
    t = Target(backend, location(client), sha, remote_name(path, sha), size, purpose)
    on = how.on_progress
    report = (lambda n: on(UploadProgress(str(path), n, size))) if on else None
    # One process at a time per file and place: a second one waits, then finds the first's id.
    with ledger.hold(f"upload {t.backend} {t.location} {sha} {purpose}"):
        known = reuse_recorded(client, ledger, t)
        if known is None:
            found = find_by_name(client, t.name, size, purpose)  # the ledger may have been lost
            known = (found, "uploaded") if found else None
            if found:
                _record_file(ledger, t, found, path, how.clock())
                forget_upload(ledger, t)  # an upload in parts that completed unrecorded
        parts = resumed = 0
        if known is None:
            file_id, parts, resumed = _send(client, ledger, t, path, report, how)
    if known is not None:
        file_id = known[0]
        if report:
            report(size)
    if known is None or known[1] != "processed":
        wait_processed(client, file_id, sleep=how.sleep, clock=how.clock)
    reused = known is not None
    return UploadResult(str(path), file_id, sha, size, reused, parts, resumed, warnings)


def _send(
    client: openai.OpenAI,
    ledger: Ledger,
    t: Target,
    path: Path,
    report: Callable[[int], None] | None,
    how: _How,
) -> tuple[str, int, int]:
    """Create the file on the service and record its id at once: (file id, parts, resumed)."""
    if t.size > how.chunk_threshold:
        file_id, parts, resumed = chunked_upload(
            client, ledger, t, path, part_size=how.part_size, workers=how.workers,
            report=report, clock=how.clock,
            find=lambda: find_by_name(client, t.name, t.size, t.purpose),
        )  # fmt: skip
        _record_file(ledger, t, file_id, path, how.clock())
        forget_upload(ledger, t)  # only now: the file id is on record
        return file_id, parts, resumed
    file_id = _create_file(client, path, t.name, t.size, t.purpose, report, how.sleep)
    _record_file(ledger, t, file_id, path, how.clock())
    return file_id, 0, 0


def _record_file(ledger: Ledger, t: Target, file_id: str, path: Path, now: float) -> None:
    ledger.execute(
        "INSERT OR REPLACE INTO files (backend, location, sha256, file_id, path, bytes, purpose,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (t.backend, t.location, t.sha256, file_id, str(path), t.size, t.purpose, now),
    )


def reuse_recorded(client: openai.OpenAI, ledger: Ledger, t: Target) -> tuple[str, str] | None:
    """(file id, status) recorded for these bytes here, if the service still has the file.

    A row of this location that the service no longer knows is forgotten; a row recorded before
    locations were kept (``''``) is adopted when the service knows it and left alone otherwise.
    """
    rows = ledger.query(
        "SELECT location, file_id FROM files WHERE backend = ? AND sha256 = ? AND purpose = ?"
        " AND location IN (?, '') ORDER BY location DESC",
        (t.backend, t.sha256, t.purpose, t.location),
    )
    for row in rows:
        file_id, mine = str(row["file_id"]), row["location"] == t.location
        try:
            obj: Any = client.files.retrieve(file_id)
        except Exception as exc:  # mapped, then only NotFound is handled
            err = map_error(exc, f"checking file {file_id}")
            if not isinstance(err, NotFound):
                raise err from exc
            obj = None
        status = str(getattr(obj, "status", "processed")) if obj is not None else "gone"
        if status in ("gone", "error"):
            if mine:
                ledger.execute(
                    "DELETE FROM files WHERE backend = ? AND location = ? AND sha256 = ?"
                    " AND purpose = ?",
                    (t.backend, t.location, t.sha256, t.purpose),
                )
            continue
        if not mine:
            ledger.execute(
                "UPDATE files SET location = ? WHERE backend = ? AND location = '' AND file_id = ?",
                (t.location, t.backend, file_id),
            )
        return file_id, status
    return None


def find_by_name(client: openai.OpenAI, name: str, size: int, purpose: str) -> str | None:
    """A file already on the service under our content-addressed name (after a lost answer)."""
    try:
        for obj in client.files.list(purpose=purpose):
            if obj.filename == name and obj.bytes == size and obj.status != "error":
                return str(obj.id)
    except Exception as exc:  # one of ours from here on
        raise map_error(exc, "listing files") from exc
    return None


def _create_file(
    client: openai.OpenAI,
    path: Path,
    name: str,
    size: int,
    purpose: str,
    report: Callable[[int], None] | None,
    sleep: Callable[[float], None],
) -> str:
    data = path.read_bytes()
    sent = [0]

    def progress(pos: int) -> None:
        if report and pos > sent[0]:
            sent[0] = pos
            report(pos)

    last: BackendError | None = None
    for attempt in range(CREATE_ATTEMPTS):
        if attempt:
            sleep(2.0**attempt)
            found = find_by_name(client, name, size, purpose)
            if found:
                return found
        try:
            obj = creating(client).files.create(
                file=(name, Counting(data, progress), "application/jsonl"),
                purpose=purpose,  # type: ignore[arg-type]
            )
            return str(obj.id)
        except Exception as exc:  # only ambiguous failures are retried
            err = map_error(exc, f"uploading {path}")
            if not isinstance(err, ServiceUnavailable):
                raise err from exc
            last = err
    assert last is not None
    raise last


def wait_processed(
    client: openai.OpenAI,
    file_id: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    timeout: float = PROCESS_TIMEOUT,
) -> None:
    """Wait until the service has processed a file; a file it rejects is a DataError."""
    start = clock()
    delay = 0.5
    while True:
        try:
            obj = client.files.retrieve(file_id)
        except Exception as exc:
            raise map_error(exc, f"checking file {file_id}") from exc
        status = getattr(obj, "status", "processed")
        if status == "processed":
            return
        if status == "error":
            detail = getattr(obj, "status_details", None) or "no details given"
            raise DataError(f"the service rejected file {file_id}: {detail}")
        if clock() - start > timeout:
            raise ServiceUnavailable(
                f"file {file_id} is still {status} after {timeout:.0f} s",
                tip="run the same command again later: the file id is recorded and reused",
            )
        sleep(delay)
        delay = min(delay * 2, 10.0)


def _record_dataset(ledger: Ledger, path: Path, sha: str, now: float) -> None:
    manifest = path.parent / "manifest.json"
    manifest_json = None
    source = None
    if manifest.is_file():
        try:
            data = json.loads(manifest.read_text("utf-8"))
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and _manifest_lists(data, sha):
            manifest_json = json.dumps({**data, "manifest_path": str(manifest)}, sort_keys=True)
            source = source_text(data.get("source") or data.get("input"))
    ledger.execute(
        "INSERT OR IGNORE INTO datasets (sha256, path, source, manifest_json, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (sha, str(path), source, manifest_json, now),
    )


def _manifest_lists(data: dict[str, Any], sha: str) -> bool:
    """True when a prepare manifest lists these bytes (or lists no hashes to compare with)."""
    files = data.get("files")
    hashes = [f.get("sha256") for f in files.values() if isinstance(f, dict)] if isinstance(
        files, dict
    ) else []  # fmt: skip
    return sha in hashes or not any(hashes)


def source_text(source: Any) -> str | None:
    """The source table of a prepare manifest as one line: path (format, rows, sha256 prefix)."""
    if isinstance(source, dict):
        facts = [str(source["format"])] if source.get("format") else []
        if source.get("rows") is not None:
            facts.append(f"{source['rows']:,} rows" if isinstance(source["rows"], int)
                         else f"{source['rows']} rows")  # fmt: skip
        if source.get("sha256"):
            facts.append(f"sha256:{str(source['sha256'])[:12]}")
        path = str(source.get("path") or "?")
        return f"{path} ({', '.join(facts)})" if facts else path
    return str(source) if source else None
