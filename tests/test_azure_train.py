"""Azure's differences on the data plane: the v1 client, fine-tuned ids without ``ft:``, the
training type in ``extra_body``, Azure-only hyperparameters refused elsewhere, the suffix rule."""

from __future__ import annotations

import sys
from pathlib import Path

import openai
import pytest

from openai_ft.azure.training import check_azure_options, training_type_body
from openai_ft.catalog import is_fine_tuned, resolve_model_name
from openai_ft.client import make_async_client, make_client, recorded_client
from openai_ft.config import BackendSettings
from openai_ft.errors import UsageError
from openai_ft.jobs import train
from tests.jobs_helpers import client_for, ledger, service, train_files

FT = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef0123456789abcdef"


def test_the_v1_endpoint_is_preferred(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://demo.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789")
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    client = make_client(BackendSettings("azure"))
    assert not isinstance(client, openai.AzureOpenAI)
    assert str(client.base_url) == "https://demo.openai.azure.com/openai/v1/"
    aclient = make_async_client(BackendSettings("azure"))
    assert str(aclient.base_url) == "https://demo.openai.azure.com/openai/v1/"
    # A job recorded through the v1 endpoint is found again through it.
    again = recorded_client("azure", "https://demo.openai.azure.com/openai/v1 org= project=")
    assert str(again.base_url) == "https://demo.openai.azure.com/openai/v1/"


def test_the_classic_client_when_an_api_version_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://demo.openai.azure.com/openai/v1/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    client = make_client(BackendSettings("azure"))
    assert isinstance(client, openai.AzureOpenAI)
    assert str(client.base_url).startswith("https://demo.openai.azure.com/openai")


def test_azure_fine_tuned_ids_have_no_ft_prefix() -> None:
    assert is_fine_tuned(FT) and is_fine_tuned(FT + "-mysuffix:ckpt-step-10")
    assert resolve_model_name(FT) == "gpt-4.1-mini-2025-04-14"
    assert not is_fine_tuned("gpt-4.1-mini-2025-04-14")


def test_training_type_goes_in_extra_body() -> None:
    assert training_type_body("global") == {"trainingType": "Global"}
    assert training_type_body("developer") == {"trainingType": "Developer"}
    assert training_type_body(None) == {}


@pytest.mark.parametrize(
    ("backend", "method", "hp", "ttype", "suffix", "words"),
    [
        ("local", "supervised", {"prompt_loss_weight": 0.1}, None, None, "Azure OpenAI only"),
        ("openai", "dpo", {"l2_multiplier": 0.1}, None, None, "Azure OpenAI only"),
        ("openai", "supervised", {}, "global", None, "--training-type is an Azure"),
        ("azure", "dpo", {"prompt_loss_weight": 0.1}, None, None, "--method supervised only"),
        ("azure", "supervised", {"prompt_loss_weight": -1}, None, None, "0 or more"),
        ("azure", "supervised", {}, None, "x" * 41, "at most 40 characters"),
        ("azure", "supervised", {}, None, "a b", "at most 40 characters"),
    ],
)
def test_refused_before_anything_is_sent(
    backend: str, method: str, hp: dict[str, float], ttype: str | None, suffix: str | None,
    words: str,
) -> None:  # fmt: skip
    with pytest.raises(UsageError, match=words.replace("-", r"\-")) as err:
        check_azure_options(backend, method, hp, ttype, suffix)
    assert "\n" not in err.value.message and err.value.tip


def test_accepted_on_azure() -> None:
    check_azure_options("azure", "supervised", {"prompt_loss_weight": 0.1}, "developer", "ok-1")
    check_azure_options("azure:http://x", "dpo", {"l2_multiplier": 0}, "standard", None)


def test_train_on_another_backend_refuses_azure_hyperparameters_before_upload(
    home: Path, tmp_path: Path
) -> None:
    svc = service(home)
    client, book = client_for(svc, home), ledger(home)
    training, validation = train_files(tmp_path, valid_seed=1)
    with pytest.raises(UsageError, match="prompt_loss_weight exists on Azure OpenAI only"):
        train(training, validation, client=client, ledger=book,
              hyperparameters={"prompt_loss_weight": 0.1})  # fmt: skip
    with pytest.raises(UsageError, match="--training-type"):
        train(training, validation, client=client, ledger=book, training_type="global")
    assert svc.service.state.all("file") == []


def test_retirement_from_the_dated_table_without_arm(monkeypatch: pytest.MonkeyPatch) -> None:
    from openai_ft.jobs import _platform_checks

    monkeypatch.delenv("AZURE_MANAGEMENT_TOKEN", raising=False)
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # no ARM access
    (notice,) = _platform_checks(object(), "gpt-4.1-mini-2025-04-14", None, lambda: 0.0, True)
    assert "no earlier than 2027-04-14" in notice


def test_a_status_beyond_openais_six_is_read_as_it_is() -> None:
    import httpx2

    from openai_ft.job_ops import job_status

    job = {
        "id": "ftjob-1", "object": "fine_tuning.job", "created_at": 1, "model": "gpt-4.1-mini",
        "status": "notRunning", "fine_tuned_model": None, "training_file": "file-1",
        "validation_file": None, "hyperparameters": {"n_epochs": "auto"}, "result_files": [],
        "trained_tokens": None, "error": None, "organization_id": "", "seed": 1,
        "trainingType": "Developer",
    }  # fmt: skip
    http = httpx2.Client(transport=httpx2.MockTransport(lambda r: httpx2.Response(200, json=job)))
    client = openai.OpenAI(api_key="k", base_url="http://azure.test/openai/v1/", http_client=http)
    assert job_status(client, "ftjob-1").status == "notRunning"
