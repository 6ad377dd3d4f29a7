"""Which Azure account the control plane acts on, and the Entra ID token it uses.

The account comes from flags or the environment: ``AZURE_SUBSCRIPTION_ID``,
``AZURE_RESOURCE_GROUP`` and the account name (``AZURE_OPENAI_ACCOUNT``, else the first label of
``AZURE_OPENAI_ENDPOINT``'s host, ``NAME.openai.azure.com``). The token is
``AZURE_MANAGEMENT_TOKEN`` when set (the output of ``az account get-access-token --query
accessToken -o tsv``), else azure-identity's ``DefaultAzureCredential`` (``az login``, managed
identity, environment credentials), the optional extra ``openai-ft[azure]``. The ARM base URL is
``AZURE_MANAGEMENT_ENDPOINT`` (default https://management.azure.com), so that a stand-in can play
ARM; the token is sent to that host only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from openai_ft.errors import AuthError, UsageError

API_VERSION = "2026-09-01"
DEFAULT_ENDPOINT = "https://management.azure.com"
INSTALL_EXTRA = "pip install 'openai-ft[azure]'"
# ARM's rule for an account name (the spec's accountName parameter).
_ACCOUNT = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,63}$")

TokenProvider = Callable[[], str]


@dataclass(frozen=True)
class ArmTarget:
    """One Azure OpenAI account as ARM names it, and the ARM endpoint that manages it."""

    subscription: str
    resource_group: str
    account: str
    endpoint: str = DEFAULT_ENDPOINT
    api_version: str = API_VERSION

    @property
    def account_path(self) -> str:
        """The account's ARM resource id (``/subscriptions/.../accounts/NAME``)."""
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.account}"
        )

    @property
    def key(self) -> str:
        """How the ledger names this account: endpoint and resource id (never a token)."""
        return self.endpoint.rstrip("/") + self.account_path


def account_from_endpoint(endpoint: str | None) -> str | None:
    """``https://NAME.openai.azure.com`` (or ``.cognitiveservices``/``.services.ai``) -> NAME."""
    if not endpoint:
        return None
    host = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint).hostname or ""
    if host.endswith(".azure.com") and host.count(".") >= 3:
        return host.split(".")[0]
    return None


def resolve_target(
    subscription: str | None = None,
    resource_group: str | None = None,
    account: str | None = None,
) -> ArmTarget:
    """The account from flags, then the environment; a missing part is one UsageError."""
    env = os.environ
    sub = subscription or env.get("AZURE_SUBSCRIPTION_ID")
    group = resource_group or env.get("AZURE_RESOURCE_GROUP")
    name = (
        account
        or env.get("AZURE_OPENAI_ACCOUNT")
        or account_from_endpoint(env.get("AZURE_OPENAI_ENDPOINT"))
    )
    account_hint = "--account / AZURE_OPENAI_ACCOUNT (or AZURE_OPENAI_ENDPOINT's host)"
    parts = (
        ("--subscription / AZURE_SUBSCRIPTION_ID", sub),
        ("--resource-group / AZURE_RESOURCE_GROUP", group),
        (account_hint, name),
    )
    missing = [what for what, value in parts if not value]
    if missing:
        raise UsageError(
            "Azure deployments need the account's subscription, resource group and name;"
            f" missing: {'; '.join(missing)}",
            tip="export AZURE_SUBSCRIPTION_ID=... AZURE_RESOURCE_GROUP=... and"
            " AZURE_OPENAI_ENDPOINT=https://NAME.openai.azure.com",
        )
    assert sub and group and name
    if not _ACCOUNT.match(name):
        raise UsageError(
            f"{name!r} is not an Azure account name (2-64 letters, digits, '_', '.', '-')",
            tip="pass --account NAME or set AZURE_OPENAI_ACCOUNT",
        )
    endpoint = (env.get("AZURE_MANAGEMENT_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    if urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).hostname:
        raise UsageError(
            f"AZURE_MANAGEMENT_ENDPOINT={endpoint!r} is not an http(s) URL",
            tip=f"unset it (default {DEFAULT_ENDPOINT}) or give a URL",
        )
    return ArmTarget(sub, group, name, endpoint)


def token_provider(endpoint: str = DEFAULT_ENDPOINT) -> TokenProvider:
    """A function that returns a bearer token for ARM (``AZURE_MANAGEMENT_TOKEN`` or Entra ID)."""
    fixed = os.environ.get("AZURE_MANAGEMENT_TOKEN", "").strip()
    if fixed:
        return lambda: fixed
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise UsageError(
            "Azure deployments need azure-identity (not installed) or AZURE_MANAGEMENT_TOKEN",
            tip=f"{INSTALL_EXTRA}, then `az login`; or export AZURE_MANAGEMENT_TOKEN=$(az account"
            " get-access-token --query accessToken -o tsv)",
        ) from None
    credential = DefaultAzureCredential()
    scope = endpoint.rstrip("/") + "/.default"

    def get() -> str:
        try:
            return str(credential.get_token(scope).token)
        except Exception as exc:  # azure-identity raises its own tree; one line for the user
            raise AuthError(
                f"no Entra ID token for {scope}: {type(exc).__name__}",
                tip="run `az login` (or set AZURE_MANAGEMENT_TOKEN)",
            ) from None

    return get


def has_credentials() -> bool:
    """True when ARM can be asked without prompting: a token in the env or azure-identity."""
    if os.environ.get("AZURE_MANAGEMENT_TOKEN", "").strip():
        return True
    try:
        import azure.identity  # noqa: F401
    except ImportError:
        return False
    return True


def poll_seconds() -> float:
    """Seconds between provisioning polls: ``OPENAI_FT_AZURE_POLL_S`` (tests, stand-ins) or 5."""
    raw = os.environ.get("OPENAI_FT_AZURE_POLL_S", "")
    try:
        value = float(raw) if raw else 5.0
    except ValueError:
        raise UsageError(
            f"OPENAI_FT_AZURE_POLL_S={raw!r} is not a number", tip="unset it or give seconds"
        ) from None
    return value if value > 0 else 5.0
