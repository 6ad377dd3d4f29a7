"""The SQLite ledger (``<state dir>/runs.db``): what data made which file, job, model and eval.

Migrations are append-only: each area of the code owns a list of ``(name, function)`` pairs,
applied once each, in order, and recorded as ``namespace:name`` in the ``_migrations`` table.
Never edit a migration that has shipped; add a new one. The ledger never stores an API key:
every text written through :meth:`Ledger.execute` is checked by :func:`errors.redact`.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from openai_ft.config import state_dir
from openai_ft.errors import InputError, redact

Migration = tuple[str, Callable[[sqlite3.Connection], None]]


def _m001_core(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, backend TEXT NOT NULL,
            created_at REAL NOT NULL, config_json TEXT, status TEXT
        );
        CREATE TABLE datasets (
            sha256 TEXT PRIMARY KEY, path TEXT, source TEXT, manifest_json TEXT,
            created_at REAL NOT NULL
        );
        CREATE TABLE files (
            backend TEXT NOT NULL, sha256 TEXT NOT NULL, file_id TEXT NOT NULL,
            path TEXT, bytes INTEGER, purpose TEXT, created_at REAL NOT NULL,
            PRIMARY KEY (backend, sha256, purpose)
        );
        CREATE TABLE uploads (
            backend TEXT NOT NULL, sha256 TEXT NOT NULL, upload_id TEXT NOT NULL,
            part_size INTEGER NOT NULL, expires_at REAL, created_at REAL NOT NULL,
            PRIMARY KEY (backend, sha256)
        );
        CREATE TABLE upload_parts (
            upload_id TEXT NOT NULL, idx INTEGER NOT NULL, part_id TEXT NOT NULL,
            PRIMARY KEY (upload_id, idx)
        );
        CREATE TABLE jobs (
            backend TEXT NOT NULL, job_id TEXT NOT NULL, run_id TEXT, config_hash TEXT,
            config_json TEXT, model TEXT, training_file TEXT, validation_file TEXT,
            status TEXT, fine_tuned_model TEXT, created_at REAL NOT NULL, updated_at REAL,
            PRIMARY KEY (backend, job_id)
        );
        CREATE INDEX jobs_by_hash ON jobs (backend, config_hash);
        CREATE TABLE checkpoints (
            backend TEXT NOT NULL, job_id TEXT NOT NULL, checkpoint_id TEXT NOT NULL,
            model TEXT NOT NULL, step INTEGER, metrics_json TEXT,
            PRIMARY KEY (backend, checkpoint_id)
        );
        CREATE TABLE models (
            backend TEXT NOT NULL, model TEXT NOT NULL, job_id TEXT, base_model TEXT,
            created_at REAL NOT NULL, PRIMARY KEY (backend, model)
        );
        """
    )


def _m002_location(db: sqlite3.Connection) -> None:
    """Key jobs, files and uploads by where they live (base URL, organisation, project).

    Rows recorded before carry ``location = ''`` (unknown): they are still found, and adopted by
    the first location that can see them, but never deleted because another location cannot.
    """
    db.executescript(
        """
        ALTER TABLE jobs ADD COLUMN location TEXT NOT NULL DEFAULT '';
        CREATE INDEX jobs_by_location ON jobs (backend, location, config_hash);
        CREATE TABLE files_m002 (
            backend TEXT NOT NULL, location TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL,
            file_id TEXT NOT NULL, path TEXT, bytes INTEGER, purpose TEXT,
            created_at REAL NOT NULL, PRIMARY KEY (backend, location, sha256, purpose)
        );
        INSERT INTO files_m002 (backend, sha256, file_id, path, bytes, purpose, created_at)
            SELECT backend, sha256, file_id, path, bytes, purpose, created_at FROM files;
        DROP TABLE files;
        ALTER TABLE files_m002 RENAME TO files;
        CREATE TABLE uploads_m002 (
            backend TEXT NOT NULL, location TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL,
            upload_id TEXT NOT NULL, part_size INTEGER NOT NULL, expires_at REAL,
            created_at REAL NOT NULL, PRIMARY KEY (backend, location, sha256)
        );
        INSERT INTO uploads_m002 (backend, sha256, upload_id, part_size, expires_at, created_at)
            SELECT backend, sha256, upload_id, part_size, expires_at, created_at FROM uploads;
        DROP TABLE uploads;
        ALTER TABLE uploads_m002 RENAME TO uploads;
        """
    )


CORE_MIGRATIONS: list[Migration] = [("m001_core", _m001_core), ("m002_location", _m002_location)]


class _Connection(sqlite3.Connection):
    """A connection whose ``executescript`` keeps an open transaction open.

    Python 3.11's ``executescript`` first COMMITs any pending transaction, which would split a
    migration in two; inside a transaction the script is run statement by statement instead.
    """

    def executescript(self, script: str, /) -> sqlite3.Cursor:
        if not self.in_transaction:
            return super().executescript(script)
        cursor = self.cursor()
        statement = ""
        for piece in script.split(";"):
            statement += piece + ";"
            if sqlite3.complete_statement(statement):  # not a ";" inside a string or trigger
                if statement.strip(" \t\r\n;"):
                    cursor.execute(statement)
                statement = ""
        return cursor


