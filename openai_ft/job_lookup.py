"""Which job a config created: its hash, the lookup (ledger rows of this location, then the
job's ``metadata`` on the service), and a create that never runs twice.

The job carries our run id and config hash in its ``metadata``. Before creating we look for the
hash in the ledger, then (when the ledger was lost, or on another machine) with
``jobs.list(metadata=...)``. The create itself runs without SDK retries; after an ambiguous
failure (lost answer, 5xx) we look for our run id on the service before trying again, so a retry
never starts a second paid job.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openai_ft.client import creating, is_openai_platform, map_error
from openai_ft.cutoff import explain_refusal
from openai_ft.errors import NotFound, ServiceUnavailable
from openai_ft.runs import record_job

if TYPE_CHECKING:
    import openai

    from openai_ft.store import Ledger

RUN_KEY = "openai_ft_run"
HASH_KEY = "openai_ft_config"
CREATE_ATTEMPTS = 3


def config_hash(spec: Mapping[str, Any]) -> str:
    """A stable hash of a job's inputs (file contents by hash, not by path); equal settings
    hash equal: a model alias and its snapshot, ``2`` and ``2.0``, ``"auto"`` and no value."""
    return legacy_hash(canonical_spec(spec))


def legacy_hash(spec: Mapping[str, Any]) -> str:
    """The hash of the spec as given (how jobs created before equal settings hashed equal are
    tagged): looked up too, so an upgrade never creates a second job."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def plain_number(value: Any) -> Any:
    """``2.0`` as ``2``; anything else as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with equal settings written one way (what :func:`config_hash` hashes)."""
    from openai_ft.catalog import is_fine_tuned, resolve_model_name

    out = dict(spec)
    model = str(out.get("model", ""))
    if model and not is_fine_tuned(model):  # an ft: id names one model; never map it to its base
        out["model"] = resolve_model_name(model)
    hp = out.get("hyperparameters") or {}
    out["hyperparameters"] = {k: plain_number(v) for k, v in hp.items() if v != "auto"}
    seed = out.get("seed")
    out["seed"] = (
        int(seed) if isinstance(seed, str) and seed.strip().isdigit() else plain_number(seed)
    )
    return out


@dataclass(frozen=True)
class Lookup:
    """Where to look for the job of a config: the ledger rows of this location, then metadata."""

    client: Any
    ledger: Ledger
    backend: str
    location: str
    digests: tuple[
        str, ...
    ]  # the config hash first, then the one before equal settings hashed equal

    def find(self) -> Any | None:
        """The job created for this config, or None."""
        return find_job(self.client, self.ledger, self.backend, self.digests, self.location)


def find_job(
    client: openai.OpenAI,
    ledger: Ledger,
    backend: str,
    digests: str | Sequence[str],
    where: str | None = None,
) -> Any | None:
    """The job created for this config hash: from the ledger, else from the service's metadata.

    Only rows of this location are used (and rows recorded before locations were kept, which
    the first location that can see their job adopts); a job the service no longer knows is
    forgotten only when its row is this location's.
    """
    from openai_ft.store import location

    here = where if where is not None else location(client)
    hashes = list(dict.fromkeys([digests] if isinstance(digests, str) else digests))
    marks = ", ".join("?" * len(hashes))
    rows = ledger.query(
        f"SELECT job_id, location FROM jobs WHERE backend = ? AND config_hash IN ({marks})"
        " AND location IN (?, '') ORDER BY created_at DESC",
        (backend, *hashes, here),
    )
    for row in rows:
        try:
            job = client.fine_tuning.jobs.retrieve(row["job_id"])
        except Exception as exc:
            err = map_error(exc, f"checking job {row['job_id']}")
            if not isinstance(err, NotFound):
                raise err from exc
            if row["location"] == here:
                ledger.execute("DELETE FROM jobs WHERE backend = ? AND location = ? AND job_id = ?",
                               (backend, here, row["job_id"]))  # fmt: skip
            continue
        record_job(ledger, backend, job, location=here)
        return job
    for digest in hashes:
        found = lookup_by_metadata(client, HASH_KEY, digest)
        if found is not None:
            record_job(ledger, backend, found, location=here)
            return found
    return None


def lookup_by_metadata(client: openai.OpenAI, key: str, value: str, scan: int = 500) -> Any | None:
    """The newest job whose metadata has ``key == value`` (filtered on the service and here)."""
    try:
        for i, job in enumerate(client.fine_tuning.jobs.list(metadata={key: value}, limit=50)):
            if (job.metadata or {}).get(key) == value:
                return job
            if i >= scan:
                break
    except Exception as exc:
        raise map_error(exc, "listing fine-tuning jobs") from exc
    return None


def create_once(
    client: openai.OpenAI,
    kwargs: dict[str, Any],
    run_id: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    attempts: int = CREATE_ATTEMPTS,
) -> Any:
    """Create a job without SDK retries; after a lost answer, find it by run id or try again."""
    last: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            sleep(2.0**attempt)
            found = lookup_by_metadata(client, RUN_KEY, run_id)
            if found is not None:
                return found
        try:
            return creating(client).fine_tuning.jobs.create(**kwargs)
        except Exception as exc:
            err = map_error(exc, "creating the fine-tuning job")
            if not isinstance(err, ServiceUnavailable):
                raise (explain_refusal(err) if is_openai_platform(client) else err) from exc
            last = err
    assert last is not None
    raise last
