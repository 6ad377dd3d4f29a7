"""Atomic writes: never touch the process umask (threads share it), fsync the folder after the
rename, leave nothing behind on failure."""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import pytest

from openai_ft import _atomic
from openai_ft._atomic import atomic_writer, write_bytes_atomic, write_text_atomic


def test_the_umask_is_never_changed_and_still_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = os.umask(0o027)
    try:

        def no_umask(_mask: int) -> int:
            raise AssertionError("os.umask changes the mask of every thread of the process")

        monkeypatch.setattr(os, "umask", no_umask)
        write_text_atomic(tmp_path / "a.txt", "hello")
        write_bytes_atomic(tmp_path / "sub" / "b.bin", b"\x00\x01")
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert (tmp_path / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    # The same permissions a plain open() gives under umask 027.
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "sub" / "b.bin").stat().st_mode) == 0o640


def test_the_folder_is_synced_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_text_atomic(tmp_path / "out.md", "# report\n")
    assert events == ["fsync file", "rename", "fsync dir"]


def test_a_failed_block_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_writer(target) as fh:
        fh.write("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_threads_writing_at_once_all_get_the_right_mode(tmp_path: Path) -> None:
    """16 threads each write 20 files while the main thread creates plain files: every file,
    atomic or plain, gets the mode the umask gives (the old umask(0) dance raced here)."""
    old = os.umask(0o022)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so a umask(0) window would be hit
    plain: list[Path] = []

    def writer(i: int) -> None:
        for j in range(20):
            write_text_atomic(tmp_path / f"w{i}-{j}.txt", "x")

    try:
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        n = 0
        while any(t.is_alive() for t in threads):
            p = tmp_path / f"plain{n}.txt"
            p.write_text("y")
            plain.append(p)
            n += 1
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
        os.umask(old)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {0o644}
    assert len(list(tmp_path.glob("w*.txt"))) == 320
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_temp_name_drawn_twice_is_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    draws = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(_atomic.secrets, "token_hex", lambda _n: next(draws))
    (tmp_path / ".f.txt.aaaaaaaaaaaa.tmp").write_text("someone else's")
    write_text_atomic(tmp_path / "f.txt", "mine")
    assert (tmp_path / "f.txt").read_text() == "mine"
    assert (tmp_path / ".f.txt.aaaaaaaaaaaa.tmp").read_text() == "someone else's"
