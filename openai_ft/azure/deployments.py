"""Deploy, list and remove deployments of fine-tuned models, recorded in the ledger.

Money safety: a deployment is named after its model by default (:func:`default_name`), and ARM's
PUT is create-or-update by name, so a rerun never makes a second one; a second ``deploy`` of the
same name on this machine waits on a ledger lock and then finds the first one's deployment. A
name already used by another model is refused instead of overwritten. Every deployment made
here is a ledger row (model, SKU, fee, created, deleted), which is how ``deployments`` shows age
and cost so far, and how an interrupted eval says which deployment it left behind.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from openai_ft.azure.arm import ArmClient, Deployment
from openai_ft.azure.skus import Sku, by_arm_name
from openai_ft.catalog import is_fine_tuned
from openai_ft.errors import BackendError, ServiceUnavailable, UsageError
from openai_ft.store import Ledger, Migration

MAX_NAME = 64
_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def _m001_deployments(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        CREATE TABLE azure_deployments (
            account TEXT NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL,
            sku TEXT NOT NULL, capacity INTEGER, hourly_usd REAL NOT NULL DEFAULT 0,
            state TEXT NOT NULL, origin TEXT NOT NULL DEFAULT 'deploy',
            created_at REAL NOT NULL, deleted_at REAL,
            PRIMARY KEY (account, name)
        );
        """
    )


MIGRATIONS: list[Migration] = [("m001_deployments", _m001_deployments)]


def open_ledger(ledger: Ledger | None = None) -> Ledger:
    """The ledger with the Azure tables in it."""
    book = ledger or Ledger()
    book.migrate("azure", MIGRATIONS)
    return book


def default_name(model: str) -> str:
    """A stable deployment name for a model: its id where ARM allows it, else a hashed prefix."""
    clean = _BAD.sub("-", model.strip()).strip("-.") or "model"
    if len(clean) <= MAX_NAME:
        return clean
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:10]
    return f"{clean[: MAX_NAME - 11].rstrip('-.')}-{digest}"


def check_name(name: str) -> str:
    """A deployment name ARM accepts (2-64 letters, digits, '_', '.', '-'), or a UsageError."""
    if not (2 <= len(name) <= MAX_NAME) or _BAD.search(name) or not name[0].isalnum():
        raise UsageError(
            f"{name!r} is not a deployment name (2-64 letters, digits, '_', '.', '-';"
            " starting with a letter or digit)",
            tip="choose another --name, or leave it out for one derived from the model",
        )
    return name


@dataclass(frozen=True)
class DeployPlan:
    """What a deploy is about to create: shown before the prompt."""

    name: str
    model: str
    sku: Sku
    capacity: int

    @property
    def fine_tuned(self) -> bool:
        """True for a fine-tuned model (the hosting fee and auto-deletion apply to those)."""
        return is_fine_tuned(self.model)

    @property
    def hourly_usd(self) -> float:
        """What the deployment costs per hour to exist."""
        return self.sku.hourly(self.fine_tuned)


@dataclass(frozen=True)
class DeployResult:
    """The deployment a ``deploy`` created or found."""

    name: str
    model: str
    sku: str
    state: str
    created: bool
    notices: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class DeploymentRow:
    """One deployment for ``deployments``: ARM's view joined with the ledger's record."""

    name: str
    model: str
    sku: str
    state: str
    created_at: float | None
    hourly_usd: float | None
    recorded: bool

    def age_s(self, now: float) -> float | None:
        """Seconds since creation (None when nobody recorded when)."""
        return None if self.created_at is None else max(0.0, now - self.created_at)

    def cost_usd(self, now: float) -> float | None:
        """Hosting fee accrued since creation (None when the SKU's fee or the age is unknown)."""
        age = self.age_s(now)
        if age is None or self.hourly_usd is None:
            return None
        return round(age / 3600 * self.hourly_usd, 2)


def deploy(
    arm: ArmClient,
    model: str,
    sku: Sku,
    *,
    name: str | None = None,
    capacity: int | None = None,
    wait: bool = False,
    confirm: Callable[[DeployPlan], bool] | None = None,
    ledger: Ledger | None = None,
    origin: str = "deploy",
    on_wait: Callable[[], None] | None = None,
    on_state: Callable[[str], None] | None = None,
    before_create: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.time,
    wait_timeout: float = 1800.0,
    poll: float = 5.0,
) -> DeployResult:
    """Create a deployment of ``model`` (or find the one of that name), optionally wait for it.

    ``before_create(name)`` is called just before the PUT is sent (an interrupted caller knows
    which deployment may exist even when the answer never came).
    """
    book = open_ledger(ledger)
    dep_name = check_name(name or default_name(model))
    if sku.option == "developer" and not is_fine_tuned(model):
        raise UsageError(
            f"the Developer tier serves fine-tuned models only, and {model} is a base model",
            tip="use --sku globalstandard or standard (a base model has no hourly hosting fee)",
        )
    found = _existing(arm, dep_name, model)
    created = False
    if found is None:
        plan = DeployPlan(dep_name, model, sku, capacity or sku.default_capacity)
        if confirm is not None and not confirm(plan):
            raise UsageError("nothing deployed: declined at the prompt", tip="pass --yes")
        with book.hold(f"azure deploy {arm.target.key} {dep_name}", on_wait):
            found = _existing(arm, dep_name, model)  # a concurrent deploy may have made it
            if found is None:
                _record(book, arm, plan, "Pending", origin, clock())
                if before_create is not None:
                    before_create(dep_name)
                found = _put(book, arm, plan)
                created = True
                _set_state(book, arm, dep_name, found.state)
    if wait and found.state != "Succeeded":
        found = arm.wait(dep_name, timeout=wait_timeout, poll=poll, on_state=on_state)
        _set_state(book, arm, dep_name, found.state)
    return DeployResult(dep_name, model, found.sku, found.state, created)


