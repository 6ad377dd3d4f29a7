"""The platform calendar: OpenAI's announced fine-tuning cut-off and each model's shutdown date.

These checks apply to api.openai.com only: Azure OpenAI, the local service and other
OpenAI-compatible servers keep their own calendars.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from openai_ft.errors import AuthError, BackendError, OpenAIFTError, PlatformClosed

# OpenAI announced that no new fine-tuning jobs can be created from this day on.
OPENAI_FT_CUTOFF = dt.date(2027, 1, 6)
ALTERNATIVES = (
    "use Azure OpenAI (--backend azure) or the local service (--backend local), "
    "which keep accepting fine-tuning jobs"
)
# Error codes with which the platform refuses an organisation rather than a request.
_REFUSAL_CODES = {
    "fine_tuning_not_available",
    "organization_not_allowed",
    "unsupported_organization",
}


# Refusals of an organisation that come as a plain 400 without one of the codes above.
_REFUSAL_TEXT = re.compile(
    r"organi[sz]ation.{0,80}\b(not (allowed|eligible|permitted|available)|does not have access"
    r"|no longer|cannot create|can't create)|fine-tuning is (not|no longer) available",
    re.IGNORECASE,
)


def today(clock: Callable[[], float]) -> dt.date:
    """The UTC date at ``clock()`` (a POSIX timestamp)."""
    return dt.datetime.fromtimestamp(clock(), tz=dt.UTC).date()


def check_cutoff(clock: Callable[[], float], cutoff: dt.date = OPENAI_FT_CUTOFF) -> None:
    """Refuse to create a job on api.openai.com on or after the announced cut-off."""
    day = today(clock)
    if day >= cutoff:
        raise PlatformClosed(
            f"OpenAI no longer accepts new fine-tuning jobs (cut-off {cutoff.isoformat()}, "
            f"today is {day.isoformat()})",
            tip=ALTERNATIVES,
        )


def shutdown_date(client: Any, model: str, fallback: str | None = None) -> str | None:
    """The shutdown date the service reports for a model (else ``fallback``, from the catalog)."""
    try:
        obj = client.models.retrieve(model)
    except Exception:  # the date is informative only: never fail a job on this lookup
        return fallback
    extra = getattr(obj, "model_extra", None) or {}
    value = getattr(obj, "shutdown_date", None) or extra.get("shutdown_date")
    return str(value) if value else fallback


def check_shutdown(model: str, date: str | None, clock: Callable[[], float]) -> str | None:
    """A notice naming a model's shutdown date; PlatformClosed when the date has passed."""
    if not date:
        return None
    try:
        when = dt.date.fromisoformat(str(date)[:10])
    except ValueError:
        return f"{model}: shutdown date {date}"
    if today(clock) >= when:
        raise PlatformClosed(
            f"{model} was shut down on {when.isoformat()}",
            tip="choose a newer model with --model, or " + ALTERNATIVES,
        )
    return f"{model} shuts down on {when.isoformat()}"


def explain_refusal(err: OpenAIFTError) -> OpenAIFTError:
    """Turn the platform refusing an organisation into a message with the reason and the way out."""
    if not isinstance(err, BackendError):
        return err
    refused = isinstance(err, AuthError) and err.status == 403
    worded = err.status == 400 and bool(_REFUSAL_TEXT.search(err.message))
    if refused or worded or (err.code or "") in _REFUSAL_CODES:
        return PlatformClosed(
            f"OpenAI refused to create the fine-tuning job for this organisation: {err.message}",
            tip=ALTERNATIVES,
        )
    return err
