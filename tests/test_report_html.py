"""report.html in a real browser: headless Chromium renders the page to PNG and dumps its DOM after
the inline script ran. The page has its figures (caption above each), real tables with ``<th>``,
no Markdown, the per-example view with every model's answer side by side, escaped answers that
cannot run script, and the ``#disagree`` filter. Skips only where Chromium is not installed."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from openai_ft.evaluate.api import evaluate
from openai_ft.report import write_report
from openai_ft.report_html import CSS, examples_html
from openai_ft.report_plots import _literal_text, _score_figure, font_families, short_labels
from openai_ft.testing import local_openai

BASE = "gpt-4.1-mini-2025-04-14"
OTHER = "gpt-4o-mini-2024-07-18"
XSS_ANSWER = "<img src=x onerror=\"document.title='pwned'\"> & <b>bold</b>"
XSS_QUESTION = "<script>document.title='pwned'</script> where is my parcel?"
# (question, reference, BASE's answer, OTHER's answer); examples 2, 3 and 5 disagree.
CASES = [
    ("ticket about my bill", "billing", "billing", "billing"),
    ("\u6211\u8981\u9000\u6b3e\uff0c\u8c22\u8c22", "refund", "refund", " Refund."),
    ("cannot log in | help", "login", "login", XSS_ANSWER),
    (XSS_QUESTION, "shipping", "shipping", "billing"),
    ("`code` in a question", "refund", "billing", "billing"),
    ("second bill", "billing", "billing", "refund"),
]
CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
     if p and Path(p).exists()),
    None,
)  # fmt: skip
browser = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")


def _chat(question: str, reference: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": reference},
        ]
    }


@pytest.fixture
def report(write_jsonl: Any, tmp_path: Path) -> Path:
    """report.html of a real eval run on the local service, each answer canned."""
    data = write_jsonl([_chat(q, ref) for q, ref, _, _ in CASES])
    with local_openai() as handle:
        for q, _, base, other in CASES:
            handle.reply(BASE, q, base)
            handle.reply(OTHER, q, other)
        run = evaluate(
            data,
            [BASE, OTHER],
            scorers=["exact", "classification"],
            client=handle.make_async_client(),
        )
    out = tmp_path / "rep"
    write_report(run.run_id, run.results, run.summary, out)
    return out / "report.html"


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


class _Dom(HTMLParser):
    """Tags with their attributes, and the text of the whole DOM Chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "title":
            self.title += data
        self.text.append(data)


