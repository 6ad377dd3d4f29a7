"""``prepare``: a table of examples -> validated train/validation/test JSONL + manifest.json.

    read (load.py) -> map rows (mapping.py) -> drop empty rows -> de-duplicate -> split (split.py)
    -> validate every split (validate.py) -> write all files, each atomically, manifest last

Nothing is written unless every step succeeded: bad input raises InputError (exit 2), output that
would not pass ``validate`` raises DataError (exit 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft._atomic import atomic_writer
from openai_ft.catalog import DEFAULT_MODEL
from openai_ft.dataset import load
from openai_ft.dataset.mapping import (
    Example,
    check_columns,
    make_mapping,
    map_row,
    passthrough_method,
)
from openai_ft.dataset.split import (
    SPLITS,
    check_sizes,
    deduplicate,
    label_of,
    pin_split,
    split_examples,
)
from openai_ft.dataset.validate import MIN_EXAMPLES
from openai_ft.errors import DataError, InputError

if TYPE_CHECKING:
    from openai_ft.dataset.validate import ValidationReport

__all__ = ["PrepareResult", "ProgressEvent", "prepare"]

# Held-out splits are not trained on: the 10-example minimum of a training file does not apply
# (validate_examples(role="validation") makes it a warning), but below it the scores are noisy.
MIN_TRAIN = MIN_EXAMPLES


@dataclass(frozen=True)
class ProgressEvent:
    """Progress of one stage (``read``, ``validate``, ``write``); ``total`` is None when unknown."""

    stage: str
    done: int
    total: int | None


@dataclass(frozen=True)
class PrepareResult:
    """What ``prepare`` wrote: file paths, rows per split, dropped rows, manifest and reports."""

    out_dir: Path
    files: dict[str, Path]
    counts: dict[str, int]
    dropped_empty: int
    dropped_duplicates: int
    manifest: dict[str, Any]
    reports: dict[str, ValidationReport] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: the manifest plus the written ``paths`` and every split's report."""
        return {
            "out_dir": str(self.out_dir),
            **self.manifest,
            "paths": {k: str(v) for k, v in self.files.items()},
            "reports": {k: r.to_dict() for k, r in self.reports.items()},
            "notes": list(self.notes),
        }


def _count_lines(path: Path, fmt: str) -> int | None:
    """A cheap row count for the progress bar (text formats only; one pass over the bytes)."""
    if fmt not in ("csv", "tsv", "jsonl"):
        return None
    with contextlib.suppress(OSError), path.open("rb") as fh:
        lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
        return max(lines - (1 if fmt != "jsonl" else 0), 0)
    return None


def _check_out_dir(out: Path) -> None:
    """Fail before any work when ``out`` cannot become a folder we write into."""
    tip = "pass --out-dir a folder path you can write to"
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: --out-dir is a file, not a folder", tip=tip)
    parent = out
    while not parent.exists():  # the nearest existing ancestor is where mkdir will start
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{out}: --out-dir is inside {parent}, which is not a folder", tip=tip)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{out}: --out-dir: {parent} is not writable", tip=tip)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_reports(
    reports: dict[str, ValidationReport], where: dict[str, list[str]], source: Path
) -> None:
    """Refuse invalid output: the first blocking error, traced back to its source row."""
    for name, report in reports.items():
        blocking = list(report.errors)
        if not blocking:
            continue
        issue = blocking[0]
        if issue.line is not None and 0 < issue.line <= len(where[name]):
            at = where[name][issue.line - 1]
        else:
            at = f"{source}: {name} split"
        more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
        raise DataError(
            f"{at}: the prepared {name} data would be invalid: {issue.message}{more}; nothing was written",
            tip="fix the source rows, or run `openai-ft validate` on a prepared file for the full list",
        )


def _check_split_sizes(parts: dict[str, list[Example]], src: Path, n: int) -> list[str]:
    """Refuse a training split under the minimum; notes for empty and small held-out splits."""
    counts = ", ".join(f"{len(parts[name])} {name}" for name in SPLITS)
    if len(parts["train"]) < MIN_TRAIN:
        raise DataError(
            f"{src}: {n} distinct examples split into {counts}: a training file needs at least"
            f" {MIN_TRAIN} examples; nothing was written",
            tip="add rows, or lower --val-size/--test-size (0 leaves a split out)",
        )
    notes = []
    for name, flag in (("validation", "--val-size"), ("test", "--test-size")):
        size = len(parts[name])
        if size == 0:
            notes.append(
                f"{name} split is empty ({flag} 0 or too few rows): no {name}.jsonl written"
            )
        elif size < MIN_TRAIN:
            notes.append(
                f"{name} split has only {size} examples ({counts}): usable, but its"
                f" scores will be noisy; add rows or raise {flag}"
            )
    return notes


