"""``retrain``: a new version of the table, trained and promoted only if it is not worse.

    find the earlier run (ledger: job -> training file -> prepare manifest) -> prepare the new
    table with the same mapping, seed and split sizes, every example seen before pinned to its
    earlier split -> diff against the earlier split files -> train (continue from the earlier
    model, or fresh from its base) -> evaluate old and new, paired, on the fixed regression set
    (the earlier test split, as it was) and on the new test examples -> promote (set the alias)
    when the new model is not worse: non-inferiority, lower CI bound of new - old > -margin.

An example's key is its prompt (every message before the final assistant reply, or a DPO input),
normalised as the splitter groups prompts: the same key with different content is a change.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.errors import InputError, JobFailed, NotFound, OpenAIFTError, UsageError

if TYPE_CHECKING:
    from openai_ft.jobs import Plan
    from openai_ft.store import Ledger
    from openai_ft.watch_types import WatchEvent

Example = dict[str, Any]
SPLITS = ("train", "validation", "test")
REGRESSION_FILE = "regression.jsonl"
SAMPLES = 3  # prompts shown per kind of change

__all__ = ["Diff", "Previous", "Refused", "RetrainResult", "SetScore", "example_key", "retrain"]


class Refused(OpenAIFTError):
    """The new model was not promoted: worse than the old one, or under --fail-under (exit 1)."""

    exit_code = 1


def example_key(example: Example) -> str:
    """The identity of an example across versions of a table: a hash of its normalised prompt."""
    from openai_ft.dataset.split import normalize_text, prompt_part

    prompt = json.dumps(prompt_part(example), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(normalize_text(prompt).encode("utf-8")).hexdigest()[:16]


def _content(example: Example) -> str:
    return json.dumps(example, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Previous:
    """The run retrain starts from, as the ledger and its prepare manifest recorded it."""

    run_id: str | None
    job_id: str
    backend: str
    base_model: str
    model: str
    spec: dict[str, Any]
    manifest: dict[str, Any]
    folder: Path
    examples: dict[str, list[Example]]


def _job_row(ledger: Ledger, ident: str, backend: str) -> Any:
    """The ledger's job for a run id, job id or fine-tuned model id, on this backend."""
    sql = (
        "SELECT * FROM jobs WHERE backend = ? AND (run_id = ? OR job_id = ? OR"
        " fine_tuned_model = ?) ORDER BY created_at DESC LIMIT 1"
    )
    row = ledger.one(sql, (backend, ident, ident, ident))
    if row is None:
        other = ledger.one(
            sql.replace("backend = ?", "backend != ?"), (backend, ident, ident, ident)
        )
        tip = (
            f"it was trained on backend '{other['backend']}': pass --backend/--base-url for it"
            if other is not None
            else "list runs with `openai-ft runs`; --from takes a run id, job id, model id or @alias"
        )
        raise NotFound(
            f"--from {ident}: no such run in the ledger for backend '{backend}'", tip=tip
        )
    return row


def _manifest(ledger: Ledger, row: Any, ident: str) -> dict[str, Any]:
    """The prepare manifest recorded when the run's training file was uploaded."""
    found = ledger.one(
        "SELECT d.manifest_json FROM files f JOIN datasets d ON d.sha256 = f.sha256"
        " WHERE f.backend = ? AND f.file_id = ? AND d.manifest_json IS NOT NULL LIMIT 1",
        (row["backend"], row["training_file"]),
    )
    if found is None:
        raise UsageError(
            f"--from {ident}: its training file {row['training_file']} was not made by"
            " `openai-ft prepare`, so its column mapping, seed and split are not known",
            tip="prepare the new table with `openai-ft prepare` and train it with"
            f" `openai-ft train --model {row['fine_tuned_model'] or row['model']}`",
        )
    manifest: dict[str, Any] = json.loads(found["manifest_json"])
    return manifest