def _dump(tmp_path: Path, url: str, *more: str) -> _Dom:
    """The DOM after the page's script ran (``more``: e.g. a screenshot in the same run)."""
    done = _chromium(tmp_path, *more, "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _Dom()
    dom.feed(done.stdout)
    return dom


def _example_rows(dom: _Dom) -> list[dict[str, str | None]]:
    return [a for t, a in dom.tags if t == "tr" and a.get("class") in ("agree", "disagree")]


@browser
def test_chromium_renders_the_report_with_figures_tables_and_filter(
    report: Path, tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"
    dom = _dump(tmp_path, report.as_uri(), f"--screenshot={shot}", "--window-size=1200,2400")
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    assert struct.unpack(">II", png[16:24]) == (1200, 2400)  # IHDR: width, height
    tags = [t for t, _ in dom.tags]
    text = "".join(dom.text)
    # The figures: scores and one confusion matrix per model, each with its caption above it.
    images = [a for t, a in dom.tags if t == "img"]
    assert len(images) == 3
    assert all(str(a["src"]).startswith("data:image/png;base64,") for a in images)
    assert tags.count("figure") == tags.count("figcaption") == 3
    assert all(tags[tags.index("figure", i) + 1] == "figcaption" for i in _indexes(tags, "figure"))
    # Real tables: header cells are <th>, and no Markdown syntax leaks into the page.
    assert tags.count("th") >= 9 and "thead" in tags and "code" in tags
    assert "`" not in text.replace("`code` in a question", "")
    assert "|---" not in text and "| " + BASE not in text
    # The per-example view: every example, both models' answers side by side, the script ran.
    rows = _example_rows(dom)
    assert [r["class"] for r in rows] == ["agree", "agree", "disagree", "disagree", "agree",
                                          "disagree"]  # fmt: skip
    assert not any("hidden" in r for r in rows)
    assert "showing 6 of 6" in text and "disagree on 3" in text
    assert not any("hidden" in a for t, a in dom.tags if a.get("id") == "examples-filter")
    # Answers holding HTML are text, never elements: no script ran, no stray <img>/<b>/<script>.
    assert XSS_ANSWER in text and XSS_QUESTION in text
    assert dom.title.startswith("Eval ") and tags.count("script") == 1
    assert "b" not in tags
    assert "\u6211\u8981\u9000\u6b3e" in text  # CJK text arrives as text

    filtered = _dump(tmp_path, report.as_uri() + "#disagree")
    rows = _example_rows(filtered)
    assert [r["class"] for r in rows if "hidden" not in r] == ["disagree"] * 3
    assert [r["class"] for r in rows if "hidden" in r] == ["agree"] * 3
    assert "showing 3 of 6" in "".join(filtered.text)
    boxes = [a for t, a in filtered.tags if a.get("id") == "only-disagree"]
    assert len(boxes) == 1 and "checked" not in boxes[0]  # the property is set, not the attribute


def _indexes(items: list[str], item: str) -> list[int]:
    return [i for i, x in enumerate(items) if x == item]


def test_without_javascript_every_row_shows_and_text_is_escaped(report: Path) -> None:
    page = report.read_text("utf-8")
    body = page.split("<script>")[0]
    # Rows are never hidden in the markup; only the script hides them, so JS off shows all.
    assert len(re.findall(r'<tr class="(?:dis)?agree">', body)) == len(CASES)
    assert 'id="examples-filter" hidden' in body
    assert "&lt;img src=x onerror=&quot;document.title=&#x27;pwned&#x27;&quot;&gt;" in body
    assert "&lt;script&gt;document.title" in body
    assert "<img src=x" not in page and "<b>" not in page
    # The policy lets only this page's own style and script run.
    assert "default-src 'none'" in page and "script-src 'sha256-" in page
    # CJK fonts are declared after the Latin ones.
    assert '"Noto Sans CJK SC"' in CSS and CSS.index("Arial") < CSS.index("Noto Sans CJK SC")


def test_checkpoint_names_stay_distinct_and_the_legend_stays_off_the_bars() -> None:
    job = "ft:gpt-4o-mini-2024-07-18:my-org:support-bot:fkz8AfNu65avf4LMuPpDO"
    names = [f"{job}:ckpt-step-{n}" for n in (10, 20, 30)] + [job]
    labels = short_labels(names, 48)
    assert len(set(labels)) == 4 and all(len(x) <= 48 for x in labels)
    assert labels[0].endswith(":ckpt-step-10") and labels[0].startswith("ft:gpt-4o")
    scores = {"exact": {"mean": 0.9, "ci95": [0.8, 1.0]}}
    models = [{"model": n, "scores": scores} for n in names]
    with _literal_text() as plt:
        fig = _score_figure(plt, models)
        try:
            fig.canvas.draw()
            ax = fig.axes[0]
            legend = ax.get_legend()
            texts = [t.get_text() for t in legend.get_texts()]
            renderer = fig.canvas.get_renderer()
            box, axes = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        finally:
            plt.close(fig)
    assert texts == labels
    assert box.x0 >= axes.x1  # right of the axes: no bar is under it


def test_plot_fonts_fall_back_to_an_installed_cjk_font() -> None:
    assert font_families(["DejaVu Sans", "Liberation Sans"]) == ["DejaVu Sans"]
    installed = ["DejaVu Sans", "WenQuanYi Zen Hei", "Noto Sans CJK SC"]
    assert font_families(installed) == ["DejaVu Sans", "Noto Sans CJK SC", "WenQuanYi Zen Hei"]


def test_examples_view_caps_rows_keeping_every_disagreement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pandas as pd

    monkeypatch.setattr("openai_ft.report_html.MAX_EXAMPLES", 3)
    records = []
    for i in range(6):
        for model, answer in ((BASE, "a"), (OTHER, "a" if i < 4 else "b")):
            records.append({"example": i, "line": i + 1, "model": model, "question": f"q{i}",
                            "reference": "a", "prediction": answer, "status": "ok",
                            "error": None, "score:exact": float(answer == "a")})  # fmt: skip
    view = examples_html(pd.DataFrame(records), [BASE, OTHER])
    kinds = re.findall(r'<tr class="((?:dis)?agree)">', view)
    assert kinds == ["agree", "disagree", "disagree"]  # example 0, then 4 and 5, in order
    assert "3 of 6 examples shown" in view and "disagree on 2" in view


def test_cjk_labels_without_a_cjk_font_are_one_warning(
    write_jsonl: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai_ft import report_plots

    labels = ["\u9000\u6b3e", "\u8d26\u5355"]  # refund, billing
    data = write_jsonl([_chat(f"ticket {i}", labels[i % 2]) for i in range(4)])
    run = evaluate(data, [BASE], scorers=["classification"])
    monkeypatch.setattr(report_plots, "font_families", lambda: ["DejaVu Sans"])
    warnings: list[str] = []
    write_report(run.run_id, run.results, run.summary, tmp_path / "r", on_warning=warnings.append)
    assert len(warnings) == 1 and warnings[0].startswith("no CJK font is installed here")
    assert "fonts-noto-cjk" in (tmp_path / "r" / "report.html").read_text("utf-8")
    monkeypatch.setattr(report_plots, "font_families", lambda: ["DejaVu Sans", "Noto Sans CJK SC"])
    assert not report_plots.cjk_text_without_font(labels)
    assert not report_plots.cjk_text_without_font(["plain", "text"])