class Ledger:
    """A connection to the ledger; safe to share between threads (one lock, short statements)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else state_dir() / "runs.db"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._in_tx = False
        self.db = sqlite3.connect(
            self.path, check_same_thread=False, timeout=30.0, factory=_Connection
        )
        self.db.row_factory = sqlite3.Row
        try:
            self._wal()
            self.db.execute("PRAGMA busy_timeout=30000")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)"
            )
            self.migrate("core", CORE_MIGRATIONS)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if not _damaged(exc):
                raise
            raise self._damaged_error(exc) from None

    def _damaged_error(self, exc: sqlite3.DatabaseError) -> InputError:
        """A damaged ledger file as one line naming it and how to set it aside."""
        aside = self.path.with_name(self.path.name + ".broken")
        return InputError(
            f"{self.path}: the ledger is damaged or not an SQLite database ({exc})",
            tip=f"move it aside (mv {self.path} {aside}) and run again; a new ledger is created,"
            " and reruns find their jobs again through the service's metadata",
        )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Damage found later (a malformed page) is the same one-line error as at open."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            raise self._damaged_error(exc) from None

    @contextlib.contextmanager
    def hold(self, name: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """An exclusive lock named ``name``, shared by every process using this ledger's folder.

        A file lock (flock): the operating system releases it when the holder exits or dies, so
        a killed process never leaves it stuck. It holds on one machine only. ``on_wait`` is
        called once when another holder makes us wait.
        """
        folder = self.path.parent / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]
        with (folder / f"{digest}.lock").open("a+b") as fh:
            if not _lock_file(fh, block=False):
                if on_wait is not None:
                    on_wait()
                _lock_file(fh, block=True)
            try:
                yield
            finally:
                _unlock_file(fh)

    def _wal(self, patience: float = 30.0) -> None:
        """Switch to WAL. SQLite answers "locked" at once, without its busy handler, while
        another connection opens the same new file; so wait for it here (bounded)."""
        deadline = time.monotonic() + patience
        delay = 0.005
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def migrate(self, namespace: str, migrations: Sequence[Migration]) -> list[str]:
        """Apply the migrations of one namespace that have not run yet; return their names.

        All of them run in one ``BEGIN IMMEDIATE`` transaction: a migration that fails leaves
        nothing behind, and two processes opening a new ledger at once migrate it only once.
        """
        todo = [(f"{namespace}:{name}", fn) for name, fn in migrations]
        applied: list[str] = []
        with self._lock:
            if all(key in self._applied() for key, _ in todo):
                return applied
            self.db.execute("BEGIN IMMEDIATE")  # waits (busy timeout) for another migrator
            try:
                done = self._applied()  # again, under the write lock
                for key, fn in todo:
                    if key in done:
                        continue
                    fn(self.db)
                    self.db.execute(
                        "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                        (key, time.time()),
                    )
                    applied.append(key)
            except BaseException:
                self.db.rollback()
                raise
            self.db.commit()
        return applied

    def _applied(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT name FROM _migrations")}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements run inside commit together, or not at all (a crash leaves none of them).

        Re-entrant; other threads of this process wait for it to end, other processes too.
        """
        with self._guard(), self._lock:
            if self._in_tx:
                yield
                return
            self.db.execute("BEGIN IMMEDIATE")
            self._in_tx = True
            try:
                yield
            except BaseException:
                self.db.rollback()
                raise
            finally:
                self._in_tx = False
            self.db.commit()

    def _commit(self) -> contextlib.AbstractContextManager[Any]:
        """Commit on success, roll back on error; inside :meth:`transaction`, leave that to it."""
        return contextlib.nullcontext() if self._in_tx else self.db

    def execute(
        self, sql: str, params: Sequence[Any] = (), *, redacted: bool = False
    ) -> sqlite3.Cursor:
        """Run one statement in its own transaction (or the open :meth:`transaction`); text
        parameters are redacted of keys (``redacted=True``: the caller has removed the keys in
        use and the text is kept as is)."""
        clean = [redact(p) if isinstance(p, str) and not redacted else p for p in params]
        with self._guard(), self._lock, self._commit():
            return self.db.execute(sql, clean)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows in one transaction (or the open one)."""
        clean = [[redact(p) if isinstance(p, str) else p for p in row] for row in rows]
        with self._guard(), self._lock, self._commit():
            self.db.executemany(sql, clean)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Return all rows of a query."""
        with self._guard(), self._lock:
            return list(self.db.execute(sql, params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """Return the first row of a query, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.db.close()


def location(client: Any) -> str:
    """Where a client's objects live: its base URL, organisation and project (never its key).

    Ledger rows are keyed by it, so that what one project records (or fails to find) never
    touches another project's rows.
    """
    base = str(getattr(client, "base_url", "") or "").rstrip("/")
    org = getattr(client, "organization", None) or ""
    project = getattr(client, "project", None) or ""
    return f"{base} org={org} project={project}"


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """True for a file that is not a (sound) SQLite database; False for busy, full, read-only."""
    text = str(exc).lower()
    return any(w in text for w in ("not a database", "malformed", "corrupt", "encrypted"))


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_file(fh: IO[bytes], block: bool) -> bool:
        while True:
            try:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_LOCK if block else msvcrt.LK_NBLCK, 1)
                return True
            except OSError:
                if not block:
                    return False
                # LK_LOCK gives up after 10 s: keep waiting

    def _unlock_file(fh: IO[bytes]) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock_file(fh: IO[bytes], block: bool) -> bool:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        return True

    def _unlock_file(fh: IO[bytes]) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
