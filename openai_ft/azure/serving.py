"""``eval`` on Azure: a fine-tuned model answers only through a deployment; find or make one.

A model reference (``@latest``, a job id ``ftjob-...``, a checkpoint ``ftchkpt-...``, or an Azure
fine-tuned id ``BASE.ft-HEX``) resolves to its fine-tuned model, then to a deployment serving it:
an existing one, or with ``deploy=True`` a new one (Developer tier unless told otherwise), waited
for until it *answers* (a Succeeded deployment may still answer DeploymentNotReady for a while).
Any other name is taken as a deployment name, as Azure's data plane does. :class:`Serving` is a
context manager: on leaving it, the deployments it created are removed when asked, even after
Ctrl-C; one that cannot be removed is marked in the ledger and named by ``on_left``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from openai_ft.azure.arm import ArmClient
from openai_ft.azure.deployments import deploy, mark_left, open_ledger, recorded, undeploy
from openai_ft.azure.skus import Sku
from openai_ft.errors import AuthError, OpenAIFTError, ServiceUnavailable, UsageError
from openai_ft.store import Ledger

# Azure's fine-tuned ids: BASE.ft-<hex>[-suffix], a checkpoint adds :ckpt-step-N.
AZURE_FT = re.compile(r"^[A-Za-z0-9][\w.-]*?\.ft-[0-9a-f]{6,}")
NOT_READY_CODES = ("DeploymentNotReady", "DeploymentNotFound", "deployment_not_ready")
NOT_READY_STATUS = (404, 409, 423, 429, 500, 502, 503, 504)


def is_fine_tuned_ref(ref: str) -> bool:
    """True for a reference that names a fine-tuned model rather than a deployment."""
    text = ref.strip()
    return (
        text == "@latest"
        or text.startswith(("ftjob-", "ftchkpt-", "ft:"))
        or bool(AZURE_FT.match(text))
    )


def fine_tuned_model(ref: str, client: Any, ledger: Ledger, backend: str) -> str:
    """The fine-tuned model a reference names (a job's or checkpoint's model, or the id)."""
    text = ref.strip()
    if text == "@latest":
        from openai_ft.runs import require_latest_model

        return require_latest_model(backend, ledger=ledger)
    if text.startswith("ftjob-"):
        from openai_ft.client import translate_errors

        with translate_errors(f"reading job {text}"):
            job = client.fine_tuning.jobs.retrieve(text)
        if not job.fine_tuned_model:
            raise UsageError(
                f"job {text} has no fine-tuned model yet (status {job.status})",
                tip=f"wait for it: openai-ft watch {text}",
            )
        return str(job.fine_tuned_model)
    if text.startswith("ftchkpt-"):
        return _checkpoint_model(text, client, ledger, backend)
    return text


def _checkpoint_model(ident: str, client: Any, ledger: Ledger, backend: str) -> str:
    """A checkpoint's model: from the ledger, else from the checkpoints of its recent jobs."""
    row = ledger.one("SELECT model FROM checkpoints WHERE checkpoint_id = ?", (ident,))
    if row is not None:
        return str(row["model"])
    from openai_ft.client import translate_errors
    from openai_ft.runs import record_checkpoints

    jobs = ledger.query(
        "SELECT job_id FROM jobs WHERE backend = ? AND status = 'succeeded'"
        " ORDER BY created_at DESC LIMIT 20",
        (backend,),
    )
    for job in jobs if client is not None else ():
        with translate_errors(f"listing the checkpoints of {job['job_id']}"):
            found = list(client.fine_tuning.jobs.checkpoints.list(job["job_id"]))
        record_checkpoints(ledger, backend, job["job_id"], found)
        for c in found:
            if c.id == ident:
                return str(c.fine_tuned_model_checkpoint)
    raise UsageError(
        f"checkpoint {ident} belongs to none of the jobs in the ledger",
        tip="list a job's checkpoints with `openai-ft checkpoints JOB`, then retry",
    )


def find_deployment(arm: ArmClient | None, ledger: Ledger, account: str, model: str) -> str | None:
    """The name of a deployment serving ``model``: ARM's list when reachable, else the ledger."""
    if arm is None:
        names = recorded(ledger, account, model)
        return names[0] if names else None
    serving = [d for d in arm.list() if d.model == model and d.state not in ("Failed", "Deleting")]
    serving.sort(key=lambda d: d.state != "Succeeded")  # a ready one first
    return serving[0].name if serving else None


