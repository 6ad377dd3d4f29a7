"""Reading tables: every format, chunking with exact row numbers, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from openai_ft.dataset.load import detect_format, iter_frames, read_table, row_label
from openai_ft.errors import InputError

ROWS = [
    {"text": "where is my parcel", "label": "shipping"},
    {"text": "我要退款", "label": "refund"},
]


def _write(tmp_path: Path, fmt: str) -> Path:
    frame = pd.DataFrame(ROWS)
    path = tmp_path / f"t.{ {'excel': 'xlsx', 'jsonl': 'jsonl'}.get(fmt, fmt) }"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif fmt == "json":
        path.write_text(json.dumps(ROWS, ensure_ascii=False), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8"
        )
    elif fmt == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_excel(path, index=False, sheet_name="tickets")
    return path


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "parquet", "excel"])
def test_every_format_reads_the_same_records(tmp_path: Path, fmt: str) -> None:
    path = _write(tmp_path, fmt)
    assert detect_format(path) == fmt
    assert read_table(path).to_dict("records") == ROWS


def test_format_flag_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "export.txt"
    path.write_text("text,label\nhello,greet\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"export\.txt: cannot tell the format"):
        read_table(path)
    assert read_table(path, fmt="csv").to_dict("records") == [{"text": "hello", "label": "greet"}]
    with pytest.raises(InputError, match="unknown format 'xml'"):
        detect_format(path, "xml")


def test_csv_keeps_cells_as_text(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\n007,NA\n,x\n", encoding="utf-8")
    records = read_table(path).to_dict("records")
    assert records == [{"text": "007", "label": "NA"}, {"text": "", "label": "x"}]


def test_jsonl_chunks_keep_line_numbers_across_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3}\n\n{"a": 4}\n', encoding="utf-8")
    frames = list(iter_frames(path, chunk_rows=2))
    assert [len(f) for f in frames] == [2, 2]
    lines = [row_label("jsonl", int(i)) for f in frames for i in f.index]
    assert lines == ["line 1", "line 3", "line 4", "line 6"]


def test_csv_chunks_number_rows_like_a_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a\n" + "".join(f"{i}\n" for i in range(5)), encoding="utf-8")
    frames = list(iter_frames(path, chunk_rows=2))
    assert [len(f) for f in frames] == [2, 2, 1]
    assert [row_label("csv", int(i)) for f in frames for i in f.index][-1] == "row 6"


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    empty = tmp_path / "e.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"e\.csv: the file is empty"):
        read_table(empty)
    header = tmp_path / "h.csv"
    header.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"h\.csv: no data rows"):
        read_table(header)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder"):
        read_table(folder)


def test_bad_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nok,a\ncaf\u00e9,b\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin\.csv: line 3, byte 4: not valid UTF-8") as info:
        read_table(path)
    assert info.value.tip and "UTF-8" in info.value.tip


def test_bad_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n{"a": 2\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"t\.jsonl: line 2: not valid JSON"):
        read_table(path)
    path.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2: expected a JSON object, found list"):
        read_table(path)


def test_json_must_be_an_array_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"a": [1, 2]}', encoding="utf-8")
    with pytest.raises(InputError, match="expected a JSON array of objects"):
        read_table(path)


def test_excel_sheets_by_name_and_index(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame([{"x": "first"}]).to_excel(writer, sheet_name="one", index=False)
        pd.DataFrame([{"x": "second"}]).to_excel(writer, sheet_name="two", index=False)
    assert read_table(path).to_dict("records") == [{"x": "first"}]
    assert read_table(path, sheet="two").to_dict("records") == [{"x": "second"}]
    assert read_table(path, sheet="1").to_dict("records") == [{"x": "second"}]
    with pytest.raises(InputError, match=r"book\.xlsx: sheet 'Nope' does not exist") as info:
        read_table(path, sheet="Nope")
    assert info.value.tip == "the sheets are: one, two"
    with pytest.raises(InputError, match="sheet 5 does not exist"):
        read_table(path, sheet=5)


def test_sheet_on_a_csv_and_a_corrupt_parquet(tmp_path: Path) -> None:
    csv = _write(tmp_path, "csv")
    with pytest.raises(InputError, match="--sheet only applies to Excel"):
        read_table(csv, sheet="x")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"bad\.parquet: cannot read as parquet"):
        read_table(bad)


def test_ragged_csv_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.csv: cannot read as csv: .*line 3"):
        read_table(path)
