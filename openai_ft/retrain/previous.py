"""The run retrain starts from: ledger job -> training file -> prepare manifest -> split files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.errors import InputError, NotFound, UsageError

if TYPE_CHECKING:
    from openai_ft.store import Ledger

Example = dict[str, Any]


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