def _split_files(manifest: dict[str, Any], ident: str) -> tuple[Path, dict[str, list[Example]]]:
    """The earlier split files next to the manifest, checked against the hashes it lists."""
    where = Path(str(manifest.get("manifest_path") or "manifest.json"))
    folder = where.parent
    out: dict[str, list[Example]] = {}
    for name, entry in (manifest.get("files") or {}).items():
        path = folder / str(entry.get("path") or f"{name}.jsonl")
        tip = f"restore the files `openai-ft prepare` wrote in {folder} for run {ident}"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(
                f"{path}: cannot read the earlier {name} split: {exc}", tip=tip
            ) from None
        if entry.get("sha256") and hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise InputError(
                f"{path}: the earlier {name} split changed since it was prepared (sha256 differs)",
                tip=tip,
            )
        text = data.decode("utf-8")
        out[name] = [json.loads(line) for line in text.splitlines() if line.strip()]
    return folder, out


def find_previous(ident: str, backend: str, ledger: Ledger, client: Any) -> Previous:
    """What retrain needs of the earlier run: its model, settings, manifest and split files."""
    from openai_ft.client import translate_errors

    if ident.startswith("@"):
        from openai_ft.evaluate.api import resolve_models

        [ident] = resolve_models([ident], backend, ledger)
    row = _job_row(ledger, ident, backend)
    with translate_errors(f"looking up job {row['job_id']}"):
        job = client.fine_tuning.jobs.retrieve(row["job_id"])
    if job.status != "succeeded" or not job.fine_tuned_model:
        raise UsageError(
            f"--from {ident}: job {job.id} is {job.status}, with no fine-tuned model to compare with",
            tip=f"wait for it (`openai-ft watch {job.id}`) or pick a run that succeeded",
        )
    manifest = _manifest(ledger, row, ident)
    if manifest.get("method", "supervised") != "supervised":
        raise UsageError(
            f"--from {ident}: retrain compares models on chat examples; this run is"
            f" {manifest.get('method')}",
            tip="prepare and train DPO data with `openai-ft prepare` and `openai-ft train`",
        )
    folder, examples = _split_files(manifest, ident)
    spec = json.loads(row["config_json"]) if row["config_json"] else {}
    return Previous(
        row["run_id"],
        str(job.id),
        backend,
        str(job.model),
        str(job.fine_tuned_model),
        spec,
        manifest,
        folder,
        examples,
    )


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
    for name in ("train", "validation", "test"):  # test last: a prompt in two splits stays out
        for ex in previous.examples.get(name, []):
            where[example_key(ex)] = name
    return lambda ex: where.get(example_key(ex))


def prepare_retrain(
    table: str | Path, previous: Previous, out_dir: Path, progress: Any = None
) -> Prepared:
    """Prepare ``table`` with the earlier run's recorded settings and write the regression set."""
    from openai_ft._atomic import write_bytes_atomic
    from openai_ft.dataset.prepare import prepare

    m = previous.manifest
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
        progress=progress,
        pin=_pin(previous),
    )
    new_examples = [ex for name in SPLITS for ex in _read(res.files.get(name))]
    regression = previous.examples.get("test", [])
    payload = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in regression)
    files = {k: str(v) for k, v in res.files.items()}
    if regression:
        write_bytes_atomic(out_dir / REGRESSION_FILE, payload.encode("utf-8"))
        files["regression"] = str(out_dir / REGRESSION_FILE)
    old_keys = {example_key(e) for e in regression}
    fresh = [e for e in _read(res.files.get("test")) if example_key(e) not in old_keys]
    diff = diff_examples(previous.examples, new_examples)
    return Prepared(out_dir, files, dict(res.counts), len(regression), len(fresh), diff)


def _read(path: Path | str | None) -> list[Example]:
    if path is None or not Path(path).is_file():
        return []
    lines = Path(path).read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@dataclass(frozen=True)
class SetScore:
    """Old and new model on one set of test examples, paired: means and new - old with its CI."""

    name: str
    examples: int
    old: float | None
    new: float | None
    diff: float | None
    ci95: tuple[float | None, float | None]


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 6)


