"""Validate training files against OpenAI's formats; report every error and warning with its line.

Files are streamed in byte-range chunks. Big files are scanned by a process pool (each worker
parses, checks, counts tokens and fingerprints its lines once); the parent only merges compact
per-example arrays, so memory does not grow with the size of the examples.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from openai_ft.catalog import DEFAULT_MODEL, billed_tokens, estimate_training_cost, model_info
from openai_ft.dataset.quality import FileQuality
from openai_ft.dataset.validate_rules import METHODS
from openai_ft.dataset.validate_scan import (
    ChunkResult,
    ChunkTask,
    Scanner,
    chunk_bounds,
    scan_chunk,
)
from openai_ft.dataset.validate_types import Issue, TokenStats, ValidationReport
from openai_ft.errors import InputError, UsageError

__all__ = [
    "DEFAULT_MODEL",
    "Issue",
    "TokenStats",
    "ValidationReport",
    "first_error",
    "fix_tip",
    "missing_input",
    "role_of",
    "validate",
    "validate_examples",
    "validate_many",
]

MIN_EXAMPLES = 10  # OpenAI's minimum for a training file; a held-out file may be smaller
ROLES = ("auto", "training", "validation")
# File names that mark a held-out file (validation.jsonl, val-2.jsonl, test.jsonl, dev_set.jsonl).
_MAKE_PREPARE = re.compile(r"^prepare:", re.MULTILINE)  # a Makefile with our `prepare` target
_HELD_OUT_NAME = re.compile(r"^(validation|valid|val|test|eval|evaluation|dev|holdout)([._-]|$)")
FILES_API_LIMIT = 512 * 1024**2
UPLOADS_API_LIMIT = 8 * 1024**3
POOL_THRESHOLD = 2 * 1024**2
CHUNK_BYTES = 4 * 1024**2


@dataclass
class _Merged:
    """A file's results while they are merged; keeps the fingerprints for cross-file checks."""

    report: ValidationReport
    quality: FileQuality


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}", tip=f"use one of {', '.join(METHODS)}")


def role_of(path: str | Path, role: str = "auto") -> str:
    """``training`` or ``validation``: ``auto`` reads it from the file name (validation*, test*...)."""
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}", tip=f"use one of {', '.join(ROLES)}")
    if role != "auto":
        return role
    return "validation" if _HELD_OUT_NAME.match(Path(path).name.lower()) else "training"


def missing_input(path: Path, what: str = "file", ids: bool = False) -> InputError:
    """The error for a path that is not a readable file: missing, a folder, or not a file.

    ``ids``: the command also takes a file id (``train``), so the TIP says so.
    """
    if path.is_dir():
        return InputError(
            f"{path}: is a directory, not a JSONL {what}",
            tip="pass the .jsonl file itself (for example train.jsonl inside it)",
        )
    if path.exists():
        return InputError(f"{path}: not a regular file", tip="pass a .jsonl file")
    tip = "check the path" + (", or give a file-... id" if ids else "")
    prepared = path.name in ("train.jsonl", "validation.jsonl", "test.jsonl")
    makefile = Path("Makefile")
    if (
        prepared
        and makefile.is_file()
        and _MAKE_PREPARE.search(makefile.read_text("utf-8", "replace"))
    ):
        # In a checkout with our Makefile, the prepared splits come from `make prepare`.
        tip = "check the path, or run `make prepare` first to write it"
    elif prepared:
        tip = "check the path, or run `openai-ft prepare TABLE --out-dir DIR` first to write it"
    return InputError(f"{path}: no such {what}", tip=tip)


def fix_tip(path: str | Path, issue: Issue, method: str, then: str) -> str:
    """The TIP for an invalid file: the right --method when the file is of the other method."""
    if method != "dpo" and issue.code == "missing_messages" and "--method dpo" in issue.message:
        return f"{path} is a DPO file: pass --method dpo"
    if method == "dpo" and "--method supervised" in issue.message:
        return f"{path} is a supervised (chat) file: pass --method supervised"
    return f"run `openai-ft validate {path}{'' if method == 'supervised' else ' --method ' + method}` to see every problem, {then}"


def _size_issue(examples: int, role: str) -> Issue | None:
    """The 10-example minimum: an error for a training file, a warning for a held-out one."""
    if examples >= MIN_EXAMPLES:
        return None
    if role == "training":
        text = f"{examples} examples: at least {MIN_EXAMPLES} are required in a training file"
        return Issue(None, "too_few_examples", text, None, "error")
    if examples == 0:
        text = "0 examples: the file is empty; leave the validation file out instead"
        return Issue(None, "too_few_examples", text, None, "error")
    text = (
        f"{examples} examples: enough for a validation file (the minimum of"
        f" {MIN_EXAMPLES} applies to training files), but its loss will be noisy"
    )
    return Issue(None, "too_few_examples", text, None, "warning")


