"""The real openai SDK (AzureOpenAI and OpenAI on /openai/v1) against the service playing Azure.

Upload, fine-tune with Azure's options, an Azure-shaped model id, a deployment made through
ARM (plain httpx2), the not-ready window, chat through the deployment, delete. Data-plane
responses are checked against OpenAI's spec as the other local tests' are (the Azure paths
map onto the same operations); ARM responses against the ARM spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from openai_ft.local import LocalService
from openai_ft.local.azure import AzureOptions
from openai_ft.testing import ManualClock

from .arm_spec import ArmChecked
from .conftest import chat_rows, jsonl
from .spec import problems

KEY = "azure-key-123"
API_VERSION = "2024-10-21"
ACCOUNT = (
    "/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.CognitiveServices/accounts/acct1"
)
ARM_API = {"api-version": "2026-09-01"}
ARM_AUTH = {"Authorization": "Bearer arm-token"}
OPTIONS = AzureOptions(arm_token="arm-token", accept_s=1, create_s=2, not_ready_s=30, delete_s=1)
AZURE_ID = re.compile(r"^gpt-4\.1-mini-2025-04-14\.ft-[0-9a-f]{32}(-[A-Za-z0-9_-]+)?$")


_FOUND: list[str] = []


def _as_v1(path: str) -> str:
    """The OpenAI path an Azure data-plane path serves."""
    if path.startswith("/openai/v1/"):
        return path.removeprefix("/openai")
    if path.startswith("/openai/deployments/"):
        return "/v1/chat/completions"
    return "/v1" + path.removeprefix("/openai")


class AzurePathsChecked(httpx2.BaseTransport):
    """Checks data-plane responses against OpenAI's spec, Azure's paths read as the /v1 ones."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        response.read()
        _FOUND.extend(
            problems(
                request.method,
                _as_v1(request.url.path),
                response.status_code,
                response.headers.get("content-type", ""),
                response.content,
            )
        )
        return response


@pytest.fixture(autouse=True)
def data_plane_matches_the_spec() -> Iterator[None]:
    """Fail a test whose SDK clients received a response outside OpenAI's spec."""
    _FOUND.clear()
    yield
    found = list(_FOUND)
    _FOUND.clear()
    assert not found, "responses that do not match the spec:\n" + "\n".join(found)


@pytest.fixture
def clock() -> ManualClock:
    """The service clock."""
    return ManualClock()


@pytest.fixture
def service(tmp_path: Path, clock: ManualClock) -> Iterator[LocalService]:
    """A service playing Azure, with a data-plane key and an ARM token."""
    with LocalService(
        tmp_path / "home", autostart=False, clock=clock, api_key=KEY, azure=OPTIONS, speed=0
    ) as svc:
        yield svc


@pytest.fixture
def arm(service: LocalService) -> Iterator[httpx2.Client]:
    """ARM through plain httpx2, every response checked against the ARM spec."""
    checked = ArmChecked(service.transport())
    with httpx2.Client(transport=checked, base_url="https://management.local") as client:
        yield client
    assert not checked.found, "\n".join(checked.found)


def v1_client(service: LocalService) -> openai.OpenAI:
    """``openai.OpenAI`` on Azure's v1 data plane, with the key in the ``api-key`` header."""
    return openai.OpenAI(
        api_key="unused",
        base_url="https://res.openai.azure.local/openai/v1",
        default_headers={"api-key": KEY, "Authorization": ""},
        max_retries=0,
        http_client=httpx2.Client(transport=AzurePathsChecked(service.transport())),
    )


def classic_client(service: LocalService) -> openai.AzureOpenAI:
    """``openai.AzureOpenAI`` on the classic data plane (``api-version``, ``api-key``)."""
    return openai.AzureOpenAI(
        api_key=KEY,
        azure_endpoint="https://res.openai.azure.local",
        api_version=API_VERSION,
        max_retries=0,
        http_client=httpx2.Client(transport=AzurePathsChecked(service.transport())),
    )


