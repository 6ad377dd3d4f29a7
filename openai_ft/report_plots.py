"""The plots of a report, each as base64 PNG: scores with CI bars, confusion matrices, loss curves.

Every text in them (model names, labels, titles) comes from the user and is drawn as written; long
names are shortened from the middle (the distinguishing tail, such as ``:ckpt-step-30``, stays).
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# Fonts with Chinese, Japanese and Korean glyphs, in order of preference; matplotlib falls back
# glyph by glyph through the ones installed (none is shipped or downloaded).
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Arial Unicode MS",
)
_CJK_TEXT = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
LEGEND_WIDTH = 48  # characters of a model name in a legend before it is shortened


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by replacing its middle with an ellipsis."""
    if len(text) <= width:
        return text
    head = max(1, (width - 1) // 3)
    return text[:head] + "\u2026" + text[len(text) - (width - 1 - head) :]


def short_labels(names: Sequence[str], width: int) -> list[str]:
    """Each name shortened from the middle to ``width``, wider where that would make two of them
    read alike: distinct names stay distinct."""
    longest = max((len(n) for n in names), default=0)
    while True:
        labels = [shorten_middle(n, width) for n in names]
        if width >= longest or len(set(labels)) == len(set(names)):
            return labels
        width += 4


def font_families(installed: Iterable[str] | None = None) -> list[str]:
    """matplotlib's font list: DejaVu Sans (shipped with it), then each CJK font installed here."""
    if installed is None:
        from matplotlib import font_manager

        installed = (f.name for f in font_manager.fontManager.ttflist)
    names = set(installed)
    return ["DejaVu Sans", *(f for f in CJK_FONTS if f in names)]


def cjk_text_without_font(texts: Iterable[str]) -> bool:
    """True when some text has CJK characters and no CJK font is installed to draw them."""
    return any(_CJK_TEXT.search(t) for t in texts) and len(font_families()) == 1


@contextlib.contextmanager
def _literal_text() -> Iterator[Any]:
    """pyplot with every label drawn as written: model names, labels and titles come from the
    user, and matplotlib would otherwise read ``$...$`` in them as math (and fail on bad math).
    CJK text falls back to an installed CJK font; without one, :func:`cjk_text_without_font`
    says so once instead of a warning per missing glyph."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rc: dict[str, Any] = {"text.parse_math": False, "text.usetex": False}
    rc["font.family"] = font_families()
    with matplotlib.rc_context(rc), warnings.catch_warnings():  # type: ignore[arg-type]
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
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
        return _png(_score_figure(plt, models))


def _score_figure(plt: Any, models: list[dict[str, Any]]) -> Any:
    """The figure of :func:`score_plot`; its legend sits right of the axes, off the bars."""
    scorers = list(models[0]["scores"])
    labels = short_labels([str(m["model"]) for m in models], LEGEND_WIDTH)
    fig, ax = plt.subplots(figsize=(min(10, max(4, 1.2 * len(scorers) * len(models))), 3.2))
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
        ax.bar(xs, means, width, yerr=[lows, highs], capsize=4, label=labels[i])
    ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(scorers))], scorers)
    ax.set_ylabel("mean score (95% CI)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return fig


def confusion_plot(rep: dict[str, Any], title: str) -> str:
    """A confusion matrix heat map (rows = reference, columns = predicted), as base64 PNG."""
    with _literal_text() as plt:
        return _confusion_figure(plt, rep, title)


def _confusion_figure(plt: Any, rep: dict[str, Any], title: str) -> str:
    labels = [shorten_middle(str(label), 30) for label in rep["labels"]]
    matrix = rep["confusion"]
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
    ax.set_title(shorten_middle(title, 70), fontsize=8)
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
    ax.set_title(shorten_middle(title, 80), fontsize=8)
    ax.legend(fontsize=7)
    return _png(fig)
