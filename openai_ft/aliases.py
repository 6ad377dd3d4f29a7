"""Model aliases: a stable name (``prod``) for the model an application should use.

An alias names one model on one backend (the ledger's backend name: ``local``, ``openai``,
``openai:URL``, ``azure``): a model id means nothing on another service, so resolving ``@prod``
for another backend is refused rather than sending requests to a model that is not there. Every
change is kept in the alias's history with who (user@host), when, why, and the model before.

``latest`` is a built-in reference (``@latest``: the newest fine-tuned model) and cannot be an
alias; names hold no ``:`` so that ``@run:...`` style references never read as aliases.
"""

from __future__ import annotations

import contextlib
import getpass
import re
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openai_ft.errors import NotFound, UsageError

if TYPE_CHECKING:
    from openai_ft.store import Ledger

RESERVED = frozenset({"latest"})
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")

__all__ = [
    "AliasEntry",
    "alias",
    "alias_history",
    "check_name",
    "get_alias",
    "is_alias_ref",
    "list_aliases",
    "resolve_alias",
    "set_alias",
]


def _m001_aliases(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE aliases (
            name TEXT PRIMARY KEY, model TEXT NOT NULL, backend TEXT NOT NULL,
            set_at REAL NOT NULL, set_by TEXT, reason TEXT
        );
        CREATE TABLE alias_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, model TEXT NOT NULL,
            backend TEXT NOT NULL, previous_model TEXT, previous_backend TEXT,
            set_at REAL NOT NULL, set_by TEXT, reason TEXT
        );
        CREATE INDEX alias_history_by_name ON alias_history (name, id);
        """
    )


MIGRATIONS = [("m001_aliases", _m001_aliases)]


@dataclass(frozen=True)
class AliasEntry:
    """One alias value: the model it names, on which backend, and who set it, when and why."""

    name: str
    model: str
    backend: str
    set_at: float
    set_by: str | None
    reason: str | None
    previous_model: str | None = None
    previous_backend: str | None = None


@contextlib.contextmanager
def _book(ledger: Ledger | None) -> Iterator[Ledger]:
    """The caller's ledger, or one opened (and closed) here; with the alias tables in it."""
    from openai_ft.store import Ledger

    book = ledger or Ledger()
    try:
        book.migrate("alias", MIGRATIONS)
        yield book
    finally:
        if ledger is None:
            book.close()


def _backend_name(backend: str | None) -> str:
    """A ledger backend name: ``openai:URL`` kept as is, a plain name or None resolved."""
    if backend and ":" in backend:
        return backend
    from openai_ft.config import resolve_backend

    return resolve_backend(backend).name


def who() -> str:
    """``user@host`` of this process (``unknown`` parts when the system cannot say)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container with an unknown uid)
        user = "unknown"
    return f"{user}@{socket.gethostname() or 'unknown'}"


def check_name(name: str) -> str:
    """The alias name itself, or a UsageError saying what a valid name is."""
    bare = name[1:] if name.startswith("@") else name
    if bare.lower() in RESERVED:
        raise UsageError(
            f"'{bare}' is a built-in model reference (@{bare}), not an alias name",
            tip="choose another name, for example prod or staging",
        )
    if not _NAME.match(bare):
        raise UsageError(
            f"{name!r} is not an alias name: use a letter, then up to 63 letters, digits, '_.-'",
            tip="for example prod, staging or support-v2",
        )
    return bare


def is_alias_ref(ref: str) -> bool:
    """True for ``@name`` where name could be an alias (not ``@latest``, not ``@run:...``)."""
    return ref.startswith("@") and ref[1:].lower() not in RESERVED and bool(_NAME.match(ref[1:]))


def _entry(row: sqlite3.Row, history: bool = False) -> AliasEntry:
    extra = (row["previous_model"], row["previous_backend"]) if history else (None, None)
    return AliasEntry(
        row["name"],
        row["model"],
        row["backend"],
        row["set_at"],
        row["set_by"],
        row["reason"],
        *extra,
    )


def set_alias(
    name: str,
    model: str,
    *,
    backend: str | None = None,
    reason: str | None = None,
    ledger: Ledger | None = None,
    by: str | None = None,
    clock: Callable[[], float] = time.time,
) -> AliasEntry:
    """Point ``name`` at ``model`` on ``backend``; the change and the model before are recorded."""
    bare = check_name(name)
    if not model.strip() or model.startswith("@"):
        raise UsageError(
            f"alias {bare}: {model!r} is not a model id",
            tip="give a model id such as ft:gpt-4.1-mini:...; resolve @refs first",
        )
    where = _backend_name(backend)
    now, author = clock(), by or who()
    with _book(ledger) as book, book.transaction():
        before = book.one("SELECT * FROM aliases WHERE name = ?", (bare,))
        book.execute(
            "INSERT OR REPLACE INTO aliases (name, model, backend, set_at, set_by, reason)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (bare, model, where, now, author, reason),
        )
        book.execute(
            "INSERT INTO alias_history (name, model, backend, previous_model, previous_backend,"
            " set_at, set_by, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                bare,
                model,
                where,
                before["model"] if before else None,
                before["backend"] if before else None,
                now,
                author,
                reason,
            ),
        )
    prev = (before["model"], before["backend"]) if before else (None, None)
    return AliasEntry(bare, model, where, now, author, reason, *prev)


def get_alias(name: str, *, ledger: Ledger | None = None) -> AliasEntry:
    """The current value of an alias; NotFound (exit 1) when it was never set."""
    bare = check_name(name)
    with _book(ledger) as book:
        row = book.one("SELECT * FROM aliases WHERE name = ?", (bare,))
    if row is None:
        raise NotFound(
            f"alias '{bare}' is not set",
            tip=f"set it with `openai-ft alias set {bare} MODEL`; list them with `openai-ft alias list`",
        )
    return _entry(row)


def resolve_alias(name: str, backend: str | None = None, *, ledger: Ledger | None = None) -> str:
    """The model id ``name`` (or ``@name``) names, refused when it lives on another backend.

    ``backend`` None skips that check (the caller only reads the id, as ``alias get`` does).
    """
    entry = get_alias(name, ledger=ledger)
    if backend is not None:
        here = _backend_name(backend)
        if entry.backend != here:
            raise UsageError(
                f"alias '{entry.name}' names {entry.model} on backend '{entry.backend}', not on"
                f" '{here}' (the backend of this command)",
                tip=f"pass --backend for '{entry.backend}', or point the alias at a model of this"
                f" backend: `openai-ft alias set {entry.name} MODEL`",
            )
    return entry.model


def alias(name: str, *, backend: str | None = None, ledger: Ledger | None = None) -> str:
    """The model id an alias names (``openai_ft.alias("prod")``), for applications."""
    return resolve_alias(name, backend, ledger=ledger)


def list_aliases(*, ledger: Ledger | None = None) -> list[AliasEntry]:
    """Every alias and its current value, by name."""
    with _book(ledger) as book:
        return [_entry(r) for r in book.query("SELECT * FROM aliases ORDER BY name")]


def alias_history(name: str, *, ledger: Ledger | None = None) -> list[AliasEntry]:
    """Every value an alias has had, oldest first; NotFound when it never had one."""
    bare = check_name(name)
    with _book(ledger) as book:
        rows = book.query("SELECT * FROM alias_history WHERE name = ? ORDER BY id", (bare,))
    if not rows:
        get_alias(bare, ledger=ledger)  # raises the NotFound with its tip
    return [_entry(r, history=True) for r in rows]
