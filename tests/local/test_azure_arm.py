"""The ARM stand-in: deployments created, read, listed and deleted as the ARM spec says.

Every ARM response these tests receive is checked against the shared ARM spec (arm_spec.py):
a test whose client saw a non-conforming response fails at teardown.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from openai_ft.local import LocalService
from openai_ft.local.azure import AzureOptions
from openai_ft.testing import ManualClock

from .arm_spec import ArmChecked, definition

API = {"api-version": "2026-09-01"}
TOKEN = "arm-secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ACCOUNT = (
    "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg1"
    "/providers/Microsoft.CognitiveServices/accounts/acct1"
)
MODELS = (
    "/subscriptions/00000000-1111-2222-3333-444444444444"
    "/providers/Microsoft.CognitiveServices/locations/eastus/models"
)
OPTIONS = AzureOptions(arm_token=TOKEN, accept_s=5, create_s=10, not_ready_s=20, delete_s=4)


def body(
    model: str = "gpt-4.1-mini", version: str | None = "2025-04-14", **sku: Any
) -> dict[str, Any]:
    """A Deployment request body."""
    m: dict[str, Any] = {"format": "OpenAI", "name": model}
    if version is not None:
        m["version"] = version
    return {"sku": {"name": "Standard", "capacity": 1, **sku}, "properties": {"model": m}}


@pytest.fixture
def clock() -> ManualClock:
    """The service clock; provisioning moves only when a test advances it."""
    return ManualClock()


@pytest.fixture
def service(tmp_path: Path, clock: ManualClock) -> Iterator[LocalService]:
    """A service playing Azure, with an ARM token."""
    with LocalService(tmp_path / "home", autostart=False, clock=clock, azure=OPTIONS) as svc:
        yield svc


@pytest.fixture
def arm(service: LocalService) -> Iterator[httpx2.Client]:
    """An ARM client whose every response is checked against the ARM spec."""
    checked = ArmChecked(service.transport())
    with httpx2.Client(transport=checked, base_url="https://management.local") as client:
        yield client
    assert checked.checked, "no ARM request was made"
    assert not checked.found, "ARM responses that do not match the spec:\n" + "\n".join(
        checked.found
    )


def put(arm: httpx2.Client, name: str, payload: Any, **kw: Any) -> httpx2.Response:
    """PUT a deployment."""
    return arm.put(f"{ACCOUNT}/deployments/{name}", params=API, headers=AUTH, json=payload, **kw)


def get(arm: httpx2.Client, name: str) -> httpx2.Response:
    """GET a deployment."""
    return arm.get(f"{ACCOUNT}/deployments/{name}", params=API, headers=AUTH)


def state(arm: httpx2.Client, name: str) -> str:
    """A deployment's provisioning state."""
    r = get(arm, name)
    assert r.status_code == 200, r.text
    return str(r.json()["properties"]["provisioningState"])


def test_create_advances_from_accepted_to_succeeded(arm: httpx2.Client, clock: ManualClock) -> None:
    r = put(arm, "base-mini", body() | {"tags": {"team": "a"}})
    assert r.status_code == 201
    dep = r.json()
    assert dep["name"] == "base-mini"
    assert dep["id"] == f"{ACCOUNT}/deployments/base-mini"
    assert dep["type"] == "Microsoft.CognitiveServices/accounts/deployments"
    assert dep["properties"]["provisioningState"] == "Accepted"
    assert dep["properties"]["model"] == {
        "format": "OpenAI",
        "name": "gpt-4.1-mini",
        "version": "2025-04-14",
    }
    assert dep["tags"] == {"team": "a"}
    assert r.headers["retry-after"] == "5"
    assert len(r.headers["x-ms-request-id"]) == 36
    monitor = r.headers["azure-asyncoperation"]
    assert arm.get(monitor, headers=AUTH).json()["status"] == "InProgress"
    clock.advance(5)
    assert state(arm, "base-mini") == "Creating"
    clock.advance(10)
    assert state(arm, "base-mini") == "Succeeded"
    status = arm.get(monitor, headers=AUTH).json()
    assert status["status"] == "Succeeded"
    assert status["endTime"] > status["startTime"]


