"""A sweep in the ledger (namespace ``sweep``): its points and their jobs, the selection made on
the validation split, and the one use of the test split.

A rerun reads the points to attach to their jobs; once the test split has been used for a sweep
its selection and test result are read back, never recomputed: the test set never chooses.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from openai_ft.store import Ledger, Migration


def _m001_sweeps(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE sweeps (
            id TEXT PRIMARY KEY, backend TEXT NOT NULL, created_at REAL NOT NULL,
            spec_json TEXT NOT NULL, selection_json TEXT, test_json TEXT, test_used_at REAL
        );
        CREATE TABLE sweep_points (
            sweep_id TEXT NOT NULL, idx INTEGER NOT NULL, hyperparameters_json TEXT NOT NULL,
            job_id TEXT, status TEXT, fine_tuned_model TEXT, error TEXT, note TEXT,
            trained_tokens INTEGER, checkpoint TEXT, updated_at REAL NOT NULL,
            PRIMARY KEY (sweep_id, idx)
        );
        """
    )


SWEEP_MIGRATIONS: list[Migration] = [("m001_sweeps", _m001_sweeps)]

POINT_FIELDS = (
    "job_id",
    "status",
    "fine_tuned_model",
    "error",
    "note",
    "trained_tokens",
    "checkpoint",
)


def open_sweeps(ledger: Ledger | None = None) -> Ledger:
    """The ledger with the sweep tables in place."""
    led = ledger or Ledger()
    led.migrate("sweep", SWEEP_MIGRATIONS)
    return led


def record_sweep(led: Ledger, sweep_id: str, backend: str, spec: dict[str, Any]) -> None:
    """Record a sweep (once; a rerun keeps the first record)."""
    led.execute(
        "INSERT OR IGNORE INTO sweeps (id, backend, created_at, spec_json) VALUES (?, ?, ?, ?)",
        (sweep_id, backend, time.time(), json.dumps(spec, sort_keys=True, default=str)),
    )


def save_point(
    led: Ledger, sweep_id: str, idx: int, hyperparameters: dict[str, Any], **fields: Any
) -> None:
    """Insert or update one point (only the given fields change)."""
    unknown = set(fields) - set(POINT_FIELDS)
    if unknown:
        raise ValueError(f"not a sweep point field: {sorted(unknown)}")
    led.execute(
        "INSERT OR IGNORE INTO sweep_points (sweep_id, idx, hyperparameters_json, updated_at)"
        " VALUES (?, ?, ?, ?)",
        (sweep_id, idx, json.dumps(hyperparameters, sort_keys=True), time.time()),
    )
    if fields:
        sets = ", ".join(f"{k} = ?" for k in fields)
        led.execute(
            f"UPDATE sweep_points SET {sets}, updated_at = ? WHERE sweep_id = ? AND idx = ?",
            (*fields.values(), time.time(), sweep_id, idx),
        )


def load_points(led: Ledger, sweep_id: str) -> dict[int, dict[str, Any]]:
    """The recorded points of a sweep by index."""
    rows = led.query("SELECT * FROM sweep_points WHERE sweep_id = ? ORDER BY idx", (sweep_id,))
    return {int(r["idx"]): dict(r) for r in rows}


def load_sweep(led: Ledger, sweep_id: str) -> dict[str, Any] | None:
    """The sweep's row with its selection and test result decoded (None when unknown)."""
    row = led.one("SELECT * FROM sweeps WHERE id = ?", (sweep_id,))
    if row is None:
        return None
    out = dict(row)
    for key in ("spec_json", "selection_json", "test_json"):
        out[key.removesuffix("_json")] = json.loads(row[key]) if row[key] else None
    return out


def save_selection(led: Ledger, sweep_id: str, selection: dict[str, Any]) -> None:
    """Record the choice made on the validation split."""
    led.execute(
        "UPDATE sweeps SET selection_json = ? WHERE id = ?",
        (json.dumps(selection, sort_keys=True, default=str), sweep_id),
    )


def save_test(led: Ledger, sweep_id: str, selection: dict[str, Any], test: dict[str, Any]) -> None:
    """Record that the test split was used, with the selection it was used for (one write)."""
    led.execute(
        "UPDATE sweeps SET selection_json = ?, test_json = ?, test_used_at = ? WHERE id = ?",
        (
            json.dumps(selection, sort_keys=True, default=str),
            json.dumps(test, sort_keys=True, default=str),
            time.time(),
            sweep_id,
        ),
    )


def earlier_test_uses(led: Ledger, backend: str, test_sha256: str, sweep_id: str) -> list[str]:
    """Other sweeps on ``backend`` that already evaluated on a test file of these bytes."""
    rows = led.query(
        "SELECT id, test_json FROM sweeps WHERE backend = ? AND id != ? AND test_json IS NOT NULL"
        " ORDER BY test_used_at",
        (backend, sweep_id),
    )
    return [
        str(r["id"]) for r in rows if json.loads(r["test_json"]).get("test_sha256") == test_sha256
    ]
