"""The one exception tree of openai-ft.

    OpenAIFTError                 base; carries an optional ``tip`` (the next step for the user)
    ├── UsageError                bad flags, bad config, missing key              (exit 2)
    ├── InputError                a file we cannot read or parse: names file/line  (exit 2)
    ├── DataError                 the data is readable but invalid                 (exit 1)
    ├── BackendError              the service answered with an error; keeps request_id
    │   ├── AuthError             401/403 or no key
    │   ├── NotFound              404
    │   ├── RateLimited           429
    │   └── ServiceUnavailable    connection failures, 5xx
    ├── PlatformClosed            the platform no longer accepts this request (cut-off)
    ├── BudgetExceeded            the cost estimate is above --budget-usd
    └── JobFailed                 a fine-tuning job ended failed or cancelled       (exit 1)

Every message is one line that says what is wrong and how to fix it. The API key never appears
in a message: :func:`redact` is applied to every message built from foreign text.
"""

from __future__ import annotations

import os
import re

_KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.]{8,}"),
]


# Environment variables whose values never appear in a message (API keys, the ARM token).
SECRET_VARIABLES = (
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_FT_API_KEY",
    "AZURE_MANAGEMENT_TOKEN",
)


def redact_secrets(text: str) -> str:
    """Remove only the API keys in use (those in the environment) from text; for stored data
    such as model replies, which must not change otherwise (a label may look like a key)."""
    for name in SECRET_VARIABLES:
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def redact(text: str) -> str:
    """Remove anything that looks like an API key (and the keys in the environment) from text."""
    text = redact_secrets(text)
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
    return text


class OpenAIFTError(Exception):
    """Base class of every error openai-ft raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, tip: str | None = None) -> None:
        self.message = redact(message)
        self.tip = redact(tip) if tip else None
        super().__init__(self.message)


class UsageError(OpenAIFTError):
    """Bad flags, configuration or environment (exit code 2)."""


class InputError(OpenAIFTError):
    """An input file is missing, unreadable or malformed (exit code 2)."""


class DataError(OpenAIFTError):
    """The data was read but is not valid training data (exit code 1)."""

    exit_code = 1


class BackendError(OpenAIFTError):
    """The API answered with an error."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        tip: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        self.status = status
        self.request_id = request_id
        self.code = code
        if request_id:
            message = f"{message} (request id {request_id})"
        super().__init__(message, tip=tip)


class AuthError(BackendError):
    """The key is missing, wrong or not allowed to do this."""

    exit_code = 2


class NotFound(BackendError):
    """The file, job or model does not exist on this backend."""


class RateLimited(BackendError):
    """The service answered 429."""


class ServiceUnavailable(BackendError):
    """The service could not be reached or answered 5xx."""


class PlatformClosed(OpenAIFTError):
    """The platform has closed this feature (for example OpenAI's fine-tuning cut-off)."""

    exit_code = 1


class BudgetExceeded(OpenAIFTError):
    """The cost estimate is above the budget the user set."""

    exit_code = 1


class JobFailed(OpenAIFTError):
    """A fine-tuning job ended failed or cancelled."""

    exit_code = 1
