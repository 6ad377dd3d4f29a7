"""The CLI with the hf engine: ``train --hp KEY=VALUE`` and the run config's [hyperparameters]."""

from __future__ import annotations

from pathlib import Path

import pytest

from openai_ft.cli import main
from tests.jobs_helpers import chat_rows, cli_service, write_rows


def test_train_passes_hp_flags_and_config_table_to_an_hf_job(
    registry: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    svc = cli_service(monkeypatch)
    data = write_rows(tmp_path / "train.jsonl", chat_rows(12))
    config = tmp_path / "run.toml"
    config.write_text('[hyperparameters]\nlora_rank = 4\nlr_scheduler = "constant"\n')
    args = ["train", "--training-file", str(data), "--model", "tiny", "--n-epochs", "1",
            "--hp", "batch_size=12", "--hp", "lora_target_modules=q_proj,v_proj",
            "--config", str(config), "--yes", "--wait"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    job = svc.service.state.all("job")[0]
    hp = job["method"]["supervised"]["hyperparameters"]
    assert hp["lora_rank"] == 4 and hp["lr_scheduler"] == "constant"
    assert hp["lora_target_modules"] == ["q_proj", "v_proj"] and hp["batch_size"] == 12
    assert job["status"] == "succeeded"
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("ft:tiny:local:")


def test_a_misspelt_open_weight_key_in_the_run_config_is_refused(
    registry: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_service(monkeypatch)
    data = write_rows(tmp_path / "train.jsonl", chat_rows(12))
    config = tmp_path / "run.toml"
    config.write_text("[hyperparameters]\nlora_rnak = 4\n")
    assert (
        main(
            [
                "train",
                "--training-file",
                str(data),
                "--model",
                "tiny",
                "--config",
                str(config),
                "--yes",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "lora_rnak" in err and "lora_rank" in err
