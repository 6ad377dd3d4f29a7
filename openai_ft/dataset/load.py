"""Read CSV, TSV, JSON, JSONL, Parquet and Excel tables through pandas, in chunks.

Every failure becomes one :class:`~openai_ft.errors.InputError` line that names the file and,
when it can, the row. Row numbers are the ones a user sees: in CSV, TSV and Excel the header is
row 1 (so the first data row is row 2, the spreadsheet's number and, for CSV, the line number);
in JSONL it is the line number; in JSON and Parquet the 1-based record number.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from openai_ft._jsonl import jsonl_values, loads
from openai_ft.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet", "excel")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
}
CHUNK_ROWS = 20_000


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The table format: ``fmt`` when given, else from the file's extension."""
    if fmt is not None:
        name = fmt.lower()
        if name in ("xlsx", "xls"):
            name = "excel"
        if name not in FORMATS:
            raise InputError(
                f"{path}: unknown format {fmt!r}", tip=f"use --format one of {', '.join(FORMATS)}"
            )
        return name
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise InputError(
            f"{path}: cannot tell the format from the extension {suffix or '(none)'!r}",
            tip=f"pass --format with one of {', '.join(FORMATS)}",
        )
    return _EXTENSIONS[suffix]


def row_label(fmt: str, index: int) -> str:
    """How to name the row at 0-based data ``index`` so the user can find it in the file."""
    if fmt in ("csv", "tsv", "excel"):
        return f"row {index + 2}"
    if fmt == "jsonl":
        return f"line {index + 1}"
    return f"row {index + 1}"


def iter_frames(
    path: str | Path,
    *,
    fmt: str | None = None,
    sheet: str | int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Yield the table in chunks; each chunk's index is the 0-based data position in the file.

    Text formats keep every cell as a string (no type guessing); empty cells are ``""`` in CSV and
    TSV and missing values (``None``/NaN) elsewhere.
    """
    p = Path(path)
    kind = detect_format(p, fmt)
    if not p.exists():
        raise InputError(f"{p}: file not found", tip="check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not a file", tip="pass the path of a table file")
    if p.stat().st_size == 0:
        raise InputError(
            f"{p}: the file is empty", tip="export the table again, with a header row and data"
        )
    if sheet is not None and kind != "excel":
        raise InputError(
            f"{p}: --sheet only applies to Excel files, this is {kind}", tip="drop --sheet"
        )
    rows = 0
    try:
        if kind == "jsonl":
            chunks: Iterator[pd.DataFrame] = _jsonl_chunks(p, chunk_rows)
        elif kind in ("csv", "tsv"):
            chunks = _csv_chunks(p, "\t" if kind == "tsv" else ",", chunk_rows)
        else:
            chunks = iter([_read_whole(p, kind, sheet)])
        for frame in chunks:
            rows += len(frame)
            yield frame
    except UnicodeDecodeError:
        raise InputError(
            f"{p}: {_bad_encoding_at(p)}: not valid UTF-8",
            tip="re-save the file as UTF-8 (in Excel: CSV UTF-8)",
        ) from None
    except InputError:
        raise
    except Exception as exc:  # pandas/pyarrow/openpyxl raise many types; one line for all of them
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{p}: cannot read as {kind}: {message}", tip=f"check that the file really is {kind}"
        ) from None
    if rows == 0:
        raise InputError(
            f"{p}: no data rows", tip="the table needs a header row and at least one data row"
        )


def read_table(
    path: str | Path, *, fmt: str | None = None, sheet: str | int | None = None
) -> pd.DataFrame:
    """The whole table as one DataFrame (see :func:`iter_frames`)."""
    import pandas as pd

    return pd.concat(list(iter_frames(path, fmt=fmt, sheet=sheet)))


def _csv_chunks(p: Path, sep: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pandas as pd

    try:
        reader = pd.read_csv(
            p, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig", chunksize=chunk_rows
        )
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{p}: no header row", tip="the first line must name the columns"
        ) from None
    with reader:
        yield from reader


def _jsonl_chunks(p: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Parse JSON Lines ourselves so that blank lines keep line numbers exact."""
    import pandas as pd

    records: list[dict[str, object]] = []
    index: list[int] = []

    def bad_json(number: int, exc: json.JSONDecodeError) -> InputError:
        return InputError(
            f"{p}: line {number}: not valid JSON ({exc.msg} at column {exc.colno})",
            tip="each line must be one complete JSON object",
        )

    with p.open("r", encoding="utf-8-sig") as fh:
        for number, obj in jsonl_values(fh, bad_json):
            if not isinstance(obj, dict):
                raise InputError(
                    f"{p}: line {number}: expected a JSON object, found {type(obj).__name__}",
                    tip='each line must be an object like {"text": ..., "label": ...}',
                )
            records.append(obj)
            index.append(number - 1)
            if len(records) >= chunk_rows:
                yield pd.DataFrame.from_records(records, index=index)
                records, index = [], []
    if records:
        yield pd.DataFrame.from_records(records, index=index)


def _read_whole(p: Path, kind: str, sheet: str | int | None) -> pd.DataFrame:
    import pandas as pd

    if kind == "parquet":
        frame = pd.read_parquet(p)
    elif kind == "json":
        text = p.read_text(encoding="utf-8-sig")
        try:
            data = loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{p}: line {exc.lineno}: not valid JSON ({exc.msg})",
                tip="fix the JSON, or use JSON Lines (.jsonl)",
            ) from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError(
                f"{p}: expected a JSON array of objects",
                tip="write [{...}, {...}] or use JSON Lines",
            )
        frame = pd.DataFrame.from_records(data)
    else:
        with pd.ExcelFile(p) as book:
            names = [str(n) for n in book.sheet_names]
            chosen: str | int = 0
            if sheet is not None:
                if isinstance(sheet, int) or str(sheet).isdigit():
                    chosen = int(sheet)
                    if chosen >= len(names):
                        raise InputError(
                            f"{p}: sheet {chosen} does not exist",
                            tip=f"the sheets are: {', '.join(names)}",
                        )
                elif str(sheet) not in names:
                    raise InputError(
                        f"{p}: sheet {sheet!r} does not exist",
                        tip=f"the sheets are: {', '.join(names)}",
                    )
                else:
                    chosen = str(sheet)
            frame = pd.read_excel(book, sheet_name=chosen, dtype=str)
    frame.columns = [str(c) for c in frame.columns]
    return frame.reset_index(drop=True)


def _bad_encoding_at(p: Path) -> str:
    """The first line that is not UTF-8 (read again on the error path only)."""
    with p.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, byte {exc.start + 1}"
    return "somewhere"
