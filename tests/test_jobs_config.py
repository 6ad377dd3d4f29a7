"""train: the TOML run config, metadata and W&B, continued training, refusals, failed creates."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx2
import pytest

from openai_ft.errors import BackendError, DataError, PlatformClosed, UsageError
from openai_ft.jobs import train
from openai_ft.watch import watch
from tests.jobs_helpers import chat_rows, client_for, ledger, service, train_files, write_rows


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, Path]:
    return train_files(tmp_path, valid_seed=1)


def _toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_run_config_supplies_everything_and_flags_override(
    home: Path, data: tuple[Path, Path], tmp_path: Path
) -> None:
    svc = service(home)
    client = client_for(svc, home)
    cfg = _toml(tmp_path / "run.toml", f"""
training_file = "{data[0]}"
validation_file = "{data[1]}"
model = "gpt-4.1-mini-2025-04-14"
suffix = "cfg"
seed = 7
wandb_project = "tickets"
[hyperparameters]
n_epochs = 2
batch_size = 4
[metadata]
team = "support"
owner = "config"
""")  # fmt: skip
    res = train(config=cfg, n_epochs=3, metadata={"owner": "flag"}, client=client,
                ledger=ledger(home))  # fmt: skip
    job = client.fine_tuning.jobs.retrieve(res.job_id)
    hp = job.method.supervised.hyperparameters
    assert hp.n_epochs == 3 and hp.batch_size == 4  # the flag wins, the file fills the rest
    assert job.seed == 7 and job.validation_file == res.validation_file
    assert (job.model_extra or {}).get("user_provided_suffix") == "cfg"
    # Metadata merges key by key: the config's team stays, the flag's owner replaces the file's.
    assert job.metadata["team"] == "support" and job.metadata["owner"] == "flag"
    assert job.metadata["openai_ft_run"] == res.run_id
    assert [i.wandb.project for i in job.integrations or []] == ["tickets"]
    # The same config again attaches; the hash covers metadata and W&B.
    again = train(config=cfg, n_epochs=3, metadata={"owner": "flag"}, client=client,
                  ledger=ledger(home))  # fmt: skip
    assert again.attached and again.job_id == res.job_id
    other = train(config=cfg, n_epochs=3, client=client, ledger=ledger(home))
    assert not other.attached and len(svc.service.state.all("job")) == 2


def test_run_config_typos_and_bad_tables_are_refused_before_any_work(
    home: Path, data: tuple[Path, Path], tmp_path: Path
) -> None:
    svc = service(home)
    client = client_for(svc, home)
    typo = _toml(tmp_path / "typo.toml", f'training_file = "{data[0]}"\nn_epoch = 1\n')
    with pytest.raises(UsageError) as err:
        train(config=typo, client=client, ledger=ledger(home))
    assert "typo.toml" in err.value.message and "'n_epoch'" in err.value.message
    assert "did you mean 'n_epochs'" in (err.value.tip or "")
    hp = _toml(
        tmp_path / "hp.toml", f'training_file = "{data[0]}"\n[hyperparameters]\nepochs = 1\n'
    )
    with pytest.raises(UsageError, match="'epochs'"):
        train(config=hp, client=client, ledger=ledger(home))
    meta = _toml(tmp_path / "meta.toml", f'training_file = "{data[0]}"\nmetadata = "x"\n')
    with pytest.raises(UsageError, match="'metadata' must be a table"):
        train(config=meta, client=client, ledger=ledger(home))
    assert svc.service.state.all("job") == [] and svc.service.state.all("file") == []


def test_run_config_train_table_and_eval_table_live_in_one_file(
    home: Path, data: tuple[Path, Path], tmp_path: Path
) -> None:
    svc = service(home)
    client = client_for(svc, home)
    cfg = _toml(tmp_path / "run.toml", f"""
