"""The deployment SKUs of a fine-tuned model on Azure: ARM name, hosting fee, auto-deletion rule.

A dated table: the hosting fee is what Azure charges per hour for a deployment of a fine-tuned
model to exist, whether it answers or not (tokens are billed on top). Prices change; the date
and source are shown with every figure.
"""

from __future__ import annotations

from dataclasses import dataclass

from openai_ft.errors import UsageError

PRICES_DATE = "2026-11-29"
PRICES_SOURCE = "Azure OpenAI pricing for fine-tuned model hosting, as quoted in openai-ft issue 12"


@dataclass(frozen=True)
class Sku:
    """One deployment type of a fine-tuned model."""

    option: str  # what `--sku` takes
    arm_name: str  # sku.name in the ARM request
    hourly_usd: float
    auto_delete: str  # Azure's rule, in words
    default_capacity: int = 1

    def hourly(self, fine_tuned: bool = True) -> float:
        """USD per hour a deployment costs to exist (base models pay for tokens only)."""
        return self.hourly_usd if fine_tuned else 0.0

    def fee_text(self, fine_tuned: bool = True) -> str:
        """The hosting fee in words, with the table's date."""
        if not fine_tuned:
            return f"no hosting fee for a base model (tokens billed as used; as of {PRICES_DATE})"
        if not self.hourly_usd:
            return f"no hourly hosting fee (tokens billed as used; prices as of {PRICES_DATE})"
        return (
            f"hosting fee ${self.hourly_usd:.2f}/hour while it exists, used or not"
            f" (${self.hourly_usd * 24:.2f}/day; prices as of {PRICES_DATE})"
        )

    def deletion_text(self, fine_tuned: bool = True) -> str:
        """Azure's auto-deletion rule for a deployment of this SKU."""
        return self.auto_delete if fine_tuned else "none for a base model"


SKUS: dict[str, Sku] = {
    "developer": Sku("developer", "DeveloperTier", 0.0, "Azure deletes it 24 hours after creation"),
    "standard": Sku(
        "standard", "Standard", 1.70, "Azure deletes it after 15 days without a request"
    ),
    "globalstandard": Sku(
        "globalstandard", "GlobalStandard", 1.70, "Azure deletes it after 15 days without a request"
    ),
}


def sku(option: str) -> Sku:
    """The SKU for a ``--sku`` value (case-insensitive)."""
    found = SKUS.get(option.lower().replace("-", "").replace("_", ""))
    if found is None:
        raise UsageError(f"unknown SKU {option!r}", tip=f"choose one of {', '.join(SKUS)}")
    return found


def by_arm_name(name: str) -> Sku | None:
    """The SKU whose ARM name is ``name`` (None for SKUs not in the table, e.g. provisioned)."""
    return next((s for s in SKUS.values() if s.arm_name.lower() == name.lower()), None)
