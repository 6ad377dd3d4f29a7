"""train never pays twice: equal settings hash equal, nothing is uploaded before the budget check
and the prompt, and ledger rows belong to the base URL, organisation and project they live in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openai_ft.errors import BudgetExceeded, UsageError
from openai_ft.jobs import HASH_KEY, RUN_KEY, Plan, config_hash, train
from openai_ft.store import location
from tests.jobs_helpers import client_for, ledger, service, train_files

SNAPSHOT = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return train_files(tmp_path, valid_seed=1)


def _count(svc: Any, kind: str) -> int:
    return len(svc.service.state.all(kind))


def _spec(**over: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "backend": "local", "model": SNAPSHOT, "method": "supervised",
        "hyperparameters": {"n_epochs": 2}, "training": "sha256:ab", "validation": None,
        "suffix": None, "seed": 3, "metadata": {}, "wandb_project": None,
    }  # fmt: skip
    return {**spec, **over}


def test_equal_settings_hash_equal_and_different_ones_do_not() -> None:
    same = config_hash(_spec())
    assert config_hash(_spec(model="gpt-4.1-mini")) == same  # the alias of that snapshot
    assert config_hash(_spec(hyperparameters={"n_epochs": 2.0})) == same
    assert config_hash(_spec(seed=3.0)) == same
    assert config_hash(_spec(seed="3")) == same  # a TOML string; the create sends int(seed)
    with_auto = {"n_epochs": 2, "batch_size": "auto"}
    assert config_hash(_spec(hyperparameters=with_auto)) == same  # "auto" is what unset means
    assert config_hash(_spec(hyperparameters={"n_epochs": 3})) != same
    assert config_hash(_spec(hyperparameters={"n_epochs": 2.5})) != same
    assert config_hash(_spec(model="gpt-4.1-nano")) != same
    # A fine-tuned model is its own model, not its base snapshot.
    assert config_hash(_spec(model=f"ft:{SNAPSHOT}:org::abc")) != same


def test_alias_and_float_epochs_attach_to_the_job_of_the_snapshot(
    home: Path, data: tuple[Path, Path]
) -> None:
    svc = service(home)
    client = client_for(svc, home)
    kw: dict[str, Any] = dict(client=client, ledger=ledger(home), seed=5)
    first = train(*data, model="gpt-4.1-mini", n_epochs=2.0, **kw)  # type: ignore[arg-type]
    assert (
        client.fine_tuning.jobs.retrieve(first.job_id).method.supervised.hyperparameters.n_epochs
        == 2
    )  # type: ignore[union-attr]
    again = train(*data, model=SNAPSHOT, n_epochs=2, **kw)
    assert again.attached and again.job_id == first.job_id and _count(svc, "job") == 1


def test_a_job_created_under_the_old_hash_is_still_found(
    home: Path, data: tuple[Path, Path], tmp_path: Path
) -> None:
    """Jobs created before equal settings hashed equal carry the raw hash: a rerun finds them."""
    import hashlib
    import json

    from openai_ft.files import sha256_file, upload

    svc = service(home)
    client = client_for(svc, home)
    [res] = upload([data[0]], client=client, ledger=ledger(tmp_path / "old"))
    hp = {"n_epochs": 2, "batch_size": "auto"}
    raw = _spec(model="gpt-4.1-mini", hyperparameters=hp, seed=None,
                training=f"sha256:{sha256_file(data[0])}")  # fmt: skip
    old_hash = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
    assert old_hash != config_hash(raw)
    old = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini", training_file=res.file_id,
        method={"type": "supervised", "supervised": {"hyperparameters": hp}},  # type: ignore[typeddict-item]
        metadata={RUN_KEY: "run-old", HASH_KEY: old_hash},
    )  # fmt: skip
    again = train(data[0], model="gpt-4.1-mini", n_epochs=2, batch_size="auto", client=client,
                  ledger=ledger(home))  # fmt: skip
    assert again.attached and again.job_id == old.id and _count(svc, "job") == 1


def test_over_budget_uploads_nothing(home: Path, data: tuple[Path, Path]) -> None:
    svc = service(home)
    with pytest.raises(BudgetExceeded):
        train(*data, budget_usd=0.000001, client=client_for(svc, home), ledger=ledger(home))
    assert _count(svc, "file") == 0 and _count(svc, "job") == 0


def test_declined_prompt_uploads_nothing(home: Path, data: tuple[Path, Path]) -> None:
    svc = service(home)
    seen: list[Plan] = []

    def no(plan: Plan) -> bool:
        seen.append(plan)
        return False

    with pytest.raises(UsageError):
        train(*data, confirm=no, client=client_for(svc, home), ledger=ledger(home))
    assert seen and seen[0].estimate is not None  # it was asked, with the estimate
    assert _count(svc, "file") == 0 and _count(svc, "job") == 0


def test_a_404_in_one_project_keeps_the_row_of_another_projects_job(
    home: Path, data: tuple[Path, Path]
) -> None:
    svc_a, svc_b = service(home / "a"), service(home / "b")
    a = client_for(svc_a, home / "a").with_options(organization="org-1", project="proj-a")
    b = client_for(svc_b, home / "b").with_options(organization="org-1", project="proj-b")
    book = ledger(home)
    in_a = train(*data, seed=2, client=a, ledger=book)
    in_b = train(*data, seed=2, client=b, ledger=book)  # proj-b cannot see proj-a's job
    assert not in_b.attached and in_b.job_id != in_a.job_id
    rows = book.query("SELECT job_id, location FROM jobs ORDER BY location")
    assert [(r["job_id"], r["location"]) for r in rows] == [
        (in_a.job_id, location(a)),
        (in_b.job_id, location(b)),
    ]
    assert _count(svc_a, "job") == 1 and _count(svc_b, "job") == 1


def test_a_row_recorded_before_locations_is_adopted_not_deleted(
    home: Path, data: tuple[Path, Path]
) -> None:
    svc_a, svc_b = service(home / "a"), service(home / "b")
    a = client_for(svc_a, home / "a").with_options(project="proj-a")
    b = client_for(svc_b, home / "b").with_options(project="proj-b")
    book = ledger(home)
    first = train(*data, seed=4, client=a, ledger=book)
    book.execute("UPDATE jobs SET location = ''")  # as the migration leaves an older row
    train(*data, seed=4, client=b, ledger=book)  # b gets a 404 for it: the row stays unknown
    [row] = book.query("SELECT location FROM jobs WHERE job_id = ?", (first.job_id,))
    assert row["location"] == ""
    again = train(*data, seed=4, client=a, ledger=book)
    assert again.attached and again.job_id == first.job_id
    [row] = book.query("SELECT location FROM jobs WHERE job_id = ?", (first.job_id,))
    assert row["location"] == location(a)


def test_cli_train_over_budget_uploads_nothing(
    data: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from openai_ft.cli import main
    from tests.jobs_helpers import cli_service

    svc = cli_service(monkeypatch)
    argv = ["train", "--training-file", str(data[0]), "--validation-file", str(data[1]), "--yes"]
    assert main([*argv, "--budget-usd", "0.000001", "--no-wait"]) == 1
    assert "above the budget" in capsys.readouterr().err
    assert _count(svc, "file") == 0 and _count(svc, "job") == 0
    assert main([*argv, "--budget-usd", "100", "--no-wait"]) == 0  # within it: both files go up
    assert _count(svc, "file") == 2 and _count(svc, "job") == 1
