"""The ledger's record of early stops: which job was cancelled for it, and its best checkpoint.

A job that ``--early-stop`` cancelled reads ``cancelled`` on the service, like a job someone
cancelled by hand. The record here is what tells them apart, so that a rerun of the same ``train``
(which attaches to that job) or a later ``watch`` reports the early stop and names the checkpoint
to use again, and exits 0, instead of treating the job as one that ended without a model.
"""

from __future__ import annotations

import sqlite3
import time

from openai_ft.store import Ledger, Migration
from openai_ft.watch_types import EarlyStopped

__all__ = ["early_stop_of", "record_early_stop"]


def _m001_early_stops(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE early_stops (
            backend TEXT NOT NULL, job_id TEXT NOT NULL, run_id TEXT, patience INTEGER NOT NULL,
            best_step INTEGER, best_valid_loss REAL, checkpoint TEXT, checkpoint_step INTEGER,
            checkpoint_valid_loss REAL, stopped_at REAL NOT NULL,
            PRIMARY KEY (backend, job_id)
        );
        """
    )


MIGRATIONS: list[Migration] = [("m001_early_stops", _m001_early_stops)]


def _open(ledger: Ledger) -> Ledger:
    ledger.migrate("early_stop", MIGRATIONS)
    return ledger


def record_early_stop(ledger: Ledger, backend: str, job_id: str, stop: EarlyStopped) -> None:
    """Remember that ``job_id`` was cancelled by early stopping, with its best checkpoint."""
    book = _open(ledger)
    row = book.one("SELECT run_id FROM jobs WHERE backend = ? AND job_id = ?", (backend, job_id))
    book.execute(
        "INSERT OR REPLACE INTO early_stops (backend, job_id, run_id, patience, best_step,"
        " best_valid_loss, checkpoint, checkpoint_step, checkpoint_valid_loss, stopped_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            backend, job_id, row["run_id"] if row else None, stop.patience, stop.best_step,
            stop.best_valid_loss, stop.checkpoint, stop.checkpoint_step,
            stop.checkpoint_valid_loss, time.time(),
        ),
    )  # fmt: skip


def early_stop_of(ledger: Ledger, backend: str, job_id: str) -> EarlyStopped | None:
    """The early stop recorded for a job (None when it was not stopped early)."""
    row = _open(ledger).one(
        "SELECT * FROM early_stops WHERE backend = ? AND job_id = ?", (backend, job_id)
    )
    if row is None:
        return None
    return EarlyStopped(
        patience=int(row["patience"]),
        best_valid_loss=row["best_valid_loss"],
        best_step=row["best_step"],
        checkpoint=row["checkpoint"],
        checkpoint_valid_loss=row["checkpoint_valid_loss"],
        checkpoint_step=int(row["checkpoint_step"] or 0),
    )