def test_put_on_an_existing_deployment_updates_it_with_200(
    arm: httpx2.Client, clock: ManualClock
) -> None:
    assert put(arm, "d1", body()).status_code == 201
    clock.advance(15)
    r = put(arm, "d1", body(capacity=3))
    assert r.status_code == 200
    assert r.json()["sku"]["capacity"] == 3
    assert r.json()["properties"]["provisioningState"] == "Succeeded"  # same model: no re-deploy
    r = put(arm, "d1", body("gpt-4o-mini", "2024-07-18"))
    assert r.status_code == 200
    assert r.json()["properties"]["provisioningState"] == "Accepted"  # a new model provisions again
    assert "azure-asyncoperation" in r.headers


def test_list_pages_through_next_link(tmp_path: Path, clock: ManualClock) -> None:
    small = AzureOptions(arm_token=TOKEN, page_size=2)
    with LocalService(tmp_path / "h", autostart=False, clock=clock, azure=small) as svc:
        checked = ArmChecked(svc.transport())
        client = httpx2.Client(transport=checked, base_url="https://management.local")
        for name in ("a1", "b2", "c3"):
            assert put(client, name, body()).status_code == 201
        other = ACCOUNT.replace("acct1", "acct2")
        client.put(f"{other}/deployments/z9", params=API, headers=AUTH, json=body())
        first = client.get(f"{ACCOUNT}/deployments", params=API, headers=AUTH).json()
        assert [d["name"] for d in first["value"]] == ["a1", "b2"]
        second = client.get(first["nextLink"], headers=AUTH).json()
        assert [d["name"] for d in second["value"]] == ["c3"]
        assert "nextLink" not in second
        assert not checked.found, checked.found


def test_delete_is_accepted_then_the_deployment_is_gone(
    arm: httpx2.Client, clock: ManualClock
) -> None:
    put(arm, "gone-soon", body())
    clock.advance(15)
    r = arm.delete(f"{ACCOUNT}/deployments/gone-soon", params=API, headers=AUTH)
    assert r.status_code == 202
    assert r.headers["retry-after"] == "4"
    location = r.headers["location"]
    assert arm.get(location, headers=AUTH).status_code == 202
    assert state(arm, "gone-soon") == "Deleting"
    listed = arm.get(f"{ACCOUNT}/deployments", params=API, headers=AUTH).json()["value"]
    assert [d["properties"]["provisioningState"] for d in listed] == ["Deleting"]
    clock.advance(4)
    assert arm.get(location, headers=AUTH).status_code == 204
    r = get(arm, "gone-soon")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "DeploymentNotFound"
    assert arm.get(f"{ACCOUNT}/deployments", params=API, headers=AUTH).json() == {"value": []}
    again = arm.delete(f"{ACCOUNT}/deployments/gone-soon", params=API, headers=AUTH)
    assert again.status_code == 204
    assert put(arm, "gone-soon", body()).status_code == 201  # the name can be used again


def test_put_while_deleting_is_a_conflict(arm: httpx2.Client) -> None:
    put(arm, "busy", body())
    arm.delete(f"{ACCOUNT}/deployments/busy", params=API, headers=AUTH)
    r = put(arm, "busy", body())
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "AnotherOperationInProgress"