def prepare(
    input: str | Path,
    *,
    out_dir: str | Path,
    user: str | None = None,
    assistant: str | None = None,
    system: str | None = None,
    system_col: str | None = None,
    template: str | None = None,
    prompt: str | None = None,
    chosen: str | None = None,
    rejected: str | None = None,
    fmt: str | None = None,
    sheet: str | int | None = None,
    val_size: float = 0.1,
    test_size: float = 0.1,
    seed: int = 42,
    model: str = DEFAULT_MODEL,
    progress: Callable[[ProgressEvent], None] | None = None,
    pin: Callable[[Example], str | None] | None = None,
) -> PrepareResult:
    """Turn a table into validated ``train/validation/test.jsonl`` and ``manifest.json`` in out_dir."""
    from openai_ft.dataset.validate import validate_examples

    emit = progress or (lambda event: None)
    mapping = make_mapping(
        user=user,
        assistant=assistant,
        system=system,
        system_col=system_col,
        template=template,
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
    )
    check_sizes(val_size, test_size)
    out = Path(out_dir)
    _check_out_dir(out)
    src = Path(input)
    kind = load.detect_format(src, fmt)
    total = _count_lines(src, kind) if src.is_file() else None
    method = mapping.method
    examples: list[Example] = []
    where: list[str] = []
    rows = dropped_empty = 0
    first = True
    for frame in load.iter_frames(src, fmt=kind, sheet=sheet):
        if first:
            check_columns(mapping, list(frame.columns), str(src))
            method = passthrough_method(list(frame.columns)) if mapping.passthrough else method
            first = False
        for index, record in zip(frame.index, frame.to_dict("records"), strict=True):
            at = f"{src}: {load.row_label(kind, int(index))}"
            example = map_row(mapping, {str(k): v for k, v in record.items()}, at, method)
            if example is None:
                dropped_empty += 1
            else:
                examples.append(example)
                where.append(at)
        rows += len(frame)
        emit(ProgressEvent("read", rows, max(total or 0, rows) if total is not None else None))
    if not examples:
        raise DataError(
            f"{src}: every row is empty ({rows} rows)", tip="check the column options and the file"
        )

    dedup = deduplicate(examples)
    examples = [examples[i] for i in dedup.kept]
    where = [where[i] for i in dedup.kept]
    split = split_examples(examples, val_size=val_size, test_size=test_size, seed=seed)
    if pin is not None:  # retrain: ``pin(example)`` names the split an example seen before was in
        split = pin_split(split, examples, pin, seed)
    parts = {name: [examples[i] for i in split.parts[name]] for name in SPLITS}
    part_where = {name: [where[i] for i in split.parts[name]] for name in SPLITS}
    notes = _check_split_sizes(parts, src, len(examples))

    reports: dict[str, ValidationReport] = {}
    for n, name in enumerate(SPLITS):
        if parts[name]:
            role = "training" if name == "train" else "validation"
            reports[name] = validate_examples(
                parts[name], method=method, model=model, source=f"{name}.jsonl", role=role
            )
        emit(ProgressEvent("validate", n + 1, len(SPLITS)))
    _check_reports(reports, part_where, src)

    # An empty split gets no file: an empty JSONL is not a valid file for any command.
    written = [name for name in SPLITS if parts[name]]
    payloads = {
        name: "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in parts[name]).encode("utf-8")
        for name in written
    }
    files = {name: out / f"{name}.jsonl" for name in written}
    labels: dict[str, dict[str, int]] = {}
    if split.stratified:
        for name in SPLITS:
            for label, count in sorted(Counter(label_of(e) for e in parts[name]).items()):
                labels.setdefault(str(label), dict.fromkeys(SPLITS, 0))[name] = count
    manifest: dict[str, Any] = {
        "source": {
            "path": str(src),
            "format": kind,
            "sha256": _sha256_file(src),
            "rows": rows,
            **({"sheet": sheet} if sheet is not None else {}),  # retrain reads the same sheet
        },
        "method": method,
        "mapping": mapping.to_dict(),
        "seed": seed,
        "val_size": val_size,
        "test_size": test_size,
        "model": model,
        "counts": {
            "rows": rows,
            "dropped_empty": dropped_empty,
            "dropped_duplicates": dedup.exact + dedup.normalized,
            "duplicates_exact": dedup.exact,
            "duplicates_normalized": dedup.normalized,
            **{name: len(parts[name]) for name in SPLITS},
        },
        "stratified": split.stratified,
        "labels": labels,
        "files": {
            name: {
                "path": f"{name}.jsonl",
                "rows": len(parts[name]),
                "bytes": len(payloads[name]),
                "sha256": hashlib.sha256(payloads[name]).hexdigest(),
            }
            for name in written
        },
        "tokens": {name: r.tokens.to_dict() for name, r in reports.items()},
        "estimate": reports["train"].to_dict()["estimate"] if "train" in reports else None,
        "warnings": {name: len(r.warnings) for name, r in reports.items()},
    }
    manifest_bytes = (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    # Every file goes to a temp file first; the renames happen only once all are complete, the
    # manifest's last (ExitStack unwinds in reverse), so a manifest on disk means a whole set.
    try:
        with contextlib.ExitStack() as stack:
            fh = stack.enter_context(atomic_writer(out / "manifest.json", "wb"))
            fh.write(manifest_bytes)
            for n, name in enumerate(written):
                part = stack.enter_context(atomic_writer(files[name], "wb"))
                part.write(payloads[name])
                emit(ProgressEvent("write", n + 1, len(written)))
        # A file of an earlier prepare for a split that is now empty would pass for this one.
        for name in SPLITS:
            if name not in files and (out / f"{name}.jsonl").is_file():
                (out / f"{name}.jsonl").unlink()
    except OSError as exc:  # disk full, permissions, a folder where a file should go
        # os.replace names its target second; other failures are on a temp file in ``out``
        raise InputError(
            f"{exc.filename2 or out}: cannot write: {exc.strerror or exc}",
            tip="free space or choose another --out-dir; no partial file was left behind",
        ) from None
    files["manifest"] = out / "manifest.json"
    return PrepareResult(
        out_dir=out,
        files=files,
        counts={name: len(parts[name]) for name in SPLITS},
        dropped_empty=dropped_empty,
        dropped_duplicates=dedup.exact + dedup.normalized,
        manifest=manifest,
        reports=reports,
        notes=tuple(notes),
    )
