"""client.recorded_client: the client a recorded job was made with (base URL or Azure endpoint,
organisation, project from its ledger row), whatever the environment says now; never a guess."""

from __future__ import annotations

import httpx2
import openai
import pytest

from openai_ft.client import LOCAL_BASE_URL, recorded_client, recorded_host
from openai_ft.errors import AuthError, OpenAIFTError, UsageError

KEY = "sk-recorded-test-0123456789"


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[httpx2.Request]:
    """Requests sent over a real transport, each refused (no test touches the network)."""
    seen: list[httpx2.Request] = []

    def handle(self: httpx2.HTTPTransport, request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        raise httpx2.ConnectError("refused by the test", request=request)

    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", handle)
    # The environment now points elsewhere: none of it may be used for a recorded job.
    monkeypatch.setenv("OPENAI_BASE_URL", "https://elsewhere.example/v1")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-now")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_now")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://other.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    return seen


def _retrieve(client: openai.OpenAI, sent: list[httpx2.Request]) -> httpx2.Request:
    with pytest.raises(openai.APIConnectionError):
        client.with_options(max_retries=0).fine_tuning.jobs.retrieve("ftjob-1")
    assert len(sent) == 1
    return sent[0]


def test_base_url_organisation_and_project_as_recorded(sent: list[httpx2.Request]) -> None:
    where = "http://10.0.0.5:8000/v1 org=org-then project=proj_then"
    request = _retrieve(recorded_client("openai:http://10.0.0.5:8000/v1", where), sent)
    assert str(request.url) == "http://10.0.0.5:8000/v1/fine_tuning/jobs/ftjob-1"
    assert request.headers["openai-organization"] == "org-then"
    assert request.headers["openai-project"] == "proj_then"


def test_no_organisation_recorded_sends_none(sent: list[httpx2.Request]) -> None:
    request = _retrieve(recorded_client("openai", "https://api.openai.com/v1 org= project="), sent)
    assert request.url.host == "api.openai.com"
    assert "openai-organization" not in request.headers
    assert "openai-project" not in request.headers


def test_a_row_from_before_locations_uses_the_url_in_its_backend_name(
    sent: list[httpx2.Request],
) -> None:
    assert recorded_host("openai:http://host:1/v1") == "http://host:1/v1"
    request = _retrieve(recorded_client("openai:http://host:1/v1", ""), sent)
    assert str(request.url).startswith("http://host:1/v1/")


def test_azure_endpoint_as_recorded(sent: list[httpx2.Request]) -> None:
    where = "https://mine.openai.azure.com/openai org= project="
    request = _retrieve(recorded_client("azure", where), sent)
    assert request.url.host == "mine.openai.azure.com"
    assert request.url.path == "/openai/fine_tuning/jobs/ftjob-1"
    assert request.url.params["api-version"] == "2025-04-01-preview"


@pytest.mark.parametrize("backend", ["openai", "azure"])
def test_no_record_of_the_host_is_an_error_not_a_guess(
    sent: list[httpx2.Request], backend: str
) -> None:
    with pytest.raises(UsageError, match=f"does not say which {backend} host"):
        recorded_client(backend, "")
    assert sent == []


def test_the_in_process_local_service() -> None:
    client = recorded_client("local", f"{LOCAL_BASE_URL} org= project=")
    assert str(client.base_url).rstrip("/") == LOCAL_BASE_URL
    assert client.fine_tuning.jobs.list().data == []  # answered in-process


def test_watch_by_ledger_name_keeps_its_base_url(
    sent: list[httpx2.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    """watch(backend="openai:URL") without a client dropped the URL: the key and job id went to
    the default host (api.openai.com, or OPENAI_BASE_URL)."""
    from openai_ft.watch import watch

    monkeypatch.setenv("OPENAI_FT_BACKEND", "openai")
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(OpenAIFTError):
        watch(
            "ftjob-1", backend="openai:http://10.1.2.3:9/v1", sleep=lambda _s: None, max_attempts=1
        )
    assert sent and {str(r.url.netloc.decode()) for r in sent} == {"10.1.2.3:9"}


def test_no_key_for_api_openai_com_is_the_missing_key_error(
    sent: list[httpx2.Request], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(AuthError, match="no API key found: set OPENAI_API_KEY"):
        recorded_client("openai", "https://api.openai.com/v1 org= project=")
    assert sent == []
