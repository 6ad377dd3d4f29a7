"""The answer ledger: every answer is stored the moment it arrives, keyed by backend, model and a
hash of the request, so a rerun sends only what is missing and nothing is paid for twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from openai_ft.errors import redact, redact_secrets
from openai_ft.store import Ledger, Migration


def _m001_answers(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE eval_answers (
            backend TEXT NOT NULL, model TEXT NOT NULL, request_hash TEXT NOT NULL,
            status TEXT NOT NULL, texts_json TEXT, response_json TEXT,
            prompt_tokens INTEGER, completion_tokens INTEGER, error TEXT,
            batch INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
            PRIMARY KEY (backend, model, request_hash)
        );
        CREATE TABLE eval_sends (
            backend TEXT NOT NULL, model TEXT NOT NULL, request_hash TEXT NOT NULL,
            status INTEGER, sent_at REAL NOT NULL
        );
        CREATE INDEX eval_sends_by_key ON eval_sends (backend, model, request_hash);
        CREATE TABLE eval_batches (
            backend TEXT NOT NULL, model TEXT NOT NULL, batch_id TEXT NOT NULL,
            keys_hash TEXT NOT NULL, status TEXT, created_at REAL NOT NULL,
            PRIMARY KEY (backend, batch_id)
        );
        """
    )


EVAL_MIGRATIONS: list[Migration] = [("m001_answers", _m001_answers)]


def open_ledger(ledger: Ledger | None = None) -> Ledger:
    """The ledger with the eval tables in place."""
    led = ledger or Ledger()
    led.migrate("eval", EVAL_MIGRATIONS)
    return led


def request_hash(body: dict[str, Any]) -> str:
    """A stable hash of a request body (model excluded: it is part of the key on its own)."""
    payload = {k: v for k, v in body.items() if k != "model"}
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Answer:
    """One stored answer: ``ok`` with the choices' texts and usage, or ``error`` with a message."""

    status: str
    texts: tuple[str, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    batch: bool = False
    response: dict[str, Any] | None = None
    # Read back from the ledger, so this run paid nothing for it (not part of its identity).
    from_ledger: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        """True for a usable answer."""
        return self.status == "ok"


class AnswerCache:
    """Read and write answers of one backend in the ledger."""

    def __init__(self, ledger: Ledger, backend: str) -> None:
        self.ledger = open_ledger(ledger)
        self.backend = backend

    def get_many(self, model: str, keys: Iterable[str]) -> dict[str, Answer]:
        """The stored answers among ``keys`` for ``model``."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Answer] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.ledger.query(
                "SELECT * FROM eval_answers WHERE backend = ? AND model = ? "
                f"AND request_hash IN ({marks})",
                [self.backend, model, *chunk],
            )
            for row in rows:
                out[row["request_hash"]] = Answer(
                    status=row["status"],
                    texts=tuple(json.loads(row["texts_json"] or "[]")),
                    prompt_tokens=row["prompt_tokens"] or 0,
                    completion_tokens=row["completion_tokens"] or 0,
                    error=row["error"],
                    batch=bool(row["batch"]),
                    response=json.loads(row["response_json"]) if row["response_json"] else None,
                    from_ledger=True,
                )
        return out

    @staticmethod
    def stored_form(answer: Answer) -> Answer:
        """The answer as the ledger keeps it: replies and the response verbatim but for the API
        keys in use; the error text (which may quote a request) redacted of anything key-like.

        Replies are data: a label that merely looks like a key (``sk-...``) must be scored the
        same on a rerun from the ledger as on the first run.
        """
        texts = tuple(redact_secrets(t) for t in answer.texts)
        response = answer.response
        if response is not None:
            raw = json.dumps(response, ensure_ascii=False)
            clean = redact_secrets(raw)
            response = json.loads(clean) if clean != raw else response
        error = redact(answer.error) if answer.error is not None else None
        return replace(answer, texts=texts, response=response, error=error)

    def put(self, model: str, key: str, answer: Answer) -> None:
        """Store (or replace an error with) an answer; one short transaction, durable on return."""
        answer = self.stored_form(answer)
        self.ledger.execute(
            "INSERT OR REPLACE INTO eval_answers (backend, model, request_hash, status, texts_json,"
            " response_json, prompt_tokens, completion_tokens, error, batch, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self.backend, model, key, answer.status,
                json.dumps(list(answer.texts), ensure_ascii=False),
                json.dumps(answer.response, ensure_ascii=False) if answer.response else None,
                answer.prompt_tokens, answer.completion_tokens, answer.error,
                int(answer.batch), time.time(),
            ],
            redacted=True,
        )  # fmt: skip

    def log_send(self, model: str, key: str, status: int | None) -> None:
        """Record one HTTP attempt and its status (None = no response) for audits and tests."""
        self.ledger.execute(
            "INSERT INTO eval_sends (backend, model, request_hash, status, sent_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [self.backend, model, key, status, time.time()],
        )

    def sends(self, model: str | None = None) -> list[tuple[str, str, int | None]]:
        """All logged attempts as (model, request_hash, status)."""
        sql = "SELECT model, request_hash, status FROM eval_sends WHERE backend = ?"
        params: list[Any] = [self.backend]
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        return [(r[0], r[1], r[2]) for r in self.ledger.query(sql + " ORDER BY rowid", params)]
