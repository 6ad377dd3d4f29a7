"""The ARM deployments client and deploy/undeploy/list against a fake ARM on an httpx2
MockTransport that follows the 2026-09-01 spec (PUT 201 Accepted, provisioning that advances,
nextLink paging, DELETE 202 then gone, ARM's error envelope)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx2
import pytest

from openai_ft.azure.arm import ArmClient
from openai_ft.azure.deployments import (
    check_name,
    default_name,
    deploy,
    list_deployments,
    open_ledger,
    undeploy,
)
from openai_ft.azure.skus import sku
from openai_ft.azure.target import ArmTarget, account_from_endpoint, resolve_target
from openai_ft.errors import AuthError, BackendError, UsageError
from openai_ft.store import Ledger

TOKEN = "arm-token-1234567890"
FT = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef0123456789abcdef"
TARGET = ArmTarget("sub-1", "rg-1", "acct1", "https://arm.example")


class FakeArm:
    """Deployments of one account; each GET advances provisioning one state."""

    def __init__(self, page_size: int = 2, other_host_link: bool = False) -> None:
        self.deployments: dict[str, dict[str, Any]] = {}
        self.steps: dict[str, list[str]] = {}
        self.requests: list[httpx2.Request] = []
        self.page_size = page_size
        self.other_host_link = other_host_link
        self.lock = threading.Lock()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        with self.lock:
            self.requests.append(request)
            return self._handle(request)

    def _error(self, status: int, code: str, message: str) -> httpx2.Response:
        return httpx2.Response(status, json={"error": {"code": code, "message": message}})

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return self._error(401, "AuthenticationFailed", "no valid token")
        if request.url.params.get("api-version") != "2026-09-01":
            return self._error(400, "InvalidApiVersionParameter", "bad api-version")
        base = f"{TARGET.account_path}/deployments"
        path = request.url.path
        if path == base and request.method == "GET":
            return self._page(int(request.url.params.get("page", "0")))
        if not path.startswith(base + "/"):
            return self._error(404, "ResourceNotFound", "no such resource")
        name = path.rsplit("/", 1)[1]
        if request.method == "PUT":
            body = json.loads(request.content)
            created = name not in self.deployments
            self.deployments[name] = {
                "id": path, "name": name, "type": "Microsoft.CognitiveServices/accounts/deployments",
                "sku": body["sku"], "properties": {**body["properties"],
                                                   "provisioningState": "Accepted"},
            }  # fmt: skip
            self.steps[name] = ["Creating", "Succeeded"]
            return httpx2.Response(201 if created else 200, json=self.deployments[name])
        dep = self.deployments.get(name)
        if dep is None:
            return self._error(404, "DeploymentNotFound", f"{name} not found")
        if request.method == "GET":
            steps = self.steps.get(name) or []
            if steps:
                dep["properties"]["provisioningState"] = steps.pop(0)
            elif dep["properties"]["provisioningState"] == "Deleting":
                del self.deployments[name]
                return self._error(404, "DeploymentNotFound", f"{name} not found")
            return httpx2.Response(200, json=dep)
        if request.method == "DELETE":
            dep["properties"]["provisioningState"] = "Deleting"
            self.steps[name] = []
            return httpx2.Response(202, headers={"location": f"https://arm.example{path}/op"})
        return self._error(405, "MethodNotAllowed", request.method)

    def _page(self, page: int) -> httpx2.Response:
        items = list(self.deployments.values())
        start = page * self.page_size
        body: dict[str, Any] = {"value": items[start : start + self.page_size]}
        if start + self.page_size < len(items):
            host = "https://evil.example" if self.other_host_link else "https://arm.example"
            body["nextLink"] = (
                f"{host}{TARGET.account_path}/deployments?api-version=2026-09-01&page={page + 1}"
            )
        return httpx2.Response(200, json=body)


@pytest.fixture
def fake() -> FakeArm:
    return FakeArm()


def arm_for(fake: FakeArm, token: str = TOKEN) -> ArmClient:
    return ArmClient(
        TARGET, lambda: token, transport=httpx2.MockTransport(fake), sleep=lambda s: None
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    book = Ledger(tmp_path / "runs.db")
    yield book
    book.close()


def test_deploy_puts_the_spec_body_and_waits_for_succeeded(fake: FakeArm, ledger: Ledger) -> None:
    states: list[str] = []
    with arm_for(fake) as arm:
        res = deploy(arm, FT, sku("standard"), wait=True, ledger=ledger, on_state=states.append)
    assert res.created and res.state == "Succeeded" and res.name == FT
    put = next(r for r in fake.requests if r.method == "PUT")
    assert json.loads(put.content) == {
        "sku": {"name": "Standard", "capacity": 1},
        "properties": {"model": {"format": "OpenAI", "name": FT, "version": "1"}},
    }
    assert states == ["Creating", "Succeeded"]
    row = ledger.one("SELECT * FROM azure_deployments WHERE name = ?", (FT,))
    assert row["model"] == FT and row["sku"] == "Standard" and row["hourly_usd"] == 1.70
    assert row["state"] == "Succeeded" and row["deleted_at"] is None


def test_a_rerun_finds_the_deployment_instead_of_a_second_put(
    fake: FakeArm, ledger: Ledger
) -> None:
    with arm_for(fake) as arm:
        first = deploy(arm, FT, sku("developer"), wait=True, ledger=ledger)
        again = deploy(arm, FT, sku("developer"), wait=True, ledger=ledger, confirm=lambda p: False)
    assert first.created and not again.created
    assert [r.method for r in fake.requests].count("PUT") == 1
    assert len(fake.deployments) == 1


def test_concurrent_deploys_of_one_model_make_one_deployment(tmp_path: Path) -> None:
    fake = FakeArm()
    results: list[Any] = []

    def one() -> None:
        book = Ledger(tmp_path / "runs.db")
        try:
            with arm_for(fake) as arm:
                results.append(deploy(arm, FT, sku("developer"), ledger=book))
        finally:
            book.close()

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert [r.method for r in fake.requests].count("PUT") == 1
    assert sum(r.created for r in results) == 1


def test_a_name_serving_another_model_is_refused_not_replaced(
    fake: FakeArm, ledger: Ledger
) -> None:
    with arm_for(fake) as arm:
        deploy(arm, "gpt-4.1-mini", sku("standard"), name="shared", ledger=ledger)
        with pytest.raises(UsageError, match=r"already serves gpt-4\.1-mini"):
            deploy(arm, FT, sku("developer"), name="shared", ledger=ledger)
    assert fake.deployments["shared"]["properties"]["model"]["name"] == "gpt-4.1-mini"


def test_a_base_snapshot_is_name_and_version_with_no_hosting_fee(
    fake: FakeArm, ledger: Ledger
) -> None:
    with arm_for(fake) as arm:
        with pytest.raises(UsageError, match="fine-tuned models only"):
            deploy(arm, "gpt-4.1-mini-2025-04-14", sku("developer"), ledger=ledger)
        res = deploy(arm, "gpt-4.1-mini-2025-04-14", sku("globalstandard"), ledger=ledger)
        (listed,) = list_deployments(arm, ledger)
    put = next(r for r in fake.requests if r.method == "PUT")
    model = json.loads(put.content)["properties"]["model"]
    assert model == {"format": "OpenAI", "name": "gpt-4.1-mini", "version": "2025-04-14"}
    assert res.name == listed.model == "gpt-4.1-mini-2025-04-14"
    assert listed.hourly_usd == 0.0


def test_declined_prompt_creates_nothing(fake: FakeArm, ledger: Ledger) -> None:
    with arm_for(fake) as arm, pytest.raises(UsageError, match="declined"):
        deploy(arm, FT, sku("standard"), ledger=ledger, confirm=lambda plan: False)
    assert not fake.deployments
    assert not any(r.method == "PUT" for r in fake.requests)


def test_list_follows_next_link_and_shows_age_and_cost(fake: FakeArm, ledger: Ledger) -> None:
    with arm_for(fake) as arm:
        for i in range(5):
            deploy(arm, f"{FT}-{i}", sku("standard"), ledger=ledger, clock=lambda: 1000.0)
        rows = list_deployments(arm, ledger)
    assert sorted(r.name for r in rows) == sorted(f"{FT}-{i}" for i in range(5))
    pages = [r for r in fake.requests if r.method == "GET" and r.url.path.endswith("/deployments")]
    assert len(pages) == 3  # 2 + 2 + 1
    assert rows[0].cost_usd(1000.0 + 2 * 3600) == 3.40
    assert rows[0].age_s(1000.0 + 60) == 60


def test_the_token_never_follows_a_link_to_another_host(ledger: Ledger) -> None:
    fake = FakeArm(other_host_link=True)
    with arm_for(fake) as arm:
        for i in range(3):
            arm.put(f"d{i}", FT, "DeveloperTier", 1)
        with pytest.raises(BackendError, match="another host"):
            arm.list()
    assert all(r.url.host == "arm.example" for r in fake.requests)


def test_undeploy_waits_until_gone_and_closes_the_row(fake: FakeArm, ledger: Ledger) -> None:
    with arm_for(fake) as arm:
        deploy(arm, FT, sku("developer"), wait=True, ledger=ledger)
        assert undeploy(arm, FT, ledger=ledger, clock=lambda: 5.0)
        assert not undeploy(arm, FT, ledger=ledger)
    assert FT not in fake.deployments
    row = ledger.one("SELECT * FROM azure_deployments WHERE name = ?", (FT,))
    assert row["state"] == "Deleted" and row["deleted_at"] == 5.0


def test_a_wrong_token_is_one_line_naming_the_role(fake: FakeArm) -> None:
    with arm_for(fake, token="wrong-token-0000000") as arm, pytest.raises(AuthError) as err:
        arm.list()
    assert "deployments/write" in (err.value.tip or "")
    assert "wrong-token" not in err.value.message


def test_failed_provisioning_is_a_clear_error(fake: FakeArm, ledger: Ledger) -> None:
    with arm_for(fake) as arm:
        arm.put(FT, FT, "Standard", 1)
        fake.steps[FT] = ["Failed"]
        with pytest.raises(BackendError, match="ended Failed"):
            arm.wait(FT)


def test_names_and_targets() -> None:
    assert default_name(FT) == FT
    long = "x" * 70 + ".ft-abc"
    assert len(default_name(long)) <= 64 and default_name(long) == default_name(long)
    assert default_name("a/b c") == "a-b-c"
    with pytest.raises(UsageError):
        check_name("bad name")
    assert account_from_endpoint("https://myacct.openai.azure.com/") == "myacct"
    assert account_from_endpoint("http://127.0.0.1:8089") is None


def test_missing_target_parts_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_OPENAI_ACCOUNT",
                "AZURE_OPENAI_ENDPOINT"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "s")
    with pytest.raises(UsageError, match="AZURE_RESOURCE_GROUP"):
        resolve_target()
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", "g")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://acct2.openai.azure.com")
    t = resolve_target()
    assert t.account == "acct2" and t.endpoint == "https://management.azure.com"


def test_ledger_migration_is_namespaced(ledger: Ledger) -> None:
    open_ledger(ledger)
    names = {r[0] for r in ledger.query("SELECT name FROM _migrations")}
    assert "azure:m001_deployments" in names


def test_the_arm_token_is_redacted_from_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_MANAGEMENT_TOKEN", "arm-secret-token-value")
    err = BackendError("ARM said: arm-secret-token-value is not valid")
    assert "arm-secret-token-value" not in err.message and "[redacted]" in err.message
