"""The new table prepared like the earlier one, and what changed.

An example's key is its prompt (every message before the final assistant reply, or a DPO input),
normalised as the splitter groups prompts: the same key with different content is a change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai_ft.errors import InputError, UsageError
from openai_ft.retrain.previous import Example, Previous

SPLITS = ("train", "validation", "test")
REGRESSION_FILE = "regression.jsonl"
SAMPLES = 3  # prompts shown per kind of change


def example_key(example: Example) -> str:
    """The identity of an example across versions of a table: a hash of its normalised prompt."""
    from openai_ft.dataset.split import normalize_text, prompt_part

    prompt = json.dumps(prompt_part(example), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(normalize_text(prompt).encode("utf-8")).hexdigest()[:16]


def _content(example: Example) -> str:
    return json.dumps(example, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Diff:
    """What changed between the earlier split files and the new table (by :func:`example_key`)."""

    added: int
    removed: int
    changed: int
    unchanged: int
    changed_in_regression: int
    removed_from_regression: int
    samples: dict[str, list[str]] = field(default_factory=dict)


def _by_key(examples: Sequence[Example]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ex in examples:
        out.setdefault(example_key(ex), []).append(_content(ex))
    return {k: sorted(v) for k, v in out.items()}


def _question(example: Example) -> str:
    from openai_ft.dataset.split import prompt_part

    prompt = prompt_part(example)
    users = [m for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
    text = str(users[-1].get("content")) if users else json.dumps(prompt, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def diff_examples(old: dict[str, list[Example]], new: Sequence[Example]) -> Diff:
    """Added, removed and changed examples of the new table against the earlier splits."""
    before = _by_key([ex for part in old.values() for ex in part])
    after = _by_key(new)
    regression = set(_by_key(old.get("test", [])))
    first = {example_key(ex): ex for part in (*old.values(), new) for ex in part}
    kinds: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
    for key in after.keys() - before.keys():
        kinds["added"].append(key)
    for key in before.keys() - after.keys():
        kinds["removed"].append(key)
    for key in before.keys() & after.keys():
        if before[key] != after[key]:
            kinds["changed"].append(key)
    samples = {k: [_question(first[key]) for key in sorted(v)[:SAMPLES]] for k, v in kinds.items()}
    unchanged = len(before.keys() & after.keys()) - len(kinds["changed"])
    return Diff(
        len(kinds["added"]),
        len(kinds["removed"]),
        len(kinds["changed"]),
        unchanged,
        len(regression & set(kinds["changed"])),
        len(regression & set(kinds["removed"])),
        samples,
    )


@dataclass(frozen=True)
class Prepared:
    """The new table prepared like the earlier one, plus the fixed regression set beside it."""

    out_dir: Path
    files: dict[str, str]
    counts: dict[str, int]
    regression: int
    new_test: int
    diff: Diff


def _pin(previous: Previous) -> Callable[[Example], str | None]:
    """Every example seen before goes back to its earlier split (a test one never to train)."""
    where: dict[str, str] = {}
    for name in SPLITS:  # test last: a prompt found in two splits goes to test, never to train
        for ex in previous.examples.get(name, []):
            where[example_key(ex)] = name
    return lambda ex: where.get(example_key(ex))


def prepare_retrain(
    table: str | Path, previous: Previous, out_dir: Path, progress: Any = None
) -> Prepared:
    """Prepare ``table`` with the earlier run's recorded settings and write the regression set."""
    from openai_ft._atomic import write_bytes_atomic
    from openai_ft.dataset import load
    from openai_ft.dataset.prepare import prepare

    m = previous.manifest
    raw = m.get("source")
    source: dict[str, Any] = raw if isinstance(raw, dict) else {}
    fmt: str | None = None
    try:
        kind: str | None = load.detect_format(Path(table), None)
    except InputError:  # no known extension: read it as the earlier table was read
        fmt = kind = str(source["format"]) if source.get("format") else None
    sheet = source.get("sheet") if kind == source.get("format") else None  # Excel: that sheet
    missing = [k for k in ("seed", "val_size", "test_size") if m.get(k) is None]
    if missing:
        raise UsageError(
            f"the manifest of run {previous.run_id} records no {', '.join(missing)}",
            tip="it was written by an older openai-ft; prepare the new table by hand",
        )
    res = prepare(
        table,
        out_dir=out_dir,
        **dict(m.get("mapping") or {}),
        seed=int(m["seed"]),
        val_size=float(m["val_size"]),
        test_size=float(m["test_size"]),
        model=str(m.get("model") or previous.base_model),
        fmt=fmt,
        sheet=sheet,
        progress=progress,
        pin=_pin(previous),
    )
    new_examples = [ex for name in SPLITS for ex in read_examples(res.files.get(name))]
    regression = previous.examples.get("test", [])
    payload = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in regression)
    files = {k: str(v) for k, v in res.files.items()}
    if regression:
        write_bytes_atomic(out_dir / REGRESSION_FILE, payload.encode("utf-8"))
        files["regression"] = str(out_dir / REGRESSION_FILE)
    elif (out_dir / REGRESSION_FILE).is_file():  # an earlier retrain's, into the same folder
        (out_dir / REGRESSION_FILE).unlink()
    old_keys = {example_key(e) for e in regression}
    fresh = [e for e in read_examples(res.files.get("test")) if example_key(e) not in old_keys]
    diff = diff_examples(previous.examples, new_examples)
    return Prepared(out_dir, files, dict(res.counts), len(regression), len(fresh), diff)


def read_examples(path: Path | str | None) -> list[Example]:
    """The examples of a JSONL file written by prepare (none when there is no such file)."""
    if path is None or not Path(path).is_file():
        return []
    lines = Path(path).read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
