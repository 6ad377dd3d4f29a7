"""prepare end to end: files and manifest, determinism, refusing bad output, atomic writes, CLI."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from openai_ft.cli import main
from openai_ft.console.prepare import prepare_progress, render_prepare
from openai_ft.dataset.prepare import ProgressEvent, prepare
from openai_ft.errors import DataError, InputError

DATA = Path(__file__).resolve().parent.parent / "data"
TICKETS = DATA / "support_tickets.csv"
DEMO = ["--user", "text", "--assistant", "intent", "--system-col", "system"]


def _rows(n: int) -> list[dict[str, str]]:
    labels = ["yes", "no", "maybe"]
    return [{"q": f"question number {i}", "a": labels[i % 3]} for i in range(n)]


def test_demo_dataset(tmp_path: Path) -> None:
    result = prepare(
        TICKETS, out_dir=tmp_path / "out", user="text", assistant="intent", system_col="system"
    )
    m = result.manifest
    assert m["counts"]["rows"] == 907
    assert result.dropped_empty == 3 and result.dropped_duplicates == 24
    assert sum(result.counts.values()) == 907 - 3 - 24
    assert m["stratified"] and len(m["labels"]) == 13
    assert all(c["validation"] > 0 and c["test"] > 0 for c in m["labels"].values())
    for name in ("train", "validation", "test"):
        data = result.files[name].read_bytes()
        assert m["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert m["files"][name]["rows"] == len(data.splitlines()) == result.counts[name]
        assert result.reports[name].valid
        assert m["tokens"][name]["total"] == result.reports[name].tokens.total > 0
    assert m["source"]["sha256"] == hashlib.sha256(TICKETS.read_bytes()).hexdigest()
    assert m["estimate"]["usd"] > 0 and m["estimate"]["trained_tokens"] > 0
    assert json.loads(result.files["manifest"].read_text(encoding="utf-8")) == m
    # no prompt in two splits
    users = {
        name: {
            json.loads(line)["messages"][1]["content"].casefold()
            for line in result.files[name].open(encoding="utf-8")
        }
        for name in ("train", "validation", "test")
    }
    assert not users["train"] & users["validation"] and not users["train"] & users["test"]


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = prepare(TICKETS, out_dir=tmp_path / "a", user="text", assistant="intent", seed=5)
    b = prepare(TICKETS, out_dir=tmp_path / "b", user="text", assistant="intent", seed=5)
    c = prepare(TICKETS, out_dir=tmp_path / "c", user="text", assistant="intent", seed=6)
    for name in ("train", "validation", "test", "manifest"):
        assert a.files[name].read_bytes() == b.files[name].read_bytes()
    assert a.files["test"].read_bytes() != c.files["test"].read_bytes()


def test_template_excel_and_progress_events(tmp_path: Path) -> None:
    src = tmp_path / "book.xlsx"
    with pd.ExcelWriter(src) as writer:
        pd.DataFrame([{"x": 1}]).to_excel(writer, sheet_name="notes", index=False)
        frame = pd.DataFrame([{"id": f"A{i}", **r} for i, r in enumerate(_rows(40))])
        frame.to_excel(writer, sheet_name="data", index=False)
    events: list[ProgressEvent] = []
    result = prepare(
        src,
        out_dir=tmp_path / "o",
        template="[{id}] {q}",
        assistant="a",
        sheet="data",
        progress=events.append,
    )
    first = json.loads(result.files["train"].read_text(encoding="utf-8").splitlines()[0])
    assert first["messages"][0]["content"].startswith("[A")
    assert [e.stage for e in events] == ["read"] + ["validate"] * 3 + ["write"] * 3
    assert events[0] == ProgressEvent("read", 40, None)


def test_chat_and_dpo_files_pass_through(tmp_path: Path) -> None:
    chat = prepare(DATA / "chat_tools.jsonl", out_dir=tmp_path / "chat", val_size=0.25, test_size=0)
    assert chat.manifest["method"] == "supervised" and chat.counts == {
        "train": 12,
        "validation": 4,
        "test": 0,
    }
    line = json.loads(chat.files["train"].read_text(encoding="utf-8").splitlines()[0])
    assert line["tools"] and any(msg["role"] == "tool" for msg in line["messages"])
    # an empty split gets no file (an empty JSONL would fail every later command)
    assert "test" not in chat.files and "test" not in chat.reports
    assert not (tmp_path / "chat" / "test.jsonl").exists()
    dpo = prepare(DATA / "dpo_pairs.jsonl", out_dir=tmp_path / "dpo", val_size=0.2, test_size=0)
    assert dpo.manifest["method"] == "dpo" and dpo.reports["train"].method == "dpo"
    assert sum(dpo.counts.values()) == 16


def test_chat_rows_in_a_csv_pass_through(tmp_path: Path) -> None:
    lines = (DATA / "chat_tools.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    src = tmp_path / "chat.csv"
    table = {
        "messages": [json.dumps(r["messages"], ensure_ascii=False) for r in rows],
        "tools": [json.dumps(r["tools"]) if "tools" in r else "" for r in rows],
        "parallel_tool_calls": [
            json.dumps(r["parallel_tool_calls"]) if "parallel_tool_calls" in r else "" for r in rows
        ],
    }
    pd.DataFrame(table).to_csv(src, index=False)
    from_csv = prepare(src, out_dir=tmp_path / "a", seed=3)
    from_jsonl = prepare(DATA / "chat_tools.jsonl", out_dir=tmp_path / "b", seed=3)
    assert from_csv.counts == from_jsonl.counts and sum(from_csv.counts.values()) == len(rows)
    for name in ("train", "validation", "test"):
        assert from_csv.files[name].read_bytes() == from_jsonl.files[name].read_bytes()


def test_dpo_from_columns(tmp_path: Path) -> None:
    src = tmp_path / "pairs.csv"
    pd.DataFrame(
        [{"p": f"question {i}", "good": f"A helpful answer {i}.", "bad": "no"} for i in range(30)]
    ).to_csv(src, index=False)
    result = prepare(
        src, out_dir=tmp_path / "o", prompt="p", chosen="good", rejected="bad", system="S"
    )
    ex = json.loads(result.files["train"].read_text(encoding="utf-8").splitlines()[0])
    assert set(ex) == {"input", "preferred_output", "non_preferred_output"}
    assert result.manifest["method"] == "dpo" and not result.manifest["stratified"]


def test_invalid_output_is_refused_and_nothing_written(tmp_path: Path) -> None:
    src = tmp_path / "few.csv"
    pd.DataFrame(_rows(8)).to_csv(src, index=False)
    out = tmp_path / "out"
    with pytest.raises(
        DataError,
        match=r"few\.csv: 8 distinct examples split into 8 train, 0 validation, 0 test: a"
        r" training file needs at least 10 examples; nothing was written",
    ):
        prepare(src, out_dir=out, user="q", assistant="a", val_size=0, test_size=0)
    assert not out.exists()
    bad = tmp_path / "bad.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(20)
    ]
    rows[5]["messages"][0]["role"] = "customer"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(
        DataError, match=r"bad\.jsonl: line 6: the prepared train data would be invalid"
    ):
        prepare(bad, out_dir=out, val_size=0, test_size=0)
    assert not out.exists()


def test_bad_cell_names_file_row_and_column(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    src.write_text("q,a\nhello,yes\nhi,\n,\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"t\.csv: row 3, column 'a': empty cell"):
        prepare(src, out_dir=tmp_path / "o", user="q", assistant="a")
    assert not (tmp_path / "o").exists()


def test_interrupted_write_leaves_no_files(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    pd.DataFrame(_rows(60)).to_csv(src, index=False)
    out = tmp_path / "o"
    out.mkdir()
    (out / "train.jsonl").write_text("old\n", encoding="utf-8")

    def interrupt(event: ProgressEvent) -> None:
        if event.stage == "write" and event.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        prepare(src, out_dir=out, user="q", assistant="a", progress=interrupt)
    assert sorted(p.name for p in out.iterdir()) == [
        "train.jsonl"
    ]  # no temp files, old file intact
    assert (out / "train.jsonl").read_text(encoding="utf-8") == "old\n"


def test_out_dir_that_cannot_be_a_folder_fails_first_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "t.csv"
    pd.DataFrame(_rows(60)).to_csv(src, index=False)
    taken = tmp_path / "taken"
    taken.write_text("x", encoding="utf-8")
    seen: list[ProgressEvent] = []
    for out in (taken, taken / "sub"):
        with pytest.raises(InputError, match="not a folder"):
            prepare(src, out_dir=out, user="q", assistant="a", progress=seen.append)
        assert seen == []  # refused before reading a row
        args = ["prepare", str(src), "--user", "q", "--assistant", "a", "--out-dir", str(out)]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"ERROR {out}: --out-dir") and "internal error" not in err
        assert len(err.splitlines()) == 2  # ERROR + TIP
    assert taken.read_text(encoding="utf-8") == "x"


def test_write_failure_is_one_line_and_leaves_no_temp_files(tmp_path: Path) -> None:
    src = tmp_path / "t.csv"
    pd.DataFrame(_rows(60)).to_csv(src, index=False)
    out = tmp_path / "o"
    (out / "validation.jsonl").mkdir(parents=True)  # a folder where a file must go
    with pytest.raises(InputError, match=r"validation\.jsonl: cannot write"):
        prepare(src, out_dir=out, user="q", assistant="a")
    assert sorted(p.name for p in out.iterdir()) == ["test.jsonl", "validation.jsonl"]
    assert (out / "validation.jsonl").is_dir() and not (out / "manifest.json").exists()


def test_views_render(tmp_path: Path) -> None:
    src = tmp_path / "big.csv"
    pd.DataFrame(_rows(2500)).to_csv(src, index=False)
    buf = io.StringIO()
    console = Console(file=buf, width=120, force_terminal=False)
    with prepare_progress(console) as progress:
        result = prepare(src, out_dir=tmp_path / "o", user="q", assistant="a", progress=progress)
    render_prepare(result, console)
    text = buf.getvalue()
    assert "reading rows" in text and "2500/2500" in text
    assert (
        "2,500 rows read (csv)" in text and "stratified by label" in text and "estimate for" in text
    )
    small = io.StringIO()
    with prepare_progress(Console(file=small)) as progress:
        for done in (10, 20):
            progress(ProgressEvent("read", done, 20))
    assert small.getvalue() == ""  # small inputs get no bar


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["prepare", str(TICKETS), *DEMO, "--out-dir", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["train"] == 704 and summary["paths"]["train"] == str(
        out / "train.jsonl"
    )
    assert (
        main(
            [
                "prepare",
                str(TICKETS),
                "--user",
                "text",
                "--assistant",
                "label",
                "--out-dir",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("ERROR ") and "no column 'label'" in err and "Traceback" not in err
    assert (
        main(["prepare", str(tmp_path / "missing.csv"), *DEMO, "--out-dir", str(tmp_path / "x")])
        == 2
    )
    assert main(["prepare", str(TICKETS), "--user", "text", "--out-dir", str(tmp_path / "x")]) == 2
    assert (
        main(["prepare", str(TICKETS), *DEMO, "--val-size", "2", "--out-dir", str(tmp_path / "x")])
        == 2
    )
    assert main(["prepare", str(TICKETS), *DEMO]) == 2  # --out-dir is required
    few = tmp_path / "few.csv"
    pd.DataFrame(_rows(5)).to_csv(few, index=False)
    assert (
        main(
            [
                "prepare",
                str(few),
                "--user",
                "q",
                "--assistant",
                "a",
                "--out-dir",
                str(tmp_path / "x"),
            ]
        )
        == 1
    )
    assert not (tmp_path / "x").exists()