def test_the_bearer_token_is_required(arm: httpx2.Client) -> None:
    url = f"{ACCOUNT}/deployments"
    missing = arm.get(url, params=API)
    assert missing.status_code == 401
    assert missing.json() == {
        "error": {
            "code": "AuthenticationFailed",
            "message": "Authentication failed. The 'Authorization' header is missing.",
        }
    }
    wrong = arm.get(url, params=API, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["x-ms-request-id"] != missing.headers["x-ms-request-id"]
    assert wrong.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "nope" not in wrong.text and TOKEN not in wrong.text
    basic = arm.get(url, params=API, headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401


def test_any_bearer_token_without_a_configured_one(tmp_path: Path) -> None:
    with LocalService(tmp_path / "h", autostart=False, azure=True) as svc:
        client = httpx2.Client(transport=ArmChecked(svc.transport()), base_url="https://m.local")
        r = client.get(f"{ACCOUNT}/deployments", params=API, headers={"Authorization": "Bearer x"})
        assert r.status_code == 200
        assert r.json() == {"value": []}


def test_the_data_plane_key_does_not_open_arm(tmp_path: Path) -> None:
    with LocalService(tmp_path / "h", autostart=False, api_key="k1", azure=True) as svc:
        client = httpx2.Client(transport=svc.transport(), base_url="https://m.local")
        r = client.get(f"{ACCOUNT}/deployments", params=API, headers={"api-key": "k1"})
        assert r.status_code == 401  # ARM wants its bearer token, not the api-key
        r = client.get(f"{ACCOUNT}/deployments", params=API, headers={"Authorization": "Bearer t"})
        assert r.status_code == 200


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, "InvalidResourceProperties"),
        ({"properties": {"model": {"name": "gpt-4.1-mini"}}}, "InvalidResourceProperties"),
        (body() | {"sku": {"capacity": 1}}, "InvalidResourceProperties"),
        (body() | {"sku": {"name": ""}}, "InvalidResourceProperties"),
        (body() | {"sku": {"name": 7}}, "InvalidResourceProperties"),
        (body() | {"sku": {"name": "Cheapest"}}, "InvalidSkuName"),
        (body(capacity="2"), "InvalidResourceProperties"),
        (body(capacity=1.5), "InvalidResourceProperties"),
        (body(capacity=True), "InvalidResourceProperties"),
        (body(capacity=0), "InvalidResourceProperties"),
        (body(capacity=2**31), "InvalidResourceProperties"),
        ({"sku": {"name": "Standard"}}, "InvalidResourceProperties"),
        ({"sku": {"name": "Standard"}, "properties": []}, "InvalidResourceProperties"),
        ({"sku": {"name": "Standard"}, "properties": {"model": {}}}, "InvalidResourceProperties"),
        (body("gpt-4.1-mini", 20250414), "InvalidResourceProperties"),  # type: ignore[arg-type]
        (body("no-such-model", None), "DeploymentModelNotSupported"),
        (body("gpt-4.1-mini", "1999-01-01"), "DeploymentModelNotSupported"),
        (body("gpt-4.1-mini-2025-04-14.ft-" + "0" * 32, "1"), "DeploymentModelNotSupported"),
        (body() | {"tags": {"a": 1}}, "InvalidResourceProperties"),
        (body() | {"tags": "x"}, "InvalidResourceProperties"),
        (
            {**body(), "properties": {**body()["properties"], "deploymentState": "Sleeping"}},
            "InvalidResourceProperties",
        ),
        (
            {**body(), "properties": {"model": {"name": "gpt-4o", "format": "Meta"}}},
            "DeploymentModelNotSupported",
        ),
    ],
)
def test_malformed_put_is_a_400_in_arms_shape(
    arm: httpx2.Client, payload: dict[str, Any], code: str
) -> None:
    r = put(arm, "bad", payload)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code
    assert set(r.json()) == {"error"} and set(r.json()["error"]) == {"code", "message"}
    assert get(arm, "bad").status_code == 404  # nothing was created


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[1, 2]", b"null", b'"text"', b"\xff\xfe", b"[" * 5000],
)
def test_a_body_that_is_not_a_json_object_is_a_400(arm: httpx2.Client, content: bytes) -> None:
    r = arm.put(
        f"{ACCOUNT}/deployments/bad",
        params=API,
        headers={**AUTH, "content-type": "application/json"},
        content=content,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] in ("InvalidRequestContent", "InvalidResourceProperties")


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        (f"{ACCOUNT}/deployments", {}, "MissingApiVersionParameter"),
        (f"{ACCOUNT}/deployments", {"api-version": "latest"}, "InvalidApiVersionParameter"),
        (ACCOUNT.replace("acct1", "a") + "/deployments", API, "InvalidResourceName"),
        (ACCOUNT.replace("acct1", "-acct") + "/deployments", API, "InvalidResourceName"),
        (ACCOUNT.replace("acct1", "a" * 65) + "/deployments", API, "InvalidResourceName"),
        (ACCOUNT.replace("acct1", "bad%20name") + "/deployments", API, "InvalidResourceName"),
        (f"{ACCOUNT}/deployments/x%24y", API, "InvalidResourceName"),
    ],
)
def test_bad_parameters_are_400s(
    arm: httpx2.Client, path: str, params: dict[str, str], code: str
) -> None:
    r = arm.get(path, params=params, headers=AUTH)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code


def test_unknown_operation_is_a_404(arm: httpx2.Client) -> None:
    url = MODELS.replace("/models", "/operationStatuses/nope")
    r = arm.get(url, params=API, headers=AUTH)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "OperationNotFound"


