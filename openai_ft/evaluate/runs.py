"""Saved eval runs: per-example results (JSONL) and the summary (JSON) under
``<state dir>/evals/<run id>/``, with a row in the ledger's ``runs`` table.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft._atomic import write_text_atomic
from openai_ft.config import state_dir
from openai_ft.errors import InputError, UsageError
from openai_ft.store import Ledger

if TYPE_CHECKING:
    import pandas as pd


def new_run_id() -> str:
    """A sortable, unique run id like ``eval-20250601-120000-ab12``."""
    return time.strftime("eval-%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def run_dir(run_id: str) -> Path:
    """Where a run's files live."""
    return state_dir() / "evals" / run_id


def save_run(
    run_id: str,
    frame: pd.DataFrame,
    summary: dict[str, Any],
    config: dict[str, Any],
    backend: str,
    ledger: Ledger,
) -> Path:
    """Write results.jsonl and summary.json atomically and record the run in the ledger."""
    folder = run_dir(run_id)
    write_text_atomic(
        folder / "results.jsonl", frame.to_json(orient="records", lines=True, force_ascii=False)
    )
    write_text_atomic(folder / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    write_text_atomic(folder / "config.json", json.dumps(config, indent=2, ensure_ascii=False))
    ledger.execute(
        "INSERT OR REPLACE INTO runs (id, kind, backend, created_at, config_json, status)"
        " VALUES (?, 'eval', ?, ?, ?, 'done')",
        [run_id, backend, time.time(), json.dumps(config, ensure_ascii=False)],
    )
    return folder


def resolve_run(run: str, ledger: Ledger | None = None) -> str:
    """A run id; ``latest`` is the most recent eval run."""
    if run != "latest":
        return run
    led = ledger or Ledger()
    row = led.one(
        "SELECT id FROM runs WHERE kind = 'eval' ORDER BY created_at DESC, id DESC LIMIT 1"
    )
    if row is None:
        raise UsageError(
            "no eval run yet", tip="run `openai-ft eval --data test.jsonl --model MODEL` first"
        )
    return str(row["id"])


def load_run(
    run: str, ledger: Ledger | None = None
) -> tuple[str, pd.DataFrame, dict[str, Any], dict[str, Any]]:
    """(run id, results frame, summary, config) of a saved run (``latest`` allowed)."""
    import pandas as pd

    run_id = resolve_run(run, ledger)
    folder = run_dir(run_id)
    if not (folder / "summary.json").exists():
        raise InputError(
            f"{folder}: no saved eval run {run_id!r}",
            tip="list runs with `openai-ft runs`, or pass `latest`",
        )
    frame = pd.read_json(folder / "results.jsonl", orient="records", lines=True, dtype=False)
    summary = json.loads((folder / "summary.json").read_text("utf-8"))
    cfg_path = folder / "config.json"
    config = json.loads(cfg_path.read_text("utf-8")) if cfg_path.exists() else {}
    return run_id, frame, summary, config
