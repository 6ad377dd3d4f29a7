"""A small client for the ARM deployments API of one Azure OpenAI account (api-version 2026-09-01).

Create-or-update (PUT, idempotent by name, so a retry never makes a second deployment), get,
list (paged through ``nextLink``), delete, and the long-running operations' polling, on httpx2.
The bearer token goes to the ARM endpoint's origin only: a ``nextLink`` or operation URL on
another host is refused, never followed with the token. ARM errors become ours in one place.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from openai_ft.azure.target import ArmTarget, TokenProvider
from openai_ft.errors import (
    AuthError,
    BackendError,
    NotFound,
    OpenAIFTError,
    RateLimited,
    ServiceUnavailable,
    redact,
)

TERMINAL = ("Succeeded", "Failed", "Canceled")
# A base snapshot is deployed as name + version: gpt-4.1-mini-2025-04-14 -> gpt-4.1-mini, 2025-04-14.
_SNAPSHOT = re.compile(r"^(?P<name>.+)-(?P<version>\d{4}-\d{2}-\d{2})$")
ATTEMPTS = 4
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Deployment:
    """One deployment as ARM reports it."""

    name: str
    model: str
    model_version: str | None
    sku: str
    capacity: int | None
    state: str
    created_at: str | None = None

    @classmethod
    def from_arm(cls, body: dict[str, Any]) -> Deployment:
        """Read a ``Deployment`` resource body (missing fields are tolerated)."""
        props = body.get("properties") or {}
        model = props.get("model") or {}
        sku = body.get("sku") or {}
        system = body.get("systemData") or {}
        name, version = str(model.get("name", "")), model.get("version")
        if version and _SNAPSHOT.match(f"{name}-{version}") and ".ft-" not in name:
            name = f"{name}-{version}"  # the snapshot id, as train and eval name it
        return cls(
            name=str(body.get("name", "")),
            model=name,
            model_version=model.get("version"),
            sku=str(sku.get("name", "")),
            capacity=sku.get("capacity"),
            state=str(props.get("provisioningState") or "Unknown"),
            created_at=system.get("createdAt"),
        )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port)


class ArmClient:
    """The deployments of one account through ARM; ``sleep`` and ``clock`` are parameters."""

    def __init__(
        self,
        target: ArmTarget,
        token: TokenProvider,
        *,
        transport: httpx2.BaseTransport | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self._token = token
        self._http = httpx2.Client(transport=transport, timeout=timeout)
        self._sleep = sleep
        self._clock = clock

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> ArmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------

    def _url(self, suffix: str) -> str:
        return f"{self.target.endpoint}{self.target.account_path}{suffix}"

    def _request(
        self, method: str, url: str, *, body: dict[str, Any] | None = None, action: str
    ) -> httpx2.Response:
        """One ARM call; retried on 429/5xx/connection errors (every call here is idempotent)."""
        if _origin(url) != _origin(self.target.endpoint):
            raise BackendError(
                f"{action}: ARM pointed to another host ({urlsplit(url).hostname});"
                " not sending the token there",
                tip="check AZURE_MANAGEMENT_ENDPOINT",
            )
        params = None if "api-version=" in url else {"api-version": self.target.api_version}
        for attempt in range(ATTEMPTS):
            headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
            try:
                response = self._http.request(
                    method, url, params=params, json=body, headers=headers
                )
            except httpx2.TransportError as exc:
                if attempt == ATTEMPTS - 1:
                    raise ServiceUnavailable(
                        f"{action} failed: could not reach ARM at {self.target.endpoint}"
                        f" ({type(exc).__name__})",
                        tip="check the network and AZURE_MANAGEMENT_ENDPOINT",
                    ) from None
                self._sleep(2.0**attempt)
                continue
            if (response.status_code == 429 or response.status_code >= 500) and (
                attempt < ATTEMPTS - 1
            ):
                self._sleep(_retry_after(response, 2.0**attempt))
                continue
            if response.status_code >= 400:
                raise arm_error(response, action)
            return response
        raise AssertionError("unreachable")

    # -- deployments ---------------------------------------------------------------------------

    def get(self, name: str) -> Deployment | None:
        """The deployment called ``name``, or None."""
        try:
            r = self._request("GET", self._url(f"/deployments/{name}"), action=f"reading {name}")
        except NotFound:
            return None
        return Deployment.from_arm(r.json())

    def list(self) -> list[Deployment]:
        """Every deployment of the account (all pages)."""
        return [Deployment.from_arm(item) for item in self._pages(self._url("/deployments"))]

    def _pages(self, url: str) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        next_url: str | None = url
        while next_url and next_url not in seen:
            seen.add(next_url)
            body = self._request("GET", next_url, action="listing deployments").json()
            yield from body.get("value") or []
            next_url = body.get("nextLink") or None

    def put(self, name: str, model: str, sku: str, capacity: int) -> Deployment:
        """Create or update a deployment (ARM PUT: by name, so never two of one name).

        A fine-tuned model goes as its id with version "1" (common practice, not in the spec);
        a base snapshot as its name and date version.
        """
        snap = _SNAPSHOT.match(model) if ".ft-" not in model else None
        ref = {
            "format": "OpenAI",
            "name": snap["name"] if snap else model,
            "version": snap["version"] if snap else "1",
        }
        body = {"sku": {"name": sku, "capacity": capacity}, "properties": {"model": ref}}
        r = self._request(
            "PUT", self._url(f"/deployments/{name}"), body=body, action=f"deploying {name}"
        )
        return Deployment.from_arm(r.json())

    def delete(self, name: str) -> bool:
        """Ask ARM to delete a deployment; False when it did not exist."""
        try:
            self._request("DELETE", self._url(f"/deployments/{name}"), action=f"deleting {name}")
        except NotFound:
            return False
        return True

    def wait(
        self,
        name: str,
        *,
        timeout: float = 1800.0,
        poll: float = 5.0,
        on_state: Callable[[str], None] | None = None,
    ) -> Deployment:
        """Poll until provisioning ends: Succeeded returns it; Failed/Canceled/gone raise."""
        deadline = self._clock() + timeout
        last = ""
        while True:
            dep = self.get(name)
            if dep is None:
                raise BackendError(
                    f"deployment {name} disappeared while provisioning",
                    tip="see `openai-ft deployments`; deploy again if needed",
                )
            if dep.state != last and on_state is not None:
                on_state(dep.state)
            last = dep.state
            if dep.state == "Succeeded":
                return dep
            if dep.state in TERMINAL:
                raise BackendError(
                    f"deployment {name} of {dep.model} ended {dep.state} on Azure",
                    tip="check the model id, SKU quota and region in the Azure portal; remove"
                    f" it with `openai-ft undeploy {name} --yes`",
                )
            if self._clock() > deadline:
                raise ServiceUnavailable(
                    f"deployment {name} still {dep.state} after {timeout:.0f} s",
                    tip="check later with `openai-ft deployments` (the deployment may be billed)",
                )
            self._sleep(poll)

    def wait_deleted(self, name: str, *, timeout: float = 900.0, poll: float = 5.0) -> None:
        """Poll until the deployment is gone (the delete's long-running operation ended)."""
        deadline = self._clock() + timeout
        while (dep := self.get(name)) is not None:
            if dep.state == "Failed" or self._clock() > deadline:
                raise BackendError(
                    f"deployment {name} is still there ({dep.state}) after the delete",
                    tip=f"run `openai-ft undeploy {name} --yes` again, or delete it in the portal",
                )
            self._sleep(poll)

    # -- models --------------------------------------------------------------------------------

    def location(self) -> str | None:
        """The account's Azure region (``location`` of the account resource)."""
        r = self._request("GET", self._url(""), action="reading the account")
        value = r.json().get("location")
        return str(value) if value else None

    def retirement(self, model: str, location: str) -> dict[str, str]:
        """``{"fineTune": date, "inference": date}`` that ARM lists for a model in a region."""
        url = (
            f"{self.target.endpoint}/subscriptions/{self.target.subscription}"
            f"/providers/Microsoft.CognitiveServices/locations/{location}/models"
        )
        for item in self._pages(url):
            m = item.get("model") or {}
            if model in (m.get("name"), f"{m.get('name')}-{m.get('version')}"):
                dep = m.get("deprecation") or {}
                return {k: str(v) for k, v in dep.items() if k in ("fineTune", "inference") and v}
        return {}


def _retry_after(response: httpx2.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("retry-after", default)), MAX_RETRY_AFTER)
    except ValueError:
        return default


def arm_error(response: httpx2.Response, action: str) -> OpenAIFTError:
    """An ARM error response (``{"error": {"code", "message"}}``) as one of ours."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    code = str(err.get("code") or "") or None
    message = redact(str(err.get("message") or response.reason_phrase or "no message"))
    status = response.status_code
    rid = response.headers.get("x-ms-request-id") or response.headers.get(
        "x-ms-correlation-request-id"
    )
    text = f"{action} failed ({status}{' ' + code if code else ''}): {message}"
    kw: dict[str, Any] = {"status": status, "request_id": rid, "code": code}
    if status in (401, 403):
        return AuthError(
            text,
            tip="deploying needs a role with Microsoft.CognitiveServices/accounts/deployments/write"
            " (e.g. Cognitive Services Contributor); renew the token with `az login`",
            **kw,
        )
    if status == 404:
        return NotFound(text, tip="check the subscription, resource group and account", **kw)
    if status == 429:
        return RateLimited(text, tip="ARM is throttling; try again in a minute", **kw)
    if status >= 500:
        return ServiceUnavailable(text, tip="Azure had a problem; try again", **kw)
    return BackendError(text, **kw)