def wait_until_answers(
    client: Any,
    name: str,
    *,
    timeout: float = 900.0,
    poll: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Send a one-token request until the deployment answers; return how many were refused."""
    import openai

    from openai_ft.client import map_error

    probe = client.with_options(max_retries=0)
    deadline = clock() + timeout
    refused = 0
    while True:
        try:
            probe.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "ping"}], max_completion_tokens=1
            )
            return refused
        except openai.APIStatusError as exc:
            err = map_error(exc, f"asking deployment {name}")
            ready_soon = exc.status_code in NOT_READY_STATUS or (
                getattr(err, "code", None) in NOT_READY_CODES
            )
            if not ready_soon or clock() > deadline:
                raise err from exc
        except openai.APIConnectionError as exc:
            if clock() > deadline:
                raise map_error(exc, f"asking deployment {name}") from exc
        refused += 1
        sleep(poll)


@dataclass
class Serving:
    """Deployments for an eval's models; removes the ones it made on exit when asked."""

    arm: ArmClient | None
    client: Any
    ledger: Ledger
    backend: str
    sku: Sku
    deploy: bool = False
    undeploy_after: bool = False
    notify: Callable[[str], None] = lambda _text: None
    on_left: Callable[[str], None] = lambda _text: None
    sleep: Callable[[float], None] = time.sleep
    ready_timeout: float = 900.0
    poll: float = 5.0
    owns_ledger: bool = False

    def __post_init__(self) -> None:
        self.created: list[str] = []
        open_ledger(self.ledger)

    def resolve(self, refs: Sequence[str]) -> list[str]:
        """The model names to send: a deployment for each fine-tuned reference (``@latest`` and
        ``@alias`` first resolved as for every backend, by :func:`evaluate.api.resolve_models`)."""
        from openai_ft.evaluate.api import resolve_models

        models = resolve_models(refs, self.backend, self.ledger, allow_empty=True)
        return [self._one(m) if is_fine_tuned_ref(m) else m for m in models]

    def _one(self, ref: str) -> str:
        model = fine_tuned_model(ref, self.client, self.ledger, self.backend)
        account = self.arm.target.key if self.arm is not None else ""
        try:
            name = find_deployment(self.arm, self.ledger, account, model)
        except (AuthError, ServiceUnavailable) as exc:
            if self.deploy:
                raise
            # No ARM access today (no `az login`, say): what the ledger recorded still serves.
            self.notify(
                f"WARN cannot list deployments through ARM ({exc.message}); using the ledger"
            )
            name = find_deployment(None, self.ledger, account, model)
        if name is not None:
            self.notify(f"{ref}: deployment {name} serves {model}")
            return name
        if not self.deploy or self.arm is None:
            raise UsageError(
                f"{model} has no deployment on this Azure account, and a fine-tuned model answers"
                " only through one; nothing was sent",
                tip=f"deploy it: `openai-ft deploy {model} --yes --wait`, or add --deploy"
                " --undeploy-after to this eval (Developer tier: no hourly fee)",
            )
        self.notify(f"deploying {model} ({self.sku.option}: {self.sku.fee_text()})")
        res = deploy(
            self.arm,
            model,
            self.sku,
            wait=True,
            ledger=self.ledger,
            origin="eval",
            before_create=self.created.append,
            poll=self.poll,
            on_state=lambda s: self.notify(f"deployment of {model}: {s}"),
        )
        refused = wait_until_answers(
            self.client, res.name, timeout=self.ready_timeout, poll=self.poll, sleep=self.sleep
        )
        self.notify(
            f"deployment {res.name} answers"
            + (f" (after {refused} not-ready answers)" if refused else "")
        )
        return res.name

    def __enter__(self) -> Serving:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish()

    def finish(self) -> None:
        """Remove the deployments this eval created (with ``undeploy_after``); say which not."""
        try:
            if self.undeploy_after and self.arm is not None:
                for name in list(dict.fromkeys(self.created)):
                    self._remove(name)
        finally:
            if self.owns_ledger:
                self.ledger.close()
            if self.arm is not None:
                self.arm.close()

    def _remove(self, name: str) -> None:
        assert self.arm is not None
        try:
            self.notify(f"removing deployment {name} (--undeploy-after)")
            undeploy(self.arm, name, ledger=self.ledger, poll=self.poll)
            self.created.remove(name)
        except (OpenAIFTError, KeyboardInterrupt) as err:
            mark_left(self.arm, name, self.ledger)
            why = "interrupted" if isinstance(err, KeyboardInterrupt) else err.message
            self.on_left(
                f"deployment {name} was NOT removed ({why}); it may bill {self.sku.fee_text()}"
                f" until removed: run `openai-ft undeploy {name} --yes`"
            )


def serving_for_eval(
    settings: Any,
    *,
    deploy: bool,
    undeploy_after: bool,
    sku_option: str,
    notify: Callable[[str], None],
    on_left: Callable[[str], None],
) -> Serving:
    """The :class:`Serving` of an ``eval --backend azure``: ARM when ``deploy`` (required) or
    when credentials and the account are at hand (else the ledger's record of deployments)."""
    from openai_ft.azure.skus import sku
    from openai_ft.azure.target import has_credentials, poll_seconds, resolve_target
    from openai_ft.client import make_client

    arm = None
    if deploy or has_credentials():
        try:
            arm = _arm(resolve_target())
        except UsageError:
            if deploy:
                raise
    book = Ledger()
    return Serving(
        arm,
        make_client(settings),
        book,
        settings.name,
        sku(sku_option),
        deploy=deploy,
        undeploy_after=undeploy_after,
        notify=notify,
        on_left=on_left,
        poll=poll_seconds(),
        owns_ledger=True,
    )


def _arm(target: Any) -> ArmClient:
    from openai_ft.azure.target import token_provider

    return ArmClient(target, token_provider(target.endpoint))