def _score(name: str, frame: Any, rows: Sequence[int], old: str, new: str, col: str) -> SetScore:
    """The paired comparison of two models on the examples ``rows`` of an eval frame."""
    from openai_ft.evaluate.stats import paired_bootstrap_diff
    from openai_ft.evaluate.summary import counted

    if not rows:
        return SetScore(name, 0, None, None, None, (None, None))
    picked = frame[frame["example"].isin(list(rows))]
    by = {m: counted(picked[picked["model"] == m].sort_values("example"), col) for m in (old, new)}
    a, b = by[new].fillna(0.0).to_numpy(), by[old].fillna(0.0).to_numpy()
    diff, lo, hi = paired_bootstrap_diff(a, b)
    return SetScore(
        name, len(rows), _num(b.mean()), _num(a.mean()), _num(diff), (_num(lo), _num(hi))
    )


def _compare(
    prepared: Prepared, old: str, new: str, scorer: str, settings: Any, ledger: Ledger, **kw: Any
) -> tuple[str, list[SetScore]]:
    """Evaluate both models on the regression set and the new test examples (one run)."""
    from openai_ft.evaluate.api import evaluate
    from openai_ft.evaluate.data import parse_example
    from openai_ft.evaluate.summary import score_column

    regression = _read(prepared.files.get("regression"))
    keys = {example_key(e) for e in regression}
    fresh = [e for e in _read(prepared.files.get("test")) if example_key(e) not in keys]
    if not regression and not fresh:
        raise UsageError(
            "no test examples to compare the models on (the earlier and the new test splits are"
            " empty)",
            tip="prepare with --test-size above 0 (a new `openai-ft prepare` and `train`)",
        )
    where = str(prepared.out_dir / "compare")
    examples = [parse_example(e, where, i + 1) for i, e in enumerate([*regression, *fresh])]
    res = evaluate(
        examples,
        [old, new],
        scorers=[scorer],
        settings=settings,
        ledger=ledger,
        temperature=0,
        **kw,
    )
    col = score_column(next(iter(res.summary["models"][0]["scores"])))
    n = len(regression)
    sets = [
        _score("regression", res.results, range(n), old, new, col),
        _score("new examples", res.results, range(n, len(examples)), old, new, col),
    ]
    return res.run_id, sets


@dataclass(frozen=True)
class RetrainResult:
    """What retrain did: the data diff, the job, both models' scores, and the promotion."""

    from_run: str
    mode: str
    old_model: str
    new_model: str | None
    job_id: str
    attached: bool
    prepared: Prepared
    scorer: str
    margin: float
    fail_under: float | None
    sets: list[SetScore]
    eval_run: str | None
    passed: bool
    promoted: bool
    alias: str | None
    reason: str


def _fmt(x: float | None, sign: str = "") -> str:
    return "-" if x is None else f"{x:{sign}.3f}"


def decide(
    sets: Sequence[SetScore], scorer: str, margin: float, fail_under: float | None
) -> tuple[bool, str]:
    """Promote or not, and why in one line with the numbers.

    Non-inferiority on the regression set (on the new test examples when there is no earlier
    test split): the lower bound of the 95% CI of new - old must be above -margin. And, with
    --fail-under, the new model's mean over every test example must reach it.
    """
    gate = next((s for s in sets if s.examples), None)
    assert gate is not None  # _compare refuses an empty test set
    lo = gate.ci95[0]
    text = (
        f"{gate.name} set ({gate.examples} examples) {scorer}: new {_fmt(gate.new)} vs old"
        f" {_fmt(gate.old)}, new - old {_fmt(gate.diff, '+')} (95% CI [{_fmt(lo)},"
        f" {_fmt(gate.ci95[1])}])"
    )
    if lo is None or lo <= -margin:
        return False, f"{text}: the lower bound is not above -{margin:g} (--margin)"
    if fail_under is not None:
        total = sum(s.examples for s in sets)
        mean = sum((s.new or 0.0) * s.examples for s in sets) / total
        if mean < fail_under:
            return False, (
                f"{text}; but the new model scores {mean:.3f} on all {total} test examples,"
                f" under --fail-under {fail_under:g}"
            )
    return True, f"{text}: not worse than -{margin:g} (--margin)"


