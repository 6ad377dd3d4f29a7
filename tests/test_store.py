"""The ledger: append-only namespaced migrations, key redaction, concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from openai_ft.store import CORE_MIGRATIONS, Ledger, Migration

SECRET = "sk-proj-Abc123def456GHI789jkl012"


def _table(name: str, calls: list[str]) -> Callable[[sqlite3.Connection], None]:
    def migration(db: sqlite3.Connection) -> None:
        calls.append(name)
        db.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, note TEXT)")

    return migration


def _names(book: Ledger) -> list[str]:
    return [r["name"] for r in book.query("SELECT name FROM _migrations ORDER BY name")]


def _tables(book: Ledger) -> set[str]:
    rows = book.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r["name"] for r in rows}


def test_default_path_is_under_the_state_folder(tmp_path: Path) -> None:
    book = Ledger()
    assert book.path == tmp_path / "home" / "runs.db" and book.path.is_file()
    assert {"runs", "datasets", "files", "uploads", "upload_parts", "jobs", "checkpoints"} <= (
        _tables(book)
    )
    assert book.one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    book.close()


def test_migrations_run_once_and_are_recorded_by_namespace(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    calls: list[str] = []
    jobs: list[Migration] = [("m001_a", _table("jobs_a", calls))]
    book = Ledger(db)
    assert book.migrate("jobs", jobs) == ["jobs:m001_a"]
    assert book.migrate("jobs", jobs) == []
    book.close()

    again = Ledger(db)  # reopen: neither the core nor ours run again
    assert again.migrate("jobs", jobs) == []
    assert calls == ["jobs_a"]
    assert _names(again) == ["core:m001_core", "core:m002_location", "jobs:m001_a"]
    assert [name for name, _ in CORE_MIGRATIONS] == ["m001_core", "m002_location"]
    again.close()


def test_namespaces_are_independent(tmp_path: Path) -> None:
    calls: list[str] = []
    book = Ledger(tmp_path / "runs.db")
    # The same migration name in two namespaces: both run, each recorded under its namespace.
    assert book.migrate("evals", [("m001_init", _table("evals_t", calls))]) == ["evals:m001_init"]
    assert book.migrate("jobs", [("m001_init", _table("jobs_t", calls))]) == ["jobs:m001_init"]
    assert calls == ["evals_t", "jobs_t"]
    assert {"evals_t", "jobs_t"} <= _tables(book)
    assert _names(book) == [
        "core:m001_core",
        "core:m002_location",
        "evals:m001_init",
        "jobs:m001_init",
    ]


def test_a_migration_appended_later_is_applied_on_reopen(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    calls: list[str] = []
    v1: list[Migration] = [("m001_a", _table("t_a", calls))]
    book = Ledger(db)
    book.migrate("area", v1)
    book.execute("INSERT INTO t_a (note) VALUES (?)", ("kept",))
    book.close()

    def add_column(conn: sqlite3.Connection) -> None:
        calls.append("m002")
        conn.execute("ALTER TABLE t_a ADD COLUMN extra TEXT DEFAULT 'x'")

    v2 = [*v1, ("m002_extra", add_column)]
    book = Ledger(db)
    assert book.migrate("area", v2) == ["area:m002_extra"]
    assert calls == ["t_a", "m002"]
    row = book.one("SELECT note, extra FROM t_a")
    assert row is not None and (row["note"], row["extra"]) == ("kept", "x")
    assert "area:m002_extra" in _names(book)


def test_a_failing_migration_leaves_nothing_behind_and_can_be_fixed(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    book = Ledger(db)

    def broken(conn: sqlite3.Connection) -> None:
        conn.executescript("CREATE TABLE half (id INTEGER); CREATE TABLE oops (;")

    with pytest.raises(sqlite3.OperationalError):
        book.migrate("area", [("m001_half", broken)])
    assert "half" not in _tables(book) and "area:m001_half" not in _names(book)

    def fixed(conn: sqlite3.Connection) -> None:
        conn.executescript("CREATE TABLE half (id INTEGER); CREATE TABLE whole (id INTEGER);")

    assert book.migrate("area", [("m001_half", fixed)]) == ["area:m001_half"]
    assert {"half", "whole"} <= _tables(book)


def test_execute_redacts_keys_before_they_reach_a_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_key = "plain-env-key-without-prefix-42"
    monkeypatch.setenv("OPENAI_API_KEY", env_key)
    book = Ledger(tmp_path / "runs.db")
    config = f'{{"api_key": "{SECRET}", "note": "uses {env_key}", "header": "Bearer {SECRET}"}}'
    book.execute(
        "INSERT INTO runs (id, kind, backend, created_at, config_json) VALUES (?, ?, ?, ?, ?)",
        ("run-1", "train", "openai", 1.0, config),
    )
    book.executemany(
        "INSERT INTO runs (id, kind, backend, created_at, config_json) VALUES (?, ?, ?, ?, ?)",
        [("run-2", "eval", "openai", 2.0, SECRET), ("run-3", "eval", "openai", 3.0, None)],
    )
    book.close()
    # Read the raw file back with a fresh connection: no key anywhere, other values intact.
    raw = sqlite3.connect(db := tmp_path / "runs.db")
    rows = raw.execute("SELECT id, created_at, config_json FROM runs ORDER BY id").fetchall()
    raw.close()
    dump = repr(rows)
    assert SECRET not in dump and env_key not in dump
    assert rows[0][2].count("[redacted]") == 3 and '"note": "uses [redacted]"' in rows[0][2]
    assert rows[1] == ("run-2", 2.0, "[redacted]") and rows[2] == ("run-3", 3.0, None)
    data = (
        db.read_bytes() + (tmp_path / "runs.db-wal").read_bytes()
        if (tmp_path / "runs.db-wal").exists()
        else db.read_bytes()
    )
    assert SECRET.encode() not in data and env_key.encode() not in data


def test_concurrent_writers_do_not_fail(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    errors: list[BaseException] = []
    shared = Ledger(db)
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            # Half the threads share one connection, half open their own (like other processes).
            book = shared if n % 2 else Ledger(db)
            start.wait()
            for i in range(40):
                book.execute(
                    "INSERT INTO runs (id, kind, backend, created_at) VALUES (?, ?, ?, ?)",
                    (f"run-{n}-{i}", "train", "local", float(i)),
                )
                book.query("SELECT COUNT(*) FROM runs")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    row = shared.one("SELECT COUNT(*) AS n FROM runs")
    assert row is not None and row["n"] == 8 * 40


def test_ledgers_opened_at_once_on_a_new_file_migrate_once(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    errors: list[BaseException] = []
    calls: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def count(conn: sqlite3.Connection) -> None:
        with lock:
            calls.append("m001")
        conn.execute("CREATE TABLE extra (id INTEGER)")

    def opener() -> None:
        try:
            start.wait()
            Ledger(db).migrate("area", [("m001_extra", count)])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert calls == ["m001"]
    assert _names(Ledger(db)) == ["area:m001_extra", "core:m001_core", "core:m002_location"]