def _open_check(path: Path) -> int:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", tip="check the path") from None
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read: {exc.strerror}", tip="check the path and its permissions"
        ) from None
    if path.is_dir():
        raise InputError(
            f"{path}: is a directory, not a JSONL file", tip="pass the .jsonl file itself"
        )
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(
            f"{path}: cannot read: {exc.strerror}", tip="check the file's permissions"
        ) from None
    return st.st_size


def _percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def _token_stats(totals: array[int], assistant: int) -> TokenStats:
    if not totals:
        return TokenStats()
    values = sorted(totals)
    bounds: list[tuple[int, int]] = []
    upper, i = 64, 0
    while i < len(values):
        n = 0
        while i < len(values) and values[i] <= upper:
            n += 1
            i += 1
        bounds.append((upper, n))
        upper *= 2
    total = sum(values)
    return TokenStats(
        total=total,
        assistant=assistant,
        min=values[0],
        max=values[-1],
        mean=total / len(values),
        p50=_percentile(values, 0.5),
        p95=_percentile(values, 0.95),
        histogram=tuple(bounds),
    )


def _merge(
    source: str,
    method: str,
    model: str,
    results: Iterable[ChunkResult],
    file_issues: list[Issue],
    role: str = "training",
) -> _Merged:
    quality = FileQuality()
    errors = [i for i in file_issues if i.severity == "error"]
    warnings = [i for i in file_issues if i.severity == "warning"]
    totals: array[int] = array("q")
    assistant = examples = offset = 0
    for res in results:

        def shift(items: list[Issue], by: int = offset) -> Iterator[Issue]:
            return (replace(i, line=i.line + by) if i.line is not None and by else i for i in items)

        errors.extend(shift(res.errors))
        warnings.extend(shift(res.warnings))
        examples += res.examples
        totals.extend(res.totals)
        assistant += sum(res.assistant)
        lines = [line + offset for line in res.line_no] if offset else list(res.line_no)
        quality.add_many(lines, res.exact, res.near, res.system)
        quality.add_replies(
            res.replies, res.long_replies, [(ln + offset, t) for ln, t in res.short]
        )
        offset += res.lines
    size = _size_issue(examples, role)
    if size is not None and not any(i.code == "file_too_large" for i in errors):
        (errors if size.severity == "error" else warnings).append(size)
    warnings.extend(quality.finish())
    stats = _token_stats(totals, assistant)
    report = ValidationReport(
        path=source,
        method=method,
        model=model,
        examples=examples,
        errors=tuple(sorted(errors, key=_order)),
        warnings=tuple(sorted(warnings, key=_order)),
        tokens=stats,
        estimate=estimate_training_cost(billed_tokens(totals, model), examples, model),
    )
    return _Merged(report, quality)


def _order(issue: Issue) -> int:
    return -1 if issue.line is None else issue.line


