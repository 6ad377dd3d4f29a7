"""Choosing the hf engine: per service, by model, and without the extra installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import openai
import pytest

from openai_ft.cli import main
from openai_ft.local import LocalService
from tests.local.conftest import FakeClock, make_client

from .conftest import sft_rows, upload


def test_without_the_extra_choosing_hf_is_one_error_line_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "trl" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert main(["serve", "--engine", "hf", "--port", "0", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("ERROR") and "trl" in err[0]
    assert any("pip install 'openai-ft[hf]'" in line for line in err)
    assert "Traceback" not in "\n".join(err)


def test_registered_models_are_listed_retrievable_and_not_deletable(
    client: openai.OpenAI,
) -> None:
    ids = [m.id for m in client.models.list()]
    assert "tiny" in ids and "gpt-4.1-mini" in ids
    assert client.models.retrieve("tiny").owned_by == "system"
    with pytest.raises(openai.PermissionDeniedError):
        client.models.delete("tiny")


def test_a_service_on_the_hf_engine_refuses_jobs_on_other_models(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_FT_ENGINE", "hf")
    svc = LocalService(tmp_path / "s", autostart=False, clock=FakeClock(), speed=0)
    try:
        client = make_client(svc)
        train = upload(client, sft_rows(12))
        with pytest.raises(openai.BadRequestError) as err:
            client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=train)
        assert err.value.code == "model_not_available"
        job = client.fine_tuning.jobs.create(
            model="tiny", training_file=train, hyperparameters={"n_epochs": 1, "batch_size": 12}
        )
        assert job.status == "validating_files"
    finally:
        svc.close()


def test_the_registry_file_in_the_state_folder_registers_models(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_FT_HF_MODELS", raising=False)
    monkeypatch.delenv("HF_MODEL", raising=False)
    (tmp_path / "hf_models.toml").write_text(f'[models]\nmine = "{tiny_model}"\n')
    svc = LocalService(tmp_path, autostart=False, clock=FakeClock(), speed=0)
    try:
        assert "mine" in [m.id for m in make_client(svc).models.list()]
    finally:
        svc.close()


def test_engine_from_the_environment_without_the_extra_is_a_400_naming_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a)
    )
    monkeypatch.setenv("OPENAI_FT_ENGINE", "hf")
    svc = LocalService(tmp_path / "s", autostart=False, clock=FakeClock(), speed=0)
    try:
        client = make_client(svc)
        with pytest.raises(openai.BadRequestError) as err:
            client.fine_tuning.jobs.create(
                model="gpt-4.1-mini", training_file=upload(client, sft_rows(12))
            )
        assert "pip install 'openai-ft[hf]'" in err.value.message
    finally:
        svc.close()