def deploy(arm: httpx2.Client, name: str, model: str, version: str = "1") -> httpx2.Response:
    """PUT a deployment of ``model``."""
    return arm.put(
        f"{ACCOUNT}/deployments/{name}",
        params=ARM_API,
        headers=ARM_AUTH,
        json={
            "sku": {"name": "DeveloperTier", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": model, "version": version}},
        },
    )


def train(service: LocalService, client: openai.OpenAI | openai.AzureOpenAI, **extra: Any) -> Any:
    """Upload a small dataset, fine-tune gpt-4.1-mini on it to the end, return the job."""
    f = client.files.create(file=("train.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=f.id,
        seed=7,
        hyperparameters={"n_epochs": 2},
        **extra,
    )
    service.run_jobs()
    return client.fine_tuning.jobs.retrieve(job.id)


def ask(client: openai.OpenAI | openai.AzureOpenAI, model: str) -> Any:
    """One chat request."""
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "review 99: great lovely product"}]
    )


def test_azure_flow_train_deploy_chat_delete(
    service: LocalService, arm: httpx2.Client, clock: ManualClock
) -> None:
    client = v1_client(service)
    job = train(
        service,
        client,
        suffix="sent_1",
        extra_body={
            "trainingType": "developer",
            "method": {
                "type": "supervised",
                "supervised": {"hyperparameters": {"n_epochs": 2, "prompt_loss_weight": 0.2}},
            },
        },
    )
    assert job.status == "succeeded", job.error
    model = job.fine_tuned_model
    assert AZURE_ID.match(model) and model.endswith("-sent_1"), model
    raw = job.model_dump()
    assert raw["trainingType"] == "Developer"
    assert raw["method"]["supervised"]["hyperparameters"]["prompt_loss_weight"] == 0.2
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and all(re.fullmatch(r"ftchkpt-[0-9a-f]{32}", c.id) for c in checkpoints)
    assert all(c.fine_tuned_model_checkpoint.startswith(model + ":ckpt-step-") for c in checkpoints)

    with pytest.raises(openai.NotFoundError) as raw_id:
        ask(client, model)  # on Azure a fine-tuned model answers only through a deployment
    assert raw_id.value.code == "DeploymentNotFound"

    created = deploy(arm, "sentiment", model)
    assert created.status_code == 201, created.text
    assert created.json()["properties"]["provisioningState"] == "Accepted"
    clock.advance(3)
    got = arm.get(f"{ACCOUNT}/deployments/sentiment", params=ARM_API, headers=ARM_AUTH)
    assert got.json()["properties"]["provisioningState"] == "Succeeded"
    with pytest.raises(openai.NotFoundError) as not_ready:
        ask(client, "sentiment")  # Succeeded, but not answering yet (Azure's first minutes)
    assert not_ready.value.code == "DeploymentNotFound"
    assert "within the last 5 minutes" in str(not_ready.value)

    clock.advance(30)
    answer = ask(client, "sentiment")
    assert answer.model == model
    assert answer.choices[0].message.content
    classic = ask(classic_client(service), "sentiment")  # /openai/deployments/sentiment/...
    assert classic.model == model

    deleted = arm.delete(f"{ACCOUNT}/deployments/sentiment", params=ARM_API, headers=ARM_AUTH)
    assert deleted.status_code == 202
    with pytest.raises(openai.NotFoundError):
        ask(client, "sentiment")  # a deleting deployment answers no more
    clock.advance(1)
    assert (
        arm.get(f"{ACCOUNT}/deployments/sentiment", params=ARM_API, headers=ARM_AUTH).status_code
        == 404
    )


def test_classic_client_trains_and_base_models_answer_through_a_deployment(
    service: LocalService, arm: httpx2.Client, clock: ManualClock
) -> None:
    client = classic_client(service)
    job = train(service, client)
    assert AZURE_ID.match(job.fine_tuned_model)
    assert [j.id for j in client.fine_tuning.jobs.list()] == [job.id]
    with pytest.raises(openai.NotFoundError):
        ask(client, "gpt-4.1-mini")  # not a deployment
    assert deploy(arm, "base", "gpt-4.1-mini", "2025-04-14").status_code == 201
    clock.advance(40)
    assert ask(client, "base").model == "gpt-4.1-mini-2025-04-14"


