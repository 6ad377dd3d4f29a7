"""Value objects of validation: Issue, TokenStats, ValidationReport (re-exported by validate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openai_ft.catalog import Estimate


@dataclass(frozen=True)
class Issue:
    """One problem: a 1-based ``line`` (None for the whole file), a stable snake_case ``code``."""

    line: int | None
    code: str
    message: str
    field: str | None
    severity: str  # "error" | "warning"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of an issue: line, code, message, field."""
        return {"line": self.line, "code": self.code, "message": self.message, "field": self.field}


@dataclass(frozen=True)
class TokenStats:
    """Token totals of a file and the distribution of tokens per example."""

    total: int = 0
    assistant: int = 0
    min: int = 0
    max: int = 0
    mean: float = 0.0
    p50: int = 0
    p95: int = 0
    histogram: tuple[tuple[int, int], ...] = field(default=())  # (upper bound, count)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: total, assistant, per_example{min,max,mean,p50,p95}."""
        return {
            "total": self.total,
            "assistant": self.assistant,
            "per_example": {
                "min": self.min,
                "max": self.max,
                "mean": round(self.mean, 2),
                "p50": self.p50,
                "p95": self.p95,
            },
        }


@dataclass(frozen=True)
class ValidationReport:
    """Everything ``validate`` found in one file."""

    path: str
    method: str
    model: str
    examples: int
    errors: tuple[Issue, ...]
    warnings: tuple[Issue, ...]
    tokens: TokenStats
    estimate: Estimate

    @property
    def valid(self) -> bool:
        """True when there are no errors (warnings never block)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """The documented ``--json`` shape."""
        return {
            "path": self.path,
            "method": self.method,
            "model": self.model,
            "examples": self.examples,
            "valid": self.valid,
            "errors": [i.to_dict() for i in self.errors],
            "warnings": [i.to_dict() for i in self.warnings],
            "tokens": self.tokens.to_dict(),
            "estimate": {
                "n_epochs": self.estimate.n_epochs,
                "trained_tokens": self.estimate.trained_tokens,
                "usd": self.estimate.usd,
                "price_source": self.estimate.price_source,
            },
        }
