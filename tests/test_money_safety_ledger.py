"""A damaged ledger (runs.db) is one ERROR line naming the file and how to move it aside (exit 2),
never an internal error; a transaction commits all of its statements or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from openai_ft.cli import main
from openai_ft.errors import InputError
from openai_ft.store import Ledger
from tests.jobs_helpers import cli_service, train_files


@pytest.mark.parametrize("command", ["runs", "upload", "train"])
def test_a_damaged_ledger_is_one_error_line(
    home: Path,
    tmp_path: Path,
    command: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli_service(monkeypatch)
    train, _ = train_files(tmp_path, valid_seed=1)
    home.mkdir(parents=True, exist_ok=True)
    db = home / "runs.db"
    db.write_bytes(b"this is not an SQLite database, it was overwritten by mistake\n" * 40)
    argv = {
        "runs": ["runs"],
        "upload": ["upload", str(train)],
        "train": ["train", "--training-file", str(train), "--yes", "--no-wait"],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert [line.split(" ")[0] for line in lines] == ["ERROR", "TIP"], err
    assert str(db) in lines[0] and "internal error" not in err
    assert f"mv {db} {db}.broken" in lines[1]


def test_a_damaged_page_found_later_is_the_same_error(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    book = Ledger(db)
    book.executemany(
        "INSERT INTO datasets (sha256, path, created_at) VALUES (?, ?, ?)",
        [(f"{i:064x}", "x" * 200, 0.0) for i in range(400)],
    )
    book.close()
    data = bytearray(db.read_bytes())
    data[8192:40960] = b"\xff" * (40960 - 8192)  # overwrite pages after the schema's
    db.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        book = Ledger(db)
        book.query("SELECT count(*), max(path) FROM datasets")
    assert str(db) in err.value.message and "mv" in (err.value.tip or "")


def test_a_transaction_commits_all_or_nothing(tmp_path: Path) -> None:
    book = Ledger(tmp_path / "runs.db")
    sql = "INSERT INTO datasets (sha256, path, created_at) VALUES (?, ?, 0)"
    with pytest.raises(RuntimeError), book.transaction():
        book.execute(sql, ("a", "first"))
        book.execute(sql, ("b", "second"))
        raise RuntimeError("killed half-way")
    assert book.query("SELECT * FROM datasets") == []
    with book.transaction():
        book.execute(sql, ("a", "first"))
        book.executemany(sql, [("b", "second"), ("c", "third")])
    other = Ledger(tmp_path / "runs.db")  # another connection sees all three
    assert [r["sha256"] for r in other.query("SELECT sha256 FROM datasets ORDER BY 1")] == [
        "a",
        "b",
        "c",
    ]


def test_hold_is_exclusive_across_ledgers_and_says_when_it_waits(tmp_path: Path) -> None:
    import threading

    first, second = Ledger(tmp_path / "runs.db"), Ledger(tmp_path / "runs.db")
    waited: list[str] = []
    order: list[str] = []
    entered = threading.Event()

    def other() -> None:
        with second.hold("train x", on_wait=lambda: (waited.append("x"), entered.set())):
            order.append("second")

    with first.hold("train x"):
        thread = threading.Thread(target=other)
        thread.start()
        assert entered.wait(30)  # it found the lock taken and said so
        order.append("first")
    thread.join(30)
    assert waited == ["x"] and order == ["first", "second"]
    with first.hold("train x", on_wait=lambda: waited.append("again")):
        pass  # free now: no wait, no call
    assert waited == ["x"]