def _existing(arm: ArmClient, name: str, model: str) -> Deployment | None:
    """The deployment of that name when it serves ``model``; refuse a name another model uses."""
    dep = arm.get(name)
    if dep is None:
        return None
    if dep.model != model:
        raise UsageError(
            f"deployment {name} already serves {dep.model}, not {model}; not replacing it",
            tip="choose another --name (ARM's PUT would swap the model of that deployment)",
        )
    if dep.state in ("Failed", "Canceled"):
        return None  # PUT again: same name, so still one deployment
    return dep


def _put(book: Ledger, arm: ArmClient, plan: DeployPlan) -> Deployment:
    """The PUT; a refused one (400, 403...) leaves no deployment, so its row is closed."""
    try:
        return arm.put(plan.name, plan.model, plan.sku.arm_name, plan.capacity)
    except (BackendError, UsageError) as exc:
        if not isinstance(exc, ServiceUnavailable):  # after a lost answer it may exist
            book.execute(
                "UPDATE azure_deployments SET state = 'NotCreated', deleted_at = created_at"
                " WHERE account = ? AND name = ?",
                (arm.target.key, plan.name),
            )
        raise


def _record(
    book: Ledger, arm: ArmClient, plan: DeployPlan, state: str, origin: str, now: float
) -> None:
    book.execute(
        "INSERT INTO azure_deployments (account, name, model, sku, capacity, hourly_usd, state,"
        " origin, created_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
        " ON CONFLICT (account, name) DO UPDATE SET model = excluded.model, sku = excluded.sku,"
        " capacity = excluded.capacity, hourly_usd = excluded.hourly_usd, state = excluded.state,"
        " origin = excluded.origin, created_at = excluded.created_at, deleted_at = NULL",
        (
            arm.target.key,
            plan.name,
            plan.model,
            plan.sku.arm_name,
            plan.capacity,
            plan.hourly_usd,
            state,
            origin,
            now,
        ),
    )


def _set_state(book: Ledger, arm: ArmClient, name: str, state: str) -> None:
    book.execute(
        "UPDATE azure_deployments SET state = ? WHERE account = ? AND name = ?",
        (state, arm.target.key, name),
    )


def undeploy(
    arm: ArmClient,
    name: str,
    *,
    wait: bool = True,
    ledger: Ledger | None = None,
    clock: Callable[[], float] = time.time,
    timeout: float = 900.0,
    poll: float = 5.0,
) -> bool:
    """Delete a deployment (and wait until it is gone); False when there was none."""
    book = open_ledger(ledger)
    existed = arm.delete(name)
    if existed and wait:
        arm.wait_deleted(name, timeout=timeout, poll=poll)
    book.execute(
        "UPDATE azure_deployments SET state = 'Deleted', deleted_at = COALESCE(deleted_at, ?)"
        " WHERE account = ? AND name = ?",
        (clock(), arm.target.key, name),
    )
    return existed


def mark_left(arm: ArmClient, name: str, ledger: Ledger | None = None) -> None:
    """Record that a deployment which should have been removed is still there."""
    open_ledger(ledger).execute(
        "UPDATE azure_deployments SET state = 'LeftBehind' WHERE account = ? AND name = ?",
        (arm.target.key, name),
    )


def list_deployments(arm: ArmClient, ledger: Ledger | None = None) -> list[DeploymentRow]:
    """Every deployment of the account (ARM), with the ledger's creation time and fee."""
    book = open_ledger(ledger)
    rows = {
        r["name"]: r
        for r in book.query(
            "SELECT * FROM azure_deployments WHERE account = ? AND deleted_at IS NULL",
            (arm.target.key,),
        )
    }
    out: list[DeploymentRow] = []
    for dep in arm.list():
        row = rows.get(dep.name)
        table = by_arm_name(dep.sku)
        fee = (
            float(row["hourly_usd"])
            if row is not None
            else (table.hourly(is_fine_tuned(dep.model)) if table else None)
        )
        created = float(row["created_at"]) if row is not None else _iso_time(dep.created_at)
        out.append(
            DeploymentRow(dep.name, dep.model, dep.sku, dep.state, created, fee, row is not None)
        )
    gone = set(rows) - {d.name for d in out}
    if gone:  # deleted elsewhere (the portal, or Azure's auto-deletion): close their rows
        now = time.time()
        for name in gone:
            book.execute(
                "UPDATE azure_deployments SET state = 'Deleted', deleted_at = ?"
                " WHERE account = ? AND name = ? AND deleted_at IS NULL",
                (now, arm.target.key, name),
            )
    return out


def recorded(ledger: Ledger, account: str, model: str) -> list[str]:
    """Names of live deployments of ``model`` the ledger knows on this account (newest first)."""
    rows = open_ledger(ledger).query(
        "SELECT name FROM azure_deployments WHERE account = ? AND model = ? AND deleted_at IS NULL"
        " ORDER BY created_at DESC",
        (account, model),
    )
    return [str(r["name"]) for r in rows]


def _iso_time(text: str | None) -> float | None:
    if not text:
        return None
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