def test_a_model_can_be_deployed_only_after_its_job_succeeded(
    service: LocalService, arm: httpx2.Client
) -> None:
    client = v1_client(service)
    f = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=f.id)
    assert job.fine_tuned_model is None
    r = deploy(arm, "early", "gpt-4.1-mini-2025-04-14.ft-" + "a" * 32)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "DeploymentModelNotSupported"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"trainingType": "Premium"}, "trainingType"),
        ({"trainingType": 3}, "trainingType"),
        ({"suffix": "x" * 41}, "suffix"),
        ({"suffix": "has.dot"}, "suffix"),
        (
            {
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"prompt_loss_weight": 2}},
                }
            },
            "method.supervised.hyperparameters.prompt_loss_weight",
        ),
        (
            {
                "method": {
                    "type": "supervised",
                    "supervised": {"hyperparameters": {"l2_multiplier": 0.1}},
                }
            },
            "method.supervised.hyperparameters.l2_multiplier",
        ),
        (
            {"method": {"type": "dpo", "dpo": {"hyperparameters": {"l2_multiplier": -1}}}},
            "method.dpo.hyperparameters.l2_multiplier",
        ),
    ],
)
def test_azure_job_options_are_checked(
    service: LocalService, extra: dict[str, Any], param: str
) -> None:
    client = v1_client(service)
    f = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
    with pytest.raises(openai.BadRequestError) as err:
        client.fine_tuning.jobs.create(model="gpt-4.1-mini", training_file=f.id, extra_body=extra)
    assert err.value.param == param


def test_dpo_accepts_l2_multiplier(service: LocalService) -> None:
    client = v1_client(service)
    f = client.files.create(file=("t.jsonl", jsonl(chat_rows(12))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model="gpt-4.1-mini",
        training_file=f.id,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}},
        extra_body={"method": {"type": "dpo", "dpo": {"hyperparameters": {"l2_multiplier": 0.5}}}},
    )
    assert job.model_dump()["method"]["dpo"]["hyperparameters"]["l2_multiplier"] == 0.5


def test_the_data_plane_key_is_checked(service: LocalService) -> None:
    transport = service.transport()
    client = httpx2.Client(transport=transport, base_url="https://res.local")
    assert client.get("/openai/v1/files").status_code == 401
    assert client.get("/openai/v1/files", headers={"api-key": "wrong"}).status_code == 401
    assert client.get("/openai/v1/files", headers={"api-key": KEY}).status_code == 200
    bearer = client.get("/openai/v1/files", headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 200
    wrong = client.get("/openai/v1/files", headers={"api-key": "wrong"})
    assert "wrong" not in wrong.text and KEY not in wrong.text


@pytest.mark.parametrize(
    ("method", "path", "params", "content"),
    [
        ("GET", "/openai/files", {}, b""),
        ("GET", "/openai/fine_tuning/jobs", {"api-version": "yesterday"}, b""),
        ("POST", "/openai/deployments/x/chat/completions", {}, b"{}"),
        ("POST", "/openai/v1/chat/completions", {}, b"{"),
        ("POST", "/openai/v1/chat/completions", {}, b"[]"),
        ("POST", "/openai/v1/chat/completions", {}, b'{"model": 5, "messages": []}'),
        ("POST", "/openai/v1/fine_tuning/jobs", {}, b'{"model": "gpt-4.1-mini"}'),
        ("POST", "/openai/deployments/x/chat/completions", {"api-version": API_VERSION}, b"{"),
    ],
)
def test_malformed_data_plane_requests_are_4xx_envelopes(
    service: LocalService, method: str, path: str, params: dict[str, str], content: bytes
) -> None:
    client = httpx2.Client(transport=service.transport(), base_url="https://res.local")
    r = client.request(method, path, params=params, content=content, headers={"api-key": KEY})
    assert 400 <= r.status_code < 500, r.text
    error = r.json()["error"]
    assert isinstance(error["message"], str) and error["message"]


def test_openai_mode_serves_the_azure_paths_too(tmp_path: Path) -> None:
    with LocalService(tmp_path / "h", autostart=False, speed=0) as svc:
        client = openai.OpenAI(
            api_key="local",
            base_url="https://res.local/openai/v1",
            max_retries=0,
            http_client=httpx2.Client(transport=AzurePathsChecked(svc.transport())),
        )
        job = train(svc, client)
        assert job.fine_tuned_model.startswith("ft:gpt-4.1-mini-2025-04-14:")
        assert ask(client, job.fine_tuned_model).model == job.fine_tuned_model  # no deployment
        classic = openai.AzureOpenAI(
            api_key="local",
            azure_endpoint="https://res.local",
            api_version=API_VERSION,
            max_retries=0,
            http_client=httpx2.Client(transport=AzurePathsChecked(svc.transport())),
        )
        assert (
            ask(classic, "gpt-4.1-mini").model == "gpt-4.1-mini"
        )  # the deployment name is the model
