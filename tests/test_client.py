"""The client seam: one factory per backend, one place where SDK errors become ours."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from openai_ft import client as client_mod
from openai_ft.cli import main
from openai_ft.client import (
    creating,
    local_service,
    make_async_client,
    make_client,
    map_error,
    translate_errors,
)
from openai_ft.config import BackendSettings
from openai_ft.errors import (
    AuthError,
    BackendError,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    UsageError,
)
from openai_ft.local import FaultRule, LocalService
from tests.jobs_helpers import chat_rows, write_rows

ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_VERSION",
    "OPENAI_FT_BACKEND",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def svc(home: Path) -> Iterator[LocalService]:
    service = LocalService(home, autostart=False, speed=0)
    yield service
    service.close()


def _local(svc: LocalService, home: Path, **kw: object) -> openai.OpenAI:
    return make_client(BackendSettings("local", home=home), service=svc, **kw)  # type: ignore[arg-type]


# -- building clients -------------------------------------------------------------------------


def test_local_client_talks_to_the_in_process_service(svc: LocalService, home: Path) -> None:
    client = _local(svc, home)
    ids = [m.id for m in client.models.list()]
    assert ids and all(isinstance(i, str) for i in ids)
    assert client.max_retries == 2
    # A file created through one client is seen by another on the same service: same state.
    fid = client.files.create(file=("a.jsonl", b'{"a": 1}\n'), purpose="batch").id
    assert _local(svc, home).files.retrieve(fid).id == fid


async def test_async_local_client_talks_to_the_in_process_service(
    svc: LocalService, home: Path
) -> None:
    client = make_async_client(BackendSettings("local", home=home), service=svc, max_retries=1)
    assert client.max_retries == 1
    page = await client.models.list()
    assert [m.id async for m in page]
    await client.close()


def test_local_service_is_one_per_state_folder(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_mod, "_services", {})
    first = local_service(home, autostart=False, speed=0)
    try:
        assert local_service(home) is first
        # The default client of the local backend uses that same process-wide service.
        client = make_client(BackendSettings("local", home=home))
        assert [m.id for m in client.models.list()]
        assert list(client_mod._services.values()) == [first]
    finally:
        first.close()


def test_openai_client_reads_the_environment_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-demo")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_demo")
    # An unroutable base URL: a request would fail, and building the client sends none.
    client = make_client(BackendSettings("openai", base_url="http://127.0.0.1:9/v1"))
    assert isinstance(client, openai.OpenAI) and not isinstance(client, openai.AzureOpenAI)
    assert str(client.base_url) == "http://127.0.0.1:9/v1/"
    assert client.organization == "org-demo" and client.project == "proj_demo"
    assert client.api_key == "sk-test-0123456789abcdef"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/env/v1")
    from_env = make_client(BackendSettings("openai"))
    assert str(from_env.base_url) == "http://127.0.0.1:9/env/v1/"
    aclient = make_async_client(BackendSettings("openai", base_url="http://127.0.0.1:9/v1"))
    assert isinstance(aclient, openai.AsyncOpenAI) and aclient.organization == "org-demo"


def test_azure_client_is_built_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://demo.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    client = make_client(BackendSettings("azure"))
    assert isinstance(client, openai.AzureOpenAI)
    assert str(client.base_url).startswith("https://demo.openai.azure.com/openai")
    assert client.api_key == "azure-key-0123456789"
    assert client._api_version == "2025-04-01-preview"
    aclient = make_async_client(BackendSettings("azure"))
    assert isinstance(aclient, openai.AsyncAzureOpenAI)


@pytest.mark.parametrize(
    ("backend", "var"), [("openai", "OPENAI_API_KEY"), ("azure", "AZURE_OPENAI_API_KEY")]
)
def test_a_missing_key_names_the_variable_and_the_offline_demo(backend: str, var: str) -> None:
    for factory in (make_client, make_async_client):
        with pytest.raises(AuthError) as err:
            factory(BackendSettings(backend))
        assert var in err.value.message
        assert err.value.tip is not None and "make demo" in err.value.tip
        assert "\n" not in err.value.message and err.value.exit_code == 2


def test_an_openai_compatible_base_url_needs_no_key() -> None:
    client = make_client(BackendSettings("openai", base_url="http://127.0.0.1:9/v1"))
    assert str(client.base_url) == "http://127.0.0.1:9/v1/"


def test_azure_without_endpoint_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # No OPENAI_API_VERSION is fine: the v1 API (tests/test_azure_train.py) needs none.
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789")
    with pytest.raises(UsageError) as err:
        make_client(BackendSettings("azure"))
    assert "AZURE_OPENAI_ENDPOINT" in err.value.message
    assert err.value.tip and "AZURE_OPENAI_ENDPOINT" in err.value.tip


def test_creating_copies_the_client_without_retries(svc: LocalService, home: Path) -> None:
    client = _local(svc, home)
    create = creating(client)
    assert create.max_retries == 0 and client.max_retries == 2
    # The copy talks to the same service.
    fid = create.files.create(file=("b.jsonl", b'{"b": 2}\n'), purpose="batch").id
    assert client.files.retrieve(fid).id == fid


# -- error mapping against the local service --------------------------------------------------


def _raised(fn: object, action: str = "request") -> BackendError:
    with pytest.raises(BackendError) as err, translate_errors(action):
        fn()  # type: ignore[operator]
    return err.value


def _has_request_id(err: BackendError) -> None:
    assert err.request_id and err.request_id.startswith("req_")
    assert f"request id {err.request_id}" in err.message
    assert "\n" not in err.message


def test_401_is_an_auth_error_with_status_code_and_request_id(home: Path) -> None:
    with LocalService(home, autostart=False, speed=0, api_key="the-right-key") as svc:
        client = _local(svc, home, max_retries=0)
        err = _raised(lambda: client.models.list(), "listing models")
    assert isinstance(err, AuthError)
    assert (err.status, err.code) == (401, "invalid_api_key")
    assert err.message.startswith("listing models failed (401 invalid_api_key): Incorrect API key")
    _has_request_id(err)
    assert err.tip and "key" in err.tip


def test_404_keeps_the_status_code_and_request_id(svc: LocalService, home: Path) -> None:
    client = _local(svc, home)
    err = _raised(lambda: client.files.retrieve("file-doesnotexist"), "checking the file")
    assert isinstance(err, NotFound)
    assert (err.status, err.code) == (404, "file_not_found")
    assert err.message.startswith("checking the file failed (404 file_not_found): No such file")
    assert "file-doesnotexist" in err.message
    _has_request_id(err)
    job_err = _raised(lambda: client.fine_tuning.jobs.retrieve("ftjob-nope"))
    assert isinstance(job_err, NotFound) and job_err.status == 404


def test_429_is_rate_limited(home: Path) -> None:
    frozen = 1_750_000_000.0
    with LocalService(home, autostart=False, speed=0, rpm=1, clock=lambda: frozen) as svc:
        client = _local(svc, home, max_retries=0)
        client.models.list()
        err = _raised(lambda: client.models.list())
    assert isinstance(err, RateLimited)
    assert (err.status, err.code) == (429, "rate_limit_exceeded")
    assert err.message.startswith("request failed (429 rate_limit_exceeded): Rate limit")
    _has_request_id(err)


def test_500_and_dropped_connections_are_service_unavailable(home: Path) -> None:
    faults = [FaultRule("500", r"/models$", times=1), FaultRule("drop", r"/files$", times=1)]
    with LocalService(home, autostart=False, speed=0, faults=faults) as svc:
        client = _local(svc, home, max_retries=0)
        err = _raised(lambda: client.models.list())
        assert isinstance(err, ServiceUnavailable) and err.status == 500
        assert err.message.startswith("request failed (500")
        assert "injected fault" in err.message
        _has_request_id(err)
        drop = _raised(lambda: client.files.list(), "listing files")
        assert isinstance(drop, ServiceUnavailable)
        assert drop.status is None and drop.request_id is None
        assert drop.message.startswith("listing files failed: could not reach the service")
        assert drop.tip and "base URL" in drop.tip
        # The faults were one-off: the same calls now succeed.
        assert [m.id for m in client.models.list()]
        assert list(client.files.list()) == []


def test_map_error_passes_ours_through_and_wraps_the_rest() -> None:
    ours = NotFound("x")
    assert map_error(ours) is ours
    other = map_error(ValueError("boom"), "parsing")
    assert type(other) is BackendError
    assert other.message == "parsing failed: ValueError: boom"


@pytest.mark.parametrize(
    ("var", "secret"),
    [
        ("OPENAI_API_KEY", "sk-proj-abcdefghijklmnop0123456789"),
        ("AZURE_OPENAI_API_KEY", "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"),
    ],
)
def test_a_key_in_the_environment_never_reaches_an_error_message(
    svc: LocalService, home: Path, monkeypatch: pytest.MonkeyPatch, var: str, secret: str
) -> None:
    monkeypatch.setenv(var, secret)
    client = _local(svc, home)
    # The service echoes unknown ids, as OpenAI echoes a wrong key: the echo is redacted.
    err = _raised(lambda: client.files.retrieve(secret), "checking the file")
    assert secret not in err.message and secret not in str(err)
    assert "[redacted]" in err.message
    wrapped = map_error(RuntimeError(f"auth header was Bearer {secret}"))
    assert secret not in wrapped.message and secret not in (wrapped.tip or "")


def test_upload_on_openai_without_a_key_is_one_error_line_and_a_tip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_FT_BACKEND", "openai")
    path = write_rows(tmp_path / "train.jsonl", chat_rows(12))
    assert main(["upload", str(path)]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == ""
    assert len([x for x in lines if x.startswith("ERROR")]) == 1
    assert lines[0].startswith("ERROR ") and "OPENAI_API_KEY" in lines[0]
    assert lines[1].startswith("TIP ") and "make demo" in lines[1]
    assert len(lines) == 2 and "Traceback" not in err