def retrain(
    table: str | Path,
    *,
    from_run: str,
    fresh: bool = False,
    margin: float = 0.02,
    fail_under: float | None = None,
    promote: str | None = "prod",
    scorer: str = "exact",
    out_dir: str | Path | None = None,
    backend: str | None = None,
    base_url: str | None = None,
    client: Any = None,
    async_client: Any = None,
    ledger: Ledger | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    on_prepared: Callable[[Prepared], None] | None = None,
    on_event: Callable[[WatchEvent], None] | None = None,
    on_upload: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = 5.0,
) -> RetrainResult:
    """Prepare, diff, train, compare and promote (see the module docstring); idempotent: a rerun
    of the same table attaches to its job and finds its answers in the ledger."""
    from openai_ft.aliases import check_name, set_alias
    from openai_ft.client import make_client
    from openai_ft.config import resolve_backend
    from openai_ft.store import Ledger

    if not (math.isfinite(margin) and margin >= 0):
        raise UsageError(
            f"--margin {margin}: must be a number, 0 or more", tip="e.g. --margin 0.02"
        )
    alias_name = check_name(promote) if promote else None
    settings = resolve_backend(backend, base_url)
    cli = client or make_client(settings)
    book = ledger or Ledger()
    try:
        prev = find_previous(from_run, settings.name, book, cli)
        src = Path(table)
        out = Path(out_dir) if out_dir else src.parent / f"{src.stem}.retrain"
        prepared = prepare_retrain(src, prev, out)
        if on_prepared is not None:
            on_prepared(prepared)
        job = _train(prepared, prev, fresh, settings, cli, book, confirm, on_upload)
        model = job.fine_tuned_model
        if job.status != "succeeded":
            model = _wait(job.job_id, cli, settings.name, book, on_event, sleep, poll_interval)
        kw = {"client": async_client} if async_client is not None else {}
        run, sets = _compare(prepared, prev.model, model, scorer, settings, book, **kw)
        ok, why = decide(sets, scorer, margin, fail_under)
        reason = f"retrain of {prev.run_id or prev.job_id} ({job.job_id}): {why}"
        if ok and alias_name:
            set_alias(alias_name, model, backend=settings.name, reason=reason, ledger=book)
        return RetrainResult(
            from_run,
            "fresh" if fresh else "continue",
            prev.model,
            model,
            job.job_id,
            job.attached,
            prepared,
            scorer,
            margin,
            fail_under,
            sets,
            run,
            ok,
            ok and alias_name is not None,
            alias_name,
            reason,
        )
    finally:
        if ledger is None:
            book.close()


def _train(
    prepared: Prepared,
    prev: Previous,
    fresh: bool,
    settings: Any,
    client: Any,
    ledger: Ledger,
    confirm: Any,
    on_upload: Any,
) -> Any:
    """An ordinary idempotent train of the new splits with the earlier run's job settings."""
    from openai_ft.jobs import train

    spec = prev.spec
    return train(
        prepared.files["train"],
        prepared.files.get("validation"),
        model=prev.base_model if fresh else prev.model,
        method=spec.get("method"),
        hyperparameters=spec.get("hyperparameters") or None,
        suffix=spec.get("suffix"),
        seed=spec.get("seed"),
        metadata=spec.get("metadata") or None,
        backend=settings.backend,
        base_url=settings.base_url,
        client=client,
        ledger=ledger,
        confirm=confirm,
        on_upload=on_upload,
    )


def _wait(
    job_id: str,
    client: Any,
    backend: str,
    ledger: Ledger,
    on_event: Any,
    sleep: Callable[[float], None],
    poll: float,
) -> str:
    """Follow the new job to its end; its fine-tuned model, or JobFailed."""
    from openai_ft.watch import watch

    res = watch(
        job_id,
        client=client,
        on_event=on_event,
        sleep=sleep,
        poll_interval=poll,
        backend=backend,
        ledger=ledger,
    )
    if res.interrupted:
        raise KeyboardInterrupt
    if not res.succeeded or not res.fine_tuned_model:
        why = f": {res.error.code}: {res.error.message}" if res.error else ""
        raise JobFailed(
            f"job {job_id} ended {res.status}{why}; nothing was compared or promoted",
            tip="fix the cause, then run the same retrain command again (it attaches to the job)",
        )
    return res.fine_tuned_model
