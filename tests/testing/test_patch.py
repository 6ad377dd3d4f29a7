"""patch_openai(): clients the code under test builds itself reach the local service, and only those."""

from __future__ import annotations

import httpx2
import openai
import pytest

from openai_ft.testing import is_patched, local_openai, patch_openai
from openai_ft.testing._transport import AsyncRoutedTransport, RoutedTransport

ORIGINAL_INITS = {cls: cls.__dict__["__init__"] for cls in (openai.OpenAI, openai.AzureOpenAI)}


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_AD_TOKEN",
        "AZURE_OPENAI_ENDPOINT",
        "OPENAI_API_VERSION",
    ):
        monkeypatch.delenv(var, raising=False)


def _ask(client: openai.OpenAI) -> str | None:
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}]
    )
    return reply.choices[0].message.content


def _routed(client: openai.OpenAI | openai.AsyncOpenAI) -> bool:
    return isinstance(getattr(client._client, "_transport", None), RoutedTransport)


def test_a_client_built_inside_the_block_talks_to_the_service() -> None:
    with patch_openai() as local:
        local.reply("gpt-4o-mini", "ping", "pong")
        assert _ask(openai.OpenAI()) == "pong"  # no key in the environment, none needed
        assert [r.path for r in local.requests] == ["/v1/chat/completions"]
    with pytest.raises(openai.OpenAIError, match="api_key"):
        openai.OpenAI()  # outside the block: the SDK as it is


def test_an_explicit_base_url_or_http_client_is_left_untouched() -> None:
    with patch_openai() as local:
        own = openai.OpenAI(api_key="k", base_url="http://example.invalid/v1")
        assert str(own.base_url) == "http://example.invalid/v1/"
        assert not _routed(own)
        http = httpx2.Client()
        mine = openai.OpenAI(api_key="k", http_client=http)
        assert mine._client is http
        assert str(mine.base_url).startswith("https://api.openai.com")
        assert local.requests == []


def test_the_patch_is_undone_after_an_exception_inside_the_block() -> None:
    with pytest.raises(RuntimeError, match="boom"), patch_openai():
        assert is_patched()
        raise RuntimeError("boom")
    assert not is_patched()
    for cls, init in ORIGINAL_INITS.items():
        assert cls.__dict__["__init__"] is init
    with pytest.raises(openai.OpenAIError):
        openai.OpenAI()


def test_as_a_decorator() -> None:
    @patch_openai()
    def code_under_test() -> bool:
        return _routed(openai.OpenAI())

    assert code_under_test()
    assert not is_patched()


def test_blocks_nest_and_the_innermost_wins() -> None:
    with local_openai() as outer, local_openai() as inner:
        with patch_openai(outer):
            with patch_openai(inner):
                openai.OpenAI().models.list()
            openai.OpenAI().models.list()
            openai.OpenAI().models.list()
        assert (len(outer.requests), len(inner.requests)) == (2, 1)
    assert not is_patched()


def test_azure_clients_reach_the_service_through_deployment_paths() -> None:
    with patch_openai() as local:
        local.reply("gpt-4o-mini", "ping", "pong")
        azure = openai.AzureOpenAI()  # no endpoint, key or API version in the environment
        assert _ask(azure) == "pong"
        assert azure.fine_tuning.jobs.list().data == []
        assert [r.path for r in local.requests] == ["/v1/chat/completions", "/v1/fine_tuning/jobs"]
        assert "api-version=" in local.requests[0].query


async def test_async_clients_are_routed_too() -> None:
    with patch_openai() as local:
        client = openai.AsyncOpenAI()
        assert isinstance(client._client._transport, AsyncRoutedTransport)
        assert (await client.models.list()).data
        azure = openai.AsyncAzureOpenAI()
        assert (await azure.fine_tuning.jobs.list()).data == []
        assert [r.path for r in local.requests] == ["/v1/models", "/v1/fine_tuning/jobs"]
