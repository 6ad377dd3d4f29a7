"""The plots of a report, each as base64 PNG: scores with CI bars, confusion matrices, loss curves.

Every text in them (model names, labels, titles) comes from the user and is drawn as written.
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@contextlib.contextmanager
def _literal_text() -> Iterator[Any]:
    """pyplot with every label drawn as written: model names, labels and titles come from the
    user, and matplotlib would otherwise read ``$...$`` in them as math (and fail on bad math)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        yield plt


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def score_plot(summary: dict[str, Any]) -> str | None:
    """Bar chart of each model's mean per scorer with 95% CI error bars, as base64 PNG."""
    models = summary.get("models") or []
    if not models:
        return None
    with _literal_text() as plt:
        return _score_figure(plt, models)


def _score_figure(plt: Any, models: list[dict[str, Any]]) -> str:
    scorers = list(models[0]["scores"])
    fig, ax = plt.subplots(figsize=(max(4, 1.8 * len(scorers) * len(models)), 3.2))
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        means = [m["scores"][s]["mean"] or 0.0 for s in scorers]
        lows = [
            max(0.0, (m["scores"][s]["mean"] or 0) - (m["scores"][s]["ci95"][0] or 0))
            for s in scorers
        ]
        highs = [
            max(0.0, (m["scores"][s]["ci95"][1] or 0) - (m["scores"][s]["mean"] or 0))
            for s in scorers
        ]
        xs = [j + i * width for j in range(len(scorers))]
        ax.bar(xs, means, width, yerr=[lows, highs], capsize=4, label=m["model"][:40])
    ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(scorers))], scorers)
    ax.set_ylabel("mean score (95% CI)")
    ax.legend(fontsize=7)
    return _png(fig)


def confusion_plot(rep: dict[str, Any], title: str) -> str:
    """A confusion matrix heat map (rows = reference, columns = predicted), as base64 PNG."""
    with _literal_text() as plt:
        return _confusion_figure(plt, rep, title)


def _confusion_figure(plt: Any, rep: dict[str, Any], title: str) -> str:
    labels, matrix = rep["labels"], rep["confusion"]
    size = max(3.0, 0.45 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for r, row in enumerate(matrix):
        for c, v in enumerate(row):
            if v:
                ax.text(c, r, str(v), ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(title, fontsize=8)
    return _png(fig)


def loss_plot(metrics: pd.DataFrame, title: str) -> str | None:
    """Training and validation loss per step, as base64 PNG (None without loss columns)."""
    cols = [c for c in ("train_loss", "valid_loss", "full_valid_loss") if c in metrics]
    if "step" not in metrics or not cols:
        return None
    with _literal_text() as plt:
        return _loss_figure(plt, metrics, cols, title)


def _loss_figure(plt: Any, metrics: pd.DataFrame, cols: list[str], title: str) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 3))
    for c in cols:
        data = metrics[["step", c]].dropna()
        if not data.empty:
            ax.plot(data["step"], data[c], label=c, marker="." if c != "train_loss" else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7)
    return _png(fig)
