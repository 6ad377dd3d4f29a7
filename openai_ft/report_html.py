"""``report.html``: one self-contained page (plots as embedded PNG, no external script, style or
font) rendered from the report's blocks, with a per-example view of every model's answer side by
side that a tiny inline script filters to the examples where the models disagree (``#disagree``).

Every text on the page comes from the user (answers may hold HTML) and is escaped; a Content
Security Policy allows only this page's own style and script, by hash, as a second line of defence.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openai_ft.evaluate.scorers import normalize
from openai_ft.evaluate.summary import SCORE_PREFIX
from openai_ft.report_plots import short_labels

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Code:
    """Inline code in a paragraph (an id, a model name)."""

    text: str


@dataclass(frozen=True)
class Heading:
    """A section title."""

    level: int
    text: str


@dataclass(frozen=True)
class Para:
    """A paragraph: plain text and :class:`Code` spans."""

    spans: tuple[str | Code, ...]


@dataclass(frozen=True)
class Table:
    """A table with one header row."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Heading | Para | Table

MAX_EXAMPLES = 1000  # rows of the per-example view; results.csv holds every one
MAX_CELL = 600  # characters of a question or answer shown in a cell
MODEL_WIDTH = 32  # characters of a model name in a column header

# CJK fonts after the Latin ones: the browser takes each glyph from the first font that has it.
FONTS = (
    'system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",'
    '"Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","PingFang SC","Hiragino Sans GB",'
    '"Microsoft YaHei","WenQuanYi Micro Hei","Noto Sans CJK JP","Noto Sans CJK KR",sans-serif'
)
CSS = (
    f"body{{font-family:{FONTS};max-width:72em;margin:2em auto;padding:0 1em;line-height:1.4}}"
    'code{font-family:ui-monospace,Menlo,Consolas,"DejaVu Sans Mono","Noto Sans Mono CJK SC",'
    "monospace;background:#f2f2f2;padding:0 .25em;border-radius:3px}"
    ".scroll{overflow-x:auto}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
    "th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "figure{margin:1.5em 0;padding:.6em;border:1px solid #ddd;border-radius:4px}"
    "figcaption{font-weight:600;margin-bottom:.5em}figure img{display:block;max-width:100%;"
    "height:auto}.text{white-space:pre-wrap;overflow-wrap:anywhere;max-width:30em}"
    ".marks{font-size:85%;color:#555;margin-top:.25em}.pass{color:#176b2c}.fail,.err{color:#b00020}"
    "tr.disagree>td:first-child{border-left:4px solid #d97706}.note{color:#8a4b00}"
    "[hidden]{display:none!important}"
)
# Without JavaScript every row shows and the filter stays hidden; with it, the box (or #disagree
# in the address) hides the rows where every model gave the same answer.
SCRIPT = (
    "(function(){var box=document.getElementById('only-disagree');if(!box)return;"
    "var rows=document.querySelectorAll('#examples-table tbody tr'),"
    "shown=document.getElementById('examples-shown');"
    "function apply(){var n=0;rows.forEach(function(r){"
    "r.hidden=box.checked&&!r.classList.contains('disagree');if(!r.hidden)n++;});"
    "shown.textContent='(showing '+n+' of '+rows.length+')';}"
    "function fromHash(){box.checked=location.hash==='#disagree';apply();}"
    "box.addEventListener('change',function(){history.replaceState(null,'',"
    "location.href.split('#')[0]+(box.checked?'#disagree':''));apply();});"
    "window.addEventListener('hashchange',fromHash);"
    "document.getElementById('examples-filter').hidden=false;fromHash();})();"
)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = (
    f"default-src 'none'; img-src data:; style-src {_sha256(CSS)}; script-src {_sha256(SCRIPT)};"
    " base-uri 'none'; form-action 'none'"
)
_NUMBER = re.compile(r"^[<>]?[-+]?\d[\d.,]*%?$|^\d+/\d+(/\d+)?$|^\[.*\]$")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def blocks_html(blocks: Sequence[Block]) -> str:
    """The blocks as HTML: real tables with ``<th>`` header cells, code as ``<code>``."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            spans = (
                f"<code>{_e(s.text)}</code>" if isinstance(s, Code) else _e(s) for s in b.spans
            )
            out.append(f"<p>{''.join(spans)}</p>")
        else:
            out.append(_table(b))
    return "\n".join(out)


def _table(t: Table) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in t.header)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if _NUMBER.match(c) else ''}>{_e(c)}</td>" for c in row)
        + "</tr>"
        for row in t.rows
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def figure_html(title: str, png: str) -> str:
    """One plot with its caption above it, both inside one ``<figure>``."""
    return (
        f'<figure><figcaption>{_e(title)}</figcaption><img alt="{_e(title)}"'
        f' src="data:image/png;base64,{png}"></figure>'
    )


def page(title: str, body: str) -> str:
    """The whole page around ``body``: style, policy and the filter script, all inline."""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
        f"{body}\n<script>{SCRIPT}</script></body></html>\n"
    )


def examples_html(frame: pd.DataFrame, models: Sequence[str]) -> str:
    """The per-example view: question, expected answer and each model's answer with its marks."""
    scorers = [c for c in frame.columns if str(c).startswith(SCORE_PREFIX)]
    # A scorer whose every score is 0 or 1 gets pass/fail marks; the others show their value.
    binary = {c for c in scorers if frame[c].dropna().astype(float).isin([0.0, 1.0]).all()}
    examples = _by_example(frame.to_dict("records"), models, scorers, binary)
    if not examples:
        return '<h2 id="examples">Examples</h2>\n<p>No examples in this run.</p>'
    disagree = {i for i, ex in examples.items() if _disagree(ex["answers"].values())}
    chosen = sorted(examples, key=lambda i: (i not in disagree, i))[:MAX_EXAMPLES]
    labels = short_labels(list(models), MODEL_WIDTH)
    head = "<th scope='col'>line</th><th scope='col'>question</th><th scope='col'>expected</th>"
    head += "".join(
        f'<th scope="col" title="{_e(m)}">{_e(label)}</th>'
        for m, label in zip(models, labels, strict=True)
    )
    rows = [_example_row(examples[i], models, i in disagree) for i in sorted(chosen)]
    parts = [
        '<h2 id="examples">Examples</h2>',
        _examples_status(len(examples), len(disagree), models),
    ]
    if len(chosen) < len(examples):
        parts.append(
            f'<p class="note">{len(chosen)} of {len(examples)} examples shown (every'
            " disagreement first); results.csv holds them all.</p>"
        )
    parts.append(
        '<div class="scroll"><table id="examples-table"><thead><tr>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return "\n".join(parts)


def _examples_status(total: int, disagree: int, models: Sequence[str]) -> str:
    if len(models) < 2:
        return f"<p>{total} examples of one model: nothing to compare.</p>"
    return (
        f"<p>{total} examples; the models disagree on {disagree} (marked &ne;)."
        ' <span id="examples-shown"></span></p>\n'
        '<p id="examples-filter" hidden><label><input type="checkbox" id="only-disagree">'
        f" only the {disagree} examples where the models disagree</label></p>"
    )


def _by_example(
    records: Sequence[dict[Any, Any]], models: Sequence[str], scorers: list[str], binary: set[str]
) -> dict[int, dict[str, Any]]:
    """Records grouped by example: its line, question, reference and each model's record."""
    wanted = set(models)
    out: dict[int, dict[str, Any]] = {}
    for r in records:
        if r["model"] not in wanted:
            continue
        ex = out.setdefault(
            int(r["example"]),
            {"line": r["line"], "question": r["question"], "reference": r["reference"],
             "answers": {}},
        )  # fmt: skip
        ex["answers"][r["model"]] = {
            "text": r["prediction"] if r["status"] == "ok" else None,
            "error": r.get("error"),
            "marks": [(c[len(SCORE_PREFIX) :], _mark(r.get(c), c in binary)) for c in scorers],
        }
    return out


def _disagree(answers: Any) -> bool:
    """True when two models gave different answers (after normalising case, punctuation and
    whitespace); a failed request counts as an answer of its own."""
    keys = {normalize(a["text"]) if isinstance(a["text"], str) else "\0error" for a in answers}
    return len(keys) > 1


def _example_row(ex: dict[str, Any], models: Sequence[str], disagree: bool) -> str:
    mark = " &ne;" if disagree else ""
    cells = [
        f"<td>{_e(ex['line'])}{mark}</td>",
        f'<td><div class="text">{_e(_clip(ex["question"]))}</div></td>',
        f'<td><div class="text">{_e(_clip(ex["reference"]))}</div></td>',
    ]
    for m in models:
        a = ex["answers"].get(m)
        if a is None:
            cells.append('<td class="err">not asked</td>')
            continue
        if isinstance(a["text"], str):
            text = f'<div class="text">{_e(_clip(a["text"]))}</div>'
        else:
            text = f'<div class="text err">ERROR {_e(_clip(str(a["error"] or "no answer")))}</div>'
        marks = " &middot; ".join(f"{_e(name)} {mark}" for name, mark in a["marks"])
        cells.append(f'<td>{text}<div class="marks">{marks}</div></td>')
    kind = "disagree" if disagree else "agree"
    return f'<tr class="{kind}">{"".join(cells)}</tr>'


def _mark(value: Any, binary: bool) -> str:
    """A score as HTML: a tick or cross for a pass/fail scorer, else its value; - when unscored."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    v = float(value)
    if not binary:
        return f"{v:.2f}"
    return '<span class="pass">&#10003;</span>' if v else '<span class="fail">&#10007;</span>'


def _clip(text: Any) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= MAX_CELL else s[: MAX_CELL - 1] + "\u2026"