def _ignore_ctrl_c() -> None:
    """Pool workers leave Ctrl-C to the parent, which stops them (no traceback per worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _model_issues(model: str) -> list[Issue]:
    if model_info(model).known:
        return []
    return [
        Issue(
            None,
            "unknown_model",
            f"model {model!r} is not in the catalog: limits and prices are conservative guesses",
            None,
            "warning",
        )
    ]


def _scan_path(
    path: str | Path, method: str, model: str, workers: int | None, role: str = "auto"
) -> _Merged:
    _check_method(method)
    role = role_of(path, role)
    p = Path(path)
    size = _open_check(p)
    info = model_info(model)
    file_issues = _model_issues(model)
    if size > UPLOADS_API_LIMIT:
        file_issues.append(
            Issue(
                None,
                "file_too_large",
                f"{size / 1024**3:.1f} GB: files can be at most 8 GB; split it (its lines were not checked)",
                None,
                "error",
            )
        )
        return _merge(str(path), method, model, [], file_issues, role)
    if size > FILES_API_LIMIT:
        file_issues.append(
            Issue(
                None,
                "large_file",
                f"{size / 1024**2:.0f} MB is over the Files API's 512 MB: it will be sent through the Uploads API",
                None,
                "warning",
            )
        )
    bounds = chunk_bounds(str(p), size, CHUNK_BYTES)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if size > POOL_THRESHOLD else 1
    pooled = workers > 1 and len(bounds) > 1
    # Forked workers share the parent's hash seed, so the cheap built-in hash is comparable
    # (between chunks and files); without fork, every scan uses the portable blake2b.
    fork = "fork" in multiprocessing.get_all_start_methods()
    tasks = [
        ChunkTask(str(p), s, e, method, info.encoding, info.context_limit, local_hash=fork)
        for s, e in bounds
    ]
    try:
        if pooled:
            from openai_ft.dataset.tokens import _counter

            _counter(info.encoding)  # load once; forked workers inherit it
            ctx = multiprocessing.get_context("fork" if fork else None)
            with ctx.Pool(min(workers, len(tasks)), initializer=_ignore_ctrl_c) as pool:
                results = pool.imap(scan_chunk, tasks)
                return _merge(str(path), method, model, results, file_issues, role)
        return _merge(str(path), method, model, map(scan_chunk, tasks), file_issues, role)
    except OSError as exc:
        raise InputError(
            f"{path}: read failed: {exc.strerror}", tip="check the file and retry"
        ) from None


def validate(
    path: str | Path,
    *,
    method: str = "supervised",
    model: str = DEFAULT_MODEL,
    workers: int | None = None,
    role: str = "auto",
) -> ValidationReport:
    """Check every line of a JSONL training file; raises InputError if it cannot be read.

    ``role`` decides the 10-example minimum (an error for ``training``, a warning for
    ``validation``); ``auto`` reads it from the file name (see :func:`role_of`).
    """
    return _scan_path(path, method, model, workers, role).report


def validate_many(
    paths: Sequence[str | Path],
    *,
    method: str = "supervised",
    model: str = DEFAULT_MODEL,
    workers: int | None = None,
    role: str = "auto",
) -> list[ValidationReport]:
    """Validate several files and warn about examples repeated across them (train/validation/test)."""
    merged = [_scan_path(p, method, model, workers, role) for p in paths]
    seen_exact: dict[int, tuple[str, int]] = {}
    seen_near: dict[int, tuple[str, int]] = {}
    out = []
    for item in merged:
        repeats = []
        near_by_line = {line: h for h, line in item.quality.near.items()}
        for h, line in item.quality.exact.items():
            where = seen_exact.get(h) or seen_near.get(near_by_line.get(line, 0))
            if where is not None:
                repeats.append(
                    Issue(
                        line,
                        "repeated_across_files",
                        f"also in {where[0]} line {where[1]}: an example should be in only one split",
                        None,
                        "warning",
                    )
                )
        name = Path(item.report.path).name
        for h, line in item.quality.exact.items():
            seen_exact.setdefault(h, (name, line))
        for h, line in item.quality.near.items():
            seen_near.setdefault(h, (name, line))
        warnings = tuple(sorted((*item.report.warnings, *repeats), key=_order))
        out.append(replace(item.report, warnings=warnings))
    return out


def validate_examples(
    examples: Sequence[dict[str, Any]],
    *,
    method: str = "supervised",
    model: str = DEFAULT_MODEL,
    source: str = "<memory>",
    role: str = "training",
) -> ValidationReport:
    """Validate in-memory examples; issue lines are their 1-based positions."""
    _check_method(method)
    role = role_of(source, role)
    info = model_info(model)
    scanner = Scanner(method, info.encoding, info.context_limit)
    for i, example in enumerate(examples, 1):
        scanner.feed_obj(
            i,
            example,
            json.dumps(example, ensure_ascii=False, sort_keys=True).encode(
                "utf-8", "surrogatepass"
            ),
        )
    scanner.result.lines = len(examples)
    return _merge(source, method, model, [scanner.result], _model_issues(model), role).report


def first_error(path: str | Path, method: str = "supervised", role: str = "auto") -> Issue | None:
    """The first error of a file (format rules only, stops early); None when the file is valid."""
    _check_method(method)
    role = role_of(path, role)
    p = Path(path)
    _open_check(p)
    info = model_info(DEFAULT_MODEL)
    scanner = Scanner(method, info.encoding, info.context_limit, full=False)
    examples = 0
    with p.open("rb") as fh:
        for line, raw in enumerate(fh, 1):
            if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
                return Issue(
                    1,
                    "utf8_bom",
                    "the file starts with a byte-order mark: save it as UTF-8 without BOM",
                    None,
                    "error",
                )
            scanner.feed_bytes(line, raw.rstrip(b"\n"))
            if scanner.result.errors:
                return scanner.result.errors[0]
            examples = scanner.result.examples
    size = _size_issue(examples, role)
    return size if size is not None and size.severity == "error" else None
