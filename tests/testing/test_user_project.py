"""A user's project, as CI sees it: our wheel installed in a venv of its own, its tests on our fixtures.

The wheel is built offline (hatchling, ``--no-build-isolation``) and installed with ``--no-deps``
into a new venv that sees this venv's packages through a ``.pth`` line (which does not run this
venv's editable-install hook, so ``openai_ft`` comes from the wheel). The project's tests use only
the fixtures of the plugin that the wheel's ``pytest11`` entry point registers; every proxy and
the SDK's base URL point at a closed port, so any request that left the process would fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEAD = "http://127.0.0.1:9"

PYPROJECT = """
[project]
name = "nightly-retrain"
version = "0.0.1"
dependencies = ["openai>=3"]

[project.optional-dependencies]
test = ["pytest", "openai-ft"]

[tool.pytest.ini_options]
addopts = "-p no:cacheprovider --strict-markers"
"""

MODULE = '''
"""Retrain the intent model: upload the data, start a fine-tuning job, wait for it."""

import time

import openai

TERMINAL = ("succeeded", "failed", "cancelled")


class RetrainFailed(Exception):
    pass


def retrain(path, model="gpt-4o-mini-2024-07-18", sleep=time.sleep):
    client = openai.OpenAI()
    with open(path, "rb") as fh:
        upload = client.files.create(file=fh, purpose="fine-tune")
    job = client.with_options(max_retries=0).fine_tuning.jobs.create(
        model=model, training_file=upload.id
    )
    while job.status not in TERMINAL:
        sleep(30)
        job = client.fine_tuning.jobs.retrieve(job.id)
    if job.status != "succeeded":
        raise RetrainFailed(f"{job.id}: {job.error.code}")
    return job.fine_tuned_model
'''

TESTS = """
import json

import pytest

from retrain import RetrainFailed, retrain


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"ticket {i}"},
                      {"role": "assistant", "content": "billing" if i % 2 else "refund"}]}
        for i in range(12)
    ]
    path.write_text("".join(json.dumps(r) + "\\n" for r in rows))
    return path


def test_retrain_returns_the_new_model(openai_local, openai_client, data):
    model = retrain(data, sleep=lambda s: None)
    assert model.startswith("ft:gpt-4o-mini")
    assert openai_client.fine_tuning.jobs.list().data[0].fine_tuned_model == model


def test_a_failed_job_is_reported(openai_local, data):
    openai_local.fail_next_job("invalid_training_file")
    with pytest.raises(RetrainFailed, match="invalid_training_file"):
        retrain(data, sleep=lambda s: None)


@pytest.mark.openai_local(faults=[{"kind": "429", "path": "/v1/files$", "times": 1}])
def test_the_sdk_retries_an_upload_after_a_429(openai_local, data):
    assert retrain(data, sleep=lambda s: None)
    assert [r.status for r in openai_local.requests_to("POST", "/v1/files")] == [429, 200]
"""


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.timeout(240)
def test_a_separate_project_passes_its_tests_on_our_installed_wheel(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="building the wheel offline needs the dev extra")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "PYTHON"))}
    env |= {"HTTP_PROXY": DEAD, "HTTPS_PROXY": DEAD, "ALL_PROXY": DEAD, "NO_PROXY": ""}
    env |= {
        "OPENAI_BASE_URL": DEAD + "/v1",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    wheels, venv, project = tmp_path / "wheels", tmp_path / "venv", tmp_path / "project"
    pip = [sys.executable, "-m", "pip"]
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        tmp_path,
        env,
    )
    (wheel,) = wheels.glob("openai_ft-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    _run([*pip, "--python", str(python), "install", "-q", "--no-deps", str(wheel)], tmp_path, env)
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        tmp_path,
        env,
    )
    Path(purelib.stdout.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    project.mkdir()
    (project / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (project / "retrain.py").write_text(textwrap.dedent(MODULE))
    (project / "test_retrain.py").write_text(textwrap.dedent(TESTS))
    where = _run([str(python), "-c", "import openai_ft; print(openai_ft.__file__)"], project, env)
    assert where.stdout.startswith(str(venv)), where.stdout
    result = _run([str(python), "-m", "pytest", "-q"], project, env)
    assert "3 passed" in result.stdout
