"""Durable state of the local service: SQLite (WAL, one connection per thread) plus a blob folder.

Every API object (file, job, event, checkpoint, model, batch, upload, part) is one row of
``objects``: its kind, its id, an optional parent id and its JSON body; ``seq`` orders rows for
cursor pagination. Blob paths are derived from ids we generate, never from client file names.
``arm_resources`` holds what the Azure stand-in's control plane
creates (deployments, long-running operations), keyed by their lower-cased ARM id. Leases (owner + heartbeat) keep two processes from running the same job and let a new process
take over the work of one that died.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from openai_ft._atomic import write_bytes_atomic

JSON = dict[str, Any]
_SAFE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,80}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    parent TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_kind ON objects (kind, parent, seq);
CREATE TABLE IF NOT EXISTS leases (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS arm_resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
"""


class State:
    """SQLite + blobs under ``root`` (normally ``<state_dir>/service``); safe across threads and processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.db_path = root / "service.db"
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.db_path, timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE): read-modify-write inside it is atomic.

        Re-entrant per thread: writes made inside an open ``tx()`` join it, so several writes
        (a metrics event and the job's progress) commit together or not at all.
        """
        conn = self._conn()
        if getattr(self._local, "in_tx", False):
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.in_tx = True
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.in_tx = False

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._conns.clear()
        self._local = threading.local()

    # -- objects -------------------------------------------------------------------------------

    def put(self, kind: str, obj: JSON, parent: str | None = None) -> JSON:
        """Insert a new object (its ``id`` must be unique)."""
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO objects (kind, id, parent, body) VALUES (?, ?, ?, ?)",
                (kind, obj["id"], parent, json.dumps(obj)),
            )
        return obj

    def get(self, kind: str, ident: str) -> JSON | None:
        """The object ``ident`` of this kind, or None."""
        row = (
            self._conn()
            .execute("SELECT body FROM objects WHERE kind = ? AND id = ?", (kind, ident))
            .fetchone()
        )
        return json.loads(row[0]) if row else None

    def mutate(self, kind: str, ident: str, fn: Callable[[JSON], JSON | None]) -> JSON | None:
        """Atomically replace an object by ``fn(old)``; ``fn`` may return None to keep it as is."""
        with self.tx() as conn:
            row = conn.execute(
                "SELECT body FROM objects WHERE kind = ? AND id = ?", (kind, ident)
            ).fetchone()
            if row is None:
                return None
            old: JSON = json.loads(row[0])
            new = fn(old)
            if new is None:
                return old
            conn.execute("UPDATE objects SET body = ? WHERE id = ?", (json.dumps(new), ident))
            return new

    def delete(self, ident: str) -> bool:
        """Delete the object ``ident``; True if it existed."""
        with self.tx() as conn:
            cur = conn.execute("DELETE FROM objects WHERE id = ?", (ident,))
            return cur.rowcount > 0

    def page(
        self,
        kind: str,
        *,
        parent: str | None = None,
        limit: int = 20,
        after: str | None = None,
        order: str = "desc",
        where: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> tuple[list[JSON], bool]:
        """One page of objects of a kind (newest first for ``desc``) and whether more follow.

        ``where`` maps JSON paths to values; ``metadata`` maps keys of the body's ``metadata`` to
        values (any key: json_each compares decoded keys, where a path cannot hold quotes).
        """
        sql = "SELECT body FROM objects WHERE kind = ?"
        args: list[Any] = [kind]
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent)
        for path, value in (where or {}).items():
            sql += " AND json_extract(body, ?) = ?"
            args += [path, value]
        for key, value in (metadata or {}).items():
            sql += (
                " AND EXISTS (SELECT 1 FROM json_each(body, '$.metadata')"
                " WHERE json_each.key = ? AND json_each.value = ?)"
            )
            args += [key, value]
        desc = order != "asc"
        if after:
            row = self._conn().execute("SELECT seq FROM objects WHERE id = ?", (after,)).fetchone()
            if row is not None:
                sql += " AND seq < ?" if desc else " AND seq > ?"
                args.append(row[0])
        sql += " ORDER BY seq " + ("DESC" if desc else "ASC") + " LIMIT ?"
        args.append(limit + 1)
        rows = self._conn().execute(sql, args).fetchall()
        return [json.loads(r[0]) for r in rows[:limit]], len(rows) > limit

    def all(self, kind: str, parent: str | None = None) -> list[JSON]:
        """Every object of a kind (oldest first)."""
        sql = "SELECT body FROM objects WHERE kind = ?"
        args: list[Any] = [kind]
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent)
        return [json.loads(r[0]) for r in self._conn().execute(sql + " ORDER BY seq", args)]

    # -- blobs ---------------------------------------------------------------------------------

    def blob_path(self, ident: str) -> Path:
        """Where the bytes of object ``ident`` live (ids are checked, so no path tricks)."""
        if not _SAFE_ID.match(ident):
            raise ValueError(f"unsafe id {ident!r}")
        return self.blobs / ident

    def write_blob(self, ident: str, data: bytes) -> None:
        """Store bytes for ``ident`` atomically."""
        write_bytes_atomic(self.blob_path(ident), data)

    def read_blob(self, ident: str) -> bytes:
        """The bytes stored for ``ident``."""
        return self.blob_path(ident).read_bytes()

    def delete_blob(self, ident: str) -> None:
        """Remove the bytes of ``ident`` if present."""
        with contextlib.suppress(FileNotFoundError, ValueError):
            self.blob_path(ident).unlink()

    # -- leases --------------------------------------------------------------------------------

    def claim(self, ident: str, owner: str, now: float, stale_after: float) -> bool:
        """Take the lease on ``ident`` if it is free, ours, or its holder's heartbeat is stale."""
        with self.tx() as conn:
            row = conn.execute(
                "SELECT owner, heartbeat FROM leases WHERE id = ?", (ident,)
            ).fetchone()
            if row is not None and row[0] != owner and now - row[1] < stale_after:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO leases (id, owner, heartbeat) VALUES (?, ?, ?)",
                (ident, owner, now),
            )
            return True

    def heartbeat(self, ident: str, owner: str, now: float) -> bool:
        """Refresh our lease; False if someone else holds it now."""
        with self.tx() as conn:
            cur = conn.execute(
                "UPDATE leases SET heartbeat = ? WHERE id = ? AND owner = ?", (now, ident, owner)
            )
            return cur.rowcount > 0

    def release(self, ident: str, owner: str) -> None:
        """Give up our lease on ``ident``."""
        with self.tx() as conn:
            conn.execute("DELETE FROM leases WHERE id = ? AND owner = ?", (ident, owner))

    # -- ARM resources (the Azure stand-in's control plane) ------------------------------------

    def arm_put(self, kind: str, key: str, body: JSON) -> None:
        """Create or replace the ARM resource ``key`` (an ARM id, compared case-insensitively)."""
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO arm_resources (kind, key, body) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET body = excluded.body",
                (kind, key.lower(), json.dumps(body)),
            )

    def arm_get(self, key: str) -> JSON | None:
        """The ARM resource ``key``, or None."""
        row = (
            self._conn()
            .execute("SELECT body FROM arm_resources WHERE key = ?", (key.lower(),))
            .fetchone()
        )
        return json.loads(row[0]) if row else None

    def arm_list(self, kind: str, prefix: str = "") -> list[JSON]:
        """ARM resources of a kind whose id starts with ``prefix`` (oldest first)."""
        rows = self._conn().execute(
            "SELECT key, body FROM arm_resources WHERE kind = ? ORDER BY seq", (kind,)
        )
        start = prefix.lower()
        return [json.loads(body) for key, body in rows if key.startswith(start)]

    def arm_delete(self, key: str) -> bool:
        """Remove the ARM resource ``key``; True if it existed."""
        with self.tx() as conn:
            cur = conn.execute("DELETE FROM arm_resources WHERE key = ?", (key.lower(),))
            return cur.rowcount > 0
