"""train: idempotent create and attach, lost answers, budget and platform guards, lineage."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from openai_ft.errors import BudgetExceeded, DataError, PlatformClosed, UsageError
from openai_ft.jobs import Plan, train
from openai_ft.runs import latest_model, lineage, list_runs
from openai_ft.store import Ledger
from openai_ft.watch import watch
from tests.jobs_helpers import (
    DropAnswers,
    chat_rows,
    client_for,
    ledger,
    no_sleep,
    service,
    train_files,
    write_rows,
)


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return train_files(tmp_path, valid_seed=1)


def _jobs(svc) -> list[dict]:  # type: ignore[no-untyped-def]
    return svc.service.state.all("job")


def test_rerun_attaches_and_new_forces_a_fresh_job(home: Path, data: tuple[Path, Path]) -> None:
    svc = service(home)
    client, book = client_for(svc, home), ledger(home)
    kw = dict(model="gpt-4.1-mini-2025-04-14", suffix="demo", seed=7, client=client, ledger=book,
              n_epochs=2)  # fmt: skip
    first = train(*data, **kw)  # type: ignore[arg-type]
    again = train(*data, **kw)  # type: ignore[arg-type]
    assert not first.attached and again.attached and again.job_id == first.job_id
    assert len(_jobs(svc)) == 1
    job = client.fine_tuning.jobs.retrieve(first.job_id)
    assert job.metadata["openai_ft_run"] == first.run_id
    assert job.metadata["openai_ft_config"] == first.config_hash
    assert job.method.supervised.hyperparameters.n_epochs == 2
    assert first.estimate is not None and first.estimate.n_epochs == 2
    # A changed hyperparameter is a different config: a new job.
    other = train(*data, **{**kw, "n_epochs": 3})  # type: ignore[arg-type]
    assert not other.attached and len(_jobs(svc)) == 2
    fresh = train(*data, new=True, **kw)  # type: ignore[arg-type]
    assert not fresh.attached and len(_jobs(svc)) == 3


def test_lost_ledger_attaches_through_job_metadata(
    home: Path, data: tuple[Path, Path], tmp_path: Path
) -> None:
    svc = service(home)
    client = client_for(svc, home)
    first = train(*data, seed=1, client=client, ledger=ledger(home))
    lost = Ledger(tmp_path / "other.db")
    again = train(*data, seed=1, client=client, ledger=lost)
    assert again.attached and again.job_id == first.job_id and len(_jobs(svc)) == 1
    assert lost.one("SELECT job_id FROM jobs")["job_id"] == first.job_id


def test_create_whose_answer_is_lost_is_not_created_twice(
    home: Path, data: tuple[Path, Path]
) -> None:
    svc = service(home)
    net: list[DropAnswers] = []

    def wrap(inner):  # type: ignore[no-untyped-def]
        net.append(DropAnswers(inner, "POST", "/fine_tuning/jobs"))
        return net[0]

    client = client_for(svc, home, wrap=wrap)
    waits: list[float] = []
    res = train(*data, client=client, ledger=ledger(home), sleep=no_sleep(waits))
    assert len(_jobs(svc)) == 1 and res.job_id == _jobs(svc)[0]["id"] and not res.attached
    assert waits and sum(1 for s in net[0].seen if s == "POST /v1/fine_tuning/jobs") == 1


def test_budget_guard_refuses_before_creating(home: Path, data: tuple[Path, Path]) -> None:
    svc = service(home)
    client = client_for(svc, home)
    with pytest.raises(BudgetExceeded) as err:
        train(*data, model="gpt-4.1-2025-04-14", n_epochs=25, budget_usd=0.0001, client=client,
              ledger=ledger(home))  # fmt: skip
    assert "$0.00" in err.value.message and "--budget-usd" in (err.value.tip or "")
    assert _jobs(svc) == []
    ok = train(*data, budget_usd=100.0, client=client, ledger=ledger(home))
    assert ok.estimate is not None and ok.estimate.usd <= 100.0


def test_invalid_training_data_names_the_line_and_creates_nothing(
    home: Path, tmp_path: Path
) -> None:
    svc = service(home)
    rows: list[object] = [*chat_rows(12)]
    rows[2] = {"messages": [{"role": "user", "content": "no answer"}]}
    bad = write_rows(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as err:
        train(bad, client=client_for(svc, home), ledger=ledger(home))
    assert f"{bad}:3" in err.value.message
    assert _jobs(svc) == [] and svc.service.state.all("file") == []


def test_confirmation_declined_creates_nothing(home: Path, data: tuple[Path, Path]) -> None:
    svc = service(home)
    plans: list[Plan] = []

    def decline(plan: Plan) -> bool:
        plans.append(plan)
        return False

    with pytest.raises(UsageError):
        train(*data, confirm=decline, client=client_for(svc, home), ledger=ledger(home))
    assert _jobs(svc) == [] and plans[0].estimate is not None
    assert any("shuts down" in n for n in plans[0].notices)


def _openai_platform_client(svc, home):  # type: ignore[no-untyped-def]
    """The local service behind a client whose base URL says api.openai.com."""
    import openai

    from openai_ft.client import make_client
    from openai_ft.config import BackendSettings

    local = make_client(BackendSettings("local", home=home), service=svc)
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.com/v1",
                         http_client=local._client)  # fmt: skip


def test_cutoff_guard_with_an_injected_clock(home: Path, data: tuple[Path, Path]) -> None:
    svc = service(home)
    client = _openai_platform_client(svc, home)
    after = dt.datetime(2027, 1, 6, 9, tzinfo=dt.UTC).timestamp()
    with pytest.raises(PlatformClosed) as err:
        train(*data, client=client, ledger=ledger(home), clock=lambda: after)
    assert "2027-01-06" in err.value.message and "--backend azure" in (err.value.tip or "")
    assert _jobs(svc) == []
    before = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()
    res = train(*data, client=client, ledger=ledger(home), clock=lambda: before)
    assert any("2027-01-14" in n for n in res.notices)


def test_lineage_and_latest_model_after_a_succeeded_job(
    home: Path, data: tuple[Path, Path]
) -> None:
    svc = service(home)
    client, book = client_for(svc, home), ledger(home)
    (data[0].parent / "manifest.json").write_text('{"source": "data/tickets.csv"}')
    res = train(*data, suffix="demo", client=client, ledger=book)
    out = watch(res.job_id, client=client, ledger=book, sleep=lambda _s: svc.run_jobs(),
                poll_interval=1)  # fmt: skip
    assert out.succeeded and out.fine_tuned_model
    assert latest_model("local", ledger=book) == out.fine_tuned_model
    kinds = [k for k, _ in lineage(book, res.run_id or "").steps]
    assert kinds[0] == "source" and kinds[-1] == "model"
    assert {"dataset", "file", "run", "job"} <= set(kinds)
    [run] = list_runs(book)
    assert run.status == "succeeded" and run.fine_tuned_model == out.fine_tuned_model
