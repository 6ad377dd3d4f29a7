"""The pytest plugin: fixtures, the marker's options, a fresh service per test, pytest-xdist."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import openai
import pytest

from openai_ft.testing import LocalOpenAI, ManualClock, is_patched

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.openai_local(rpm=1, clock=ManualClock())
def test_the_marker_options_reach_the_service(openai_local: LocalOpenAI) -> None:
    client = openai_local.make_client(max_retries=0)
    client.models.list()
    with pytest.raises(openai.RateLimitError):
        client.models.list()


def test_the_fixtures_are_the_handle_and_its_clients(
    openai_local: LocalOpenAI,
    openai_client: openai.OpenAI,
    openai_async_client: openai.AsyncOpenAI,
) -> None:
    assert openai_client is openai_local.client
    assert openai_async_client is openai_local.async_client
    assert is_patched()
    openai.OpenAI().models.list()  # code that builds its own client reaches the same service
    assert openai_local.requests_to("GET", "/v1/models")


@pytest.mark.openai_local(patch=False)
def test_patch_false_leaves_openai_alone(openai_local: LocalOpenAI) -> None:
    assert not is_patched()


def test_importing_the_plugin_imports_neither_openai_nor_the_service() -> None:
    code = (
        "import sys, openai_ft.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'httpx2') "
        "or m.startswith('openai_ft.local')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


USER_TESTS = """
import openai
import pytest

TRAIN = b"".join(
    b'{"messages": [{"role": "user", "content": "t%d"}, {"role": "assistant", "content": "a"}]}\\n'
    % i
    for i in range(10)
)


@pytest.mark.parametrize("n", range(4))
def test_each_test_sees_only_its_own_jobs(openai_client, n):
    assert openai_client.fine_tuning.jobs.list().data == []
    upload = openai_client.files.create(file=("t.jsonl", TRAIN), purpose="fine-tune")
    for _ in range(n + 1):
        openai_client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=upload.id)
    assert len(openai_client.fine_tuning.jobs.list().data) == n + 1


@pytest.mark.openai_local(faults=[{"kind": "429", "path": "/v1/models$", "times": 1}])
def test_a_marker_fault(openai_local):
    openai.OpenAI().models.list()
    assert [r.status for r in openai_local.requests] == [429, 200]


@pytest.mark.openai_local(rmp=1)
def test_a_misspelt_option(openai_local):
    pass
"""


def _run_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "openai_ft.pytest_plugin",
            "-p",
            "no:cacheprovider",
            *args,
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_fresh_service_per_test_under_pytest_xdist(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    result = _run_pytest(tmp_path, "-n", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "5 passed, 1 error" in result.stdout
    assert "unknown option(s) rmp; use home, rpm" in result.stdout