def test_region_models_carry_deprecation_dates_from_the_catalog(arm: httpx2.Client) -> None:
    from openai_ft.catalog import model_field

    r = arm.get(MODELS, params=API, headers=AUTH)
    assert r.status_code == 200
    models = {(m["model"]["name"], m["model"]["version"]): m["model"] for m in r.json()["value"]}
    mini = models[("gpt-4.1-mini", "2025-04-14")]
    assert mini["deprecation"]["fineTune"].startswith(
        model_field("gpt-4.1-mini-2025-04-14", "azure_fine_tune_retirement")
    )
    assert mini["deprecation"]["inference"].startswith(
        model_field("gpt-4.1-mini-2025-04-14", "shutdown_date")
    )
    assert models[("gpt-4o", "2024-08-06")]["deprecation"]["fineTune"].startswith("2027-04-01")
    assert {s["name"] for s in mini["skus"]} >= {"Standard", "GlobalStandard", "DeveloperTier"}


def test_the_account_resource(arm: httpx2.Client) -> None:
    r = arm.get(ACCOUNT, params=API, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["location"] == "eastus"
    assert r.json()["kind"] == "OpenAI"
    assert definition("Account", r.json()) == []


def test_deployments_are_shared_with_another_process(tmp_path: Path, clock: ManualClock) -> None:
    home = tmp_path / "shared"
    with LocalService(home, autostart=False, clock=clock, azure=OPTIONS) as svc:
        client = httpx2.Client(transport=svc.transport(), base_url="https://m.local")
        assert put(client, "from-parent", body()).status_code == 201
    script = f"""
import json, httpx2
from pathlib import Path
from openai_ft.local import LocalService
from openai_ft.local.azure import AzureOptions
svc = LocalService(Path({str(home)!r}), autostart=False, clock=lambda: {clock() + 100}, azure=AzureOptions(arm_token={TOKEN!r}))
c = httpx2.Client(transport=svc.transport(), base_url="https://m.local")
r = c.get({ACCOUNT + "/deployments"!r}, params={API!r}, headers={AUTH!r})
print(json.dumps([(d["name"], d["properties"]["provisioningState"]) for d in r.json()["value"]]))
svc.close()
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout) == [["from-parent", "Succeeded"]]


def test_over_a_loopback_socket_with_a_data_plane_key(tmp_path: Path) -> None:
    import io

    from openai_ft.local.http.server import LocalServer

    with LocalService(tmp_path / "h", autostart=False, api_key="k-1", azure=OPTIONS) as svc:
        server = LocalServer(svc, "127.0.0.1", 0, log=io.StringIO())
        server.start()
        try:
            origin = server.base_url.removesuffix("/v1")
            checked = ArmChecked(httpx2.HTTPTransport())
            with httpx2.Client(transport=checked, base_url=origin) as client:
                r = put(client, "sock", body())  # ARM's token, not the data-plane key
                assert r.status_code == 201, r.text
                assert r.headers["azure-asyncoperation"].startswith(origin + "/subscriptions/")
                assert (
                    client.get(r.headers["azure-asyncoperation"], headers=AUTH).status_code == 200
                )
                files = client.get("/openai/v1/files", headers={"api-key": "k-1"})
                assert files.status_code == 200
                assert client.get("/openai/v1/files", headers=AUTH).status_code == 401
            assert not checked.found, checked.found
        finally:
            server.close()


def test_serve_refuses_an_arm_token_without_azure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openai_ft.cli import main

    assert main(["serve", "--home", str(tmp_path), "--arm-token", "t", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "--arm-token needs --azure" in err
    assert "Traceback" not in err


def test_the_spec_check_finds_what_is_wrong() -> None:
    from .arm_spec import problems

    path = f"{ACCOUNT}/deployments/d"
    missing = problems("PUT", path, 201, {}, b'{"sku": {}}')
    assert any("missing header Azure-AsyncOperation" in p for p in missing)
    assert any("'name' is a required property" in p for p in missing)
    assert problems("DELETE", path, 202, {"location": "x", "retry-after": "1"}, b"{}")
    assert problems("GET", path, 404, {}, b'{"error": {"code": 1}}')
    assert problems("GET", path, 200, {}, b'{"properties": {"provisioningState": "Sleeping"}}')
    assert problems("GET", path, 200, {}, b'{"name": "d", "properties": {}}') == []