[train]
training_file = "{data[0]}"
seed = 3
[eval]
models = ["gpt-4.1-mini-2025-04-14"]
""")  # fmt: skip
    res = train(config=cfg, client=client, ledger=ledger(home))
    assert client.fine_tuning.jobs.retrieve(res.job_id).seed == 3


def test_metadata_limits_and_reserved_keys(home: Path, data: tuple[Path, Path]) -> None:
    svc = service(home)
    client = client_for(svc, home)
    many = {f"k{i}": "v" for i in range(15)}
    with pytest.raises(UsageError, match="at most 14"):
        train(*data, metadata=many, client=client, ledger=ledger(home))
    with pytest.raises(UsageError, match="reserved"):
        train(*data, metadata={"openai_ft_run": "mine"}, client=client, ledger=ledger(home))
    with pytest.raises(UsageError, match="1-64 characters"):
        train(*data, metadata={"k" * 65: "v"}, client=client, ledger=ledger(home))
    assert svc.service.state.all("job") == []


def test_continued_training_from_a_fine_tuned_model(home: Path, data: tuple[Path, Path]) -> None:
    svc = service(home)
    client, book = client_for(svc, home), ledger(home)
    first = train(*data, suffix="base", client=client, ledger=book)
    done = watch(first.job_id, client=client, ledger=book, sleep=lambda _s: svc.run_jobs())
    assert done.succeeded and done.fine_tuned_model and done.fine_tuned_model.startswith("ft:")
    more = train(data[0], model=done.fine_tuned_model, n_epochs=1, client=client, ledger=book)
    assert not more.attached and more.model == done.fine_tuned_model
    after = watch(more.job_id, client=client, ledger=book, sleep=lambda _s: svc.run_jobs())
    assert after.succeeded and after.fine_tuned_model != done.fine_tuned_model


class Refuse(httpx2.BaseTransport):
    """api.openai.com refusing job creation for this organisation (status and body given)."""

    def __init__(self, inner: httpx2.BaseTransport, status: int, body: dict[str, object]) -> None:
        self.inner, self.status, self.body = inner, status, body

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and request.url.path.endswith("/fine_tuning/jobs"):
            return httpx2.Response(self.status, json=self.body, request=request)
        return self.inner.handle_request(request)


def _platform(svc, status: int, body: dict[str, object]):  # type: ignore[no-untyped-def]
    import openai

    return openai.OpenAI(api_key="sk-test-refused", base_url="https://api.openai.com/v1",
                         http_client=httpx2.Client(transport=Refuse(svc.transport(), status, body)),
                         max_retries=0)  # fmt: skip


BEFORE_CUTOFF = dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (403, {"message": "Your organization is not allowed to fine-tune.", "type": "x"}),
        (
            400,
            {
                "message": "This organization does not have access to fine-tuning.",
                "type": "invalid_request_error",
                "code": None,
            },
        ),
        (400, {"message": "refused", "code": "fine_tuning_not_available"}),
    ],
)
def test_an_organisation_the_platform_refuses_gets_the_reason_and_the_alternatives(
    home: Path, data: tuple[Path, Path], status: int, error: dict[str, object]
) -> None:
    svc = service(home)
    client = _platform(svc, status, {"error": error})
    book = ledger(home)
    with pytest.raises(PlatformClosed) as err:
        train(*data, client=client, ledger=book, clock=lambda: BEFORE_CUTOFF)
    assert "refused" in err.value.message and str(error["message"]) in err.value.message
    assert "--backend azure" in (err.value.tip or "") and "--backend local" in (err.value.tip or "")
    assert "sk-test-refused" not in err.value.message
    # Nothing half-written: the run says it was not created, no job row.
    assert [r["status"] for r in book.query("SELECT status FROM runs")] == ["not_created"]
    assert book.query("SELECT * FROM jobs") == []


def test_an_ordinary_400_is_not_called_a_refusal(home: Path, data: tuple[Path, Path]) -> None:
    svc = service(home)
    body = {"error": {"message": "Invalid suffix.", "param": "suffix", "code": "invalid_value"}}
    with pytest.raises(BackendError) as err:
        train(*data, client=_platform(svc, 400, body), ledger=ledger(home),
              clock=lambda: BEFORE_CUTOFF)  # fmt: skip
    assert not isinstance(err.value, PlatformClosed) and "Invalid suffix" in err.value.message


def test_a_file_that_is_not_json_is_named_by_its_line(home: Path, tmp_path: Path) -> None:
    svc = service(home)
    # Too few examples AND a broken line: the line is what to fix, so it is the one named.
    rows = [json.dumps(r) for r in chat_rows(4)]
    rows[2] = '{"messages": [oops'
    bad = write_rows(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as err:
        train(bad, client=client_for(svc, home), ledger=ledger(home))
    assert err.value.message.startswith(f"{bad}:3: ") and "JSON" in err.value.message
    assert "(2 error(s) in all)" in err.value.message
