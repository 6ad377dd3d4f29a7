"""eval's deployments (openai_ft.azure.serving) and the deploy/deployments/undeploy commands,
against the spec-shaped fake ARM of test_azure_arm and a data plane that is not ready at first."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from openai_ft.azure.arm import ArmClient
from openai_ft.azure.deployments import deploy, open_ledger
from openai_ft.azure.serving import Serving, is_fine_tuned_ref, wait_until_answers
from openai_ft.azure.skus import sku
from openai_ft.azure.target import token_provider
from openai_ft.cli import main
from openai_ft.errors import AuthError, UsageError
from openai_ft.store import Ledger
from tests.test_azure_arm import FT, TARGET, TOKEN, FakeArm

CKPT = FT + ":ckpt-step-10"


class DataPlane:
    """Chat through deployments: 404 DeploymentNotFound for the first ``not_ready`` requests."""

    def __init__(self, not_ready: int = 2) -> None:
        self.not_ready = not_ready
        self.calls: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "GET" and request.url.path.endswith("/checkpoints"):
            return httpx2.Response(200, json={"object": "list", "has_more": False, "data": [{
                "id": "ftchkpt-remote", "object": "fine_tuning.job.checkpoint", "created_at": 1,
                "fine_tuned_model_checkpoint": CKPT, "fine_tuning_job_id": "ftjob-1",
                "step_number": 10, "metrics": {"train_loss": 0.5},
            }]})  # fmt: skip
        body = json.loads(request.content)
        self.calls.append(body["model"])
        if self.not_ready > 0:
            self.not_ready -= 1
            err = {"code": "DeploymentNotFound", "message": "wait a moment and try again"}
            return httpx2.Response(404, json={"error": err})
        return httpx2.Response(200, json={
            "id": "c1", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}],
        })  # fmt: skip


def client_for(plane: DataPlane) -> openai.OpenAI:
    http = httpx2.Client(transport=httpx2.MockTransport(plane))
    return openai.OpenAI(api_key="k", base_url="http://azure.test/openai/v1/", http_client=http)


@pytest.fixture
def book(tmp_path: Path) -> Any:
    ledger = open_ledger(Ledger(tmp_path / "runs.db"))
    yield ledger
    ledger.close()


def serving(fake: FakeArm | None, plane: DataPlane, book: Ledger, **kw: Any) -> Serving:
    arm = None
    if fake is not None:
        arm = ArmClient(TARGET, lambda: TOKEN, transport=httpx2.MockTransport(fake),
                        sleep=lambda s: None)  # fmt: skip
    return Serving(arm, client_for(plane), book, "azure", sku("developer"),
                   sleep=lambda s: None, poll=0.01, **kw)  # fmt: skip


def test_references_that_name_fine_tuned_models() -> None:
    for ref in ("@latest", "ftjob-abc", "ftchkpt-abc", FT, CKPT):
        assert is_fine_tuned_ref(ref)
    assert not is_fine_tuned_ref("gpt-4.1-mini") and not is_fine_tuned_ref("my-deployment")


def test_without_a_deployment_it_stops_before_any_request(book: Ledger) -> None:
    fake, plane = FakeArm(), DataPlane()
    with pytest.raises(UsageError) as err, serving(fake, plane, book) as srv:
        srv.resolve(["gpt-4.1-mini", FT])
    assert "has no deployment" in err.value.message and "--deploy" in (err.value.tip or "")
    assert plane.calls == [] and not fake.deployments


def test_an_existing_deployment_is_used_and_kept(book: Ledger) -> None:
    fake, plane = FakeArm(), DataPlane(not_ready=0)
    with ArmClient(TARGET, lambda: TOKEN, transport=httpx2.MockTransport(fake)) as arm:
        deploy(arm, FT, sku("standard"), name="mine", wait=True, ledger=book)
    with serving(fake, plane, book, deploy=True, undeploy_after=True) as srv:
        assert srv.resolve(["gpt-4.1-mini", FT]) == ["gpt-4.1-mini", "mine"]
    assert "mine" in fake.deployments  # not ours to remove
    assert plane.calls == []


def test_deploy_waits_until_it_answers_then_undeploy_after(book: Ledger) -> None:
    fake, plane = FakeArm(), DataPlane(not_ready=3)
    notes: list[str] = []
    with serving(fake, plane, book, deploy=True, undeploy_after=True, notify=notes.append) as srv:
        assert srv.resolve([FT]) == [FT]
        assert fake.deployments[FT]["sku"]["name"] == "DeveloperTier"
    assert plane.calls == [FT] * 4  # three not-ready answers, then one that answered
    assert any("after 3 not-ready answers" in n for n in notes)
    assert FT not in fake.deployments
    row = book.one("SELECT state, origin FROM azure_deployments WHERE name = ?", (FT,))
    assert row["state"] == "Deleted" and row["origin"] == "eval"


def test_an_interrupted_removal_is_said_loudly_and_left_in_the_ledger(book: Ledger) -> None:
    fake, plane = FakeArm(), DataPlane(not_ready=0)
    left: list[str] = []
    srv = serving(fake, plane, book, deploy=True, undeploy_after=True, on_left=left.append)
    srv.resolve([FT])
    assert srv.arm is not None

    def second_ctrl_c(name: str) -> bool:
        raise KeyboardInterrupt

    srv.arm.delete = second_ctrl_c  # type: ignore[method-assign]
    srv.finish()
    assert len(left) == 1 and "NOT removed" in left[0] and f"openai-ft undeploy {FT}" in left[0]
    row = book.one("SELECT state FROM azure_deployments WHERE name = ?", (FT,))
    assert row["state"] == "LeftBehind"


def test_a_checkpoint_and_the_ledger_without_arm(book: Ledger) -> None:
    book.execute(
        "INSERT INTO checkpoints (backend, job_id, checkpoint_id, model, step, metrics_json)"
        " VALUES ('azure', 'ftjob-1', 'ftchkpt-abc', ?, 10, '{}')",
        (CKPT,),
    )
    book.execute(
        "INSERT INTO azure_deployments (account, name, model, sku, hourly_usd, state, created_at)"
        " VALUES ('', 'ckpt-dep', ?, 'DeveloperTier', 0, 'Succeeded', 1)",
        (CKPT,),
    )
    with serving(None, DataPlane(), book) as srv:  # no ARM credentials: the ledger's record
        assert srv.resolve(["ftchkpt-abc"]) == ["ckpt-dep"]
    with (
        pytest.raises(UsageError, match="none of the jobs"),
        serving(None, DataPlane(), book) as srv,
    ):
        srv.resolve(["ftchkpt-zzz"])
    # Not in the ledger yet: found among the checkpoints of the ledger's succeeded jobs.
    book.execute(
        "INSERT INTO jobs (backend, job_id, status, created_at) VALUES ('azure', 'ftjob-1',"
        " 'succeeded', 1)"
    )
    with serving(None, DataPlane(), book) as srv:
        assert srv.resolve(["ftchkpt-remote"]) == ["ckpt-dep"]
    assert book.one("SELECT model FROM checkpoints WHERE checkpoint_id = 'ftchkpt-remote'")


def test_a_deployment_that_never_answers_is_an_error() -> None:
    plane = DataPlane(not_ready=100)
    ticks = iter(range(1000))
    with pytest.raises(Exception, match=r"DeploymentNotFound|404"):
        wait_until_answers(client_for(plane), FT, timeout=5, poll=1, sleep=lambda s: None,
                           clock=lambda: float(next(ticks)))  # fmt: skip
    assert len(plane.calls) <= 8


def test_a_missing_extra_is_one_line_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_MANAGEMENT_TOKEN", raising=False)
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # not installed
    with pytest.raises(UsageError) as err:
        token_provider()
    assert "azure-identity" in err.value.message
    assert "pip install 'openai-ft[azure]'" in (err.value.tip or "")


def test_entra_id_tokens_come_from_default_azure_credential_for_the_arm_scope(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the extra installed (a stand-in module: the real one reaches login.microsoftonline
    and the instance metadata service), the token is asked for ARM's .default scope; a failure
    is one AuthError line naming the remedy."""
    import types

    asked: list[str] = []

    class Credential:
        def get_token(self, scope: str) -> Any:
            asked.append(scope)
            if len(asked) > 1:
                raise RuntimeError("CredentialUnavailableError: az login has expired")
            return types.SimpleNamespace(token="entra-token-0123")

    fake = types.ModuleType("azure.identity")
    fake.DefaultAzureCredential = Credential  # type: ignore[attr-defined]
    monkeypatch.delenv("AZURE_MANAGEMENT_TOKEN", raising=False)
    monkeypatch.setitem(sys.modules, "azure.identity", fake)
    get = token_provider()
    assert get() == "entra-token-0123"
    assert asked == ["https://management.azure.com/.default"]
    with pytest.raises(AuthError) as err:
        get()
    assert err.value.message == (
        "no Entra ID token for https://management.azure.com/.default: RuntimeError"
    )
    assert "az login" in (err.value.tip or "")


# -- the commands --------------------------------------------------------------------------------


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch) -> FakeArm:
    fake = FakeArm()
    monkeypatch.setattr(
        "openai_ft.cli.azure._arm",
        lambda *a: ArmClient(TARGET, lambda: TOKEN, transport=httpx2.MockTransport(fake),
                             sleep=lambda s: None),
    )  # fmt: skip
    monkeypatch.setenv("OPENAI_FT_AZURE_POLL_S", "0.01")
    return fake


def test_deploy_shows_the_fee_and_refuses_a_paid_sku_without_yes(
    fake_cli: FakeArm, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", FT, "--sku", "standard"]) == 2  # stdin is not a terminal here
    err = capsys.readouterr().err
    assert "$1.70/hour" in err and "15 days" in err and "ERROR" in err and "--yes" in err
    assert not fake_cli.deployments
    assert main(["deploy", FT, "--wait"]) == 0  # developer: no hourly fee, no prompt needed
    out = capsys.readouterr()
    assert out.out.strip() == FT and "no hourly hosting fee" in out.err and "24 hours" in out.err
    assert main(["deploy", FT, "--json"]) == 0
    again = capsys.readouterr()
    assert json.loads(again.out)["created"] is False and "nothing to do" in again.err


def test_deployments_table_fits_80_columns_and_undeploy_asks(
    fake_cli: FakeArm, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", FT, "--sku", "standard", "--yes", "--wait"]) == 0
    assert main(["deploy", "gpt-4.1-mini-2025-04-14", "--yes"]) == 0  # base: globalstandard
    capsys.readouterr()
    assert main(["deployments"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 3 and all(len(line) <= 80 for line in table)
    assert "GlobalStandard" in table[2] and "$0.00" in table[2]
    assert main(["deployments", "--json"]) == 0
    fees = {r["model"]: r["hourly_usd"] for r in json.loads(capsys.readouterr().out)}
    assert fees == {FT: 1.70, "gpt-4.1-mini-2025-04-14": 0.0}
    assert main(["undeploy", FT]) == 2  # no terminal, no --yes: nothing removed
    assert FT in fake_cli.deployments
    assert main(["undeploy", FT, "--yes"]) == 0
    assert FT not in fake_cli.deployments
    assert main(["deployments", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in rows] == ["gpt-4.1-mini-2025-04-14"]
    assert rows[0]["cost_usd_so_far"] == 0.0


def test_eval_deploy_flags_need_azure(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "t.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "q"},
                                             {"role": "assistant", "content": "a"}]}) + "\n")  # fmt: skip
    assert (
        main(["eval", "--data", str(data), "--model", "m", "--deploy", "--backend", "local"]) == 2
    )
    assert "--backend azure" in capsys.readouterr().err


def test_deploy_latest_and_checkpoints_on_azure(
    fake_cli: FakeArm, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    book = Ledger()  # the isolated OPENAI_FT_HOME of this test
    book.execute(
        "INSERT INTO models (backend, model, job_id, base_model, created_at)"
        " VALUES ('azure', ?, 'ftjob-1', 'gpt-4.1-mini-2025-04-14', 1)",
        (FT,),
    )
    book.close()
    assert main(["deploy", "@latest", "--yes", "--wait"]) == 0
    assert capsys.readouterr().out.strip() == FT and FT in fake_cli.deployments
    data = tmp_path / "t.jsonl"
    data.write_text("{}\n")
    args = ["eval", "--data", str(data), "--backend", "azure", "--checkpoints", "ftjob-1"]
    assert main(args) == 2
    assert "ftchkpt-" in capsys.readouterr().err


def test_without_arm_access_today_the_ledger_still_serves(book: Ledger) -> None:
    account = TARGET.key
    book.execute(
        "INSERT INTO azure_deployments (account, name, model, sku, hourly_usd, state, created_at)"
        " VALUES (?, 'recorded', ?, 'DeveloperTier', 0, 'Succeeded', 1)",
        (account, FT),
    )
    expired = ArmClient(TARGET, lambda: "expired-token-000000",
                        transport=httpx2.MockTransport(FakeArm()))  # fmt: skip
    notes: list[str] = []
    srv = Serving(expired, client_for(DataPlane()), book, "azure", sku("developer"),
                  notify=notes.append)  # fmt: skip
    assert srv.resolve([FT]) == ["recorded"]
    assert any(n.startswith("WARN cannot list deployments") for n in notes)
    srv.deploy = True  # deploying needs ARM: the error is not hidden
    with pytest.raises(Exception, match="401"):
        srv.resolve([FT])
    srv.finish()
