"""Reports of an eval run: ``report.md``, a self-contained ``report.html`` (plots as embedded PNG,
a per-example view), and the per-example results as ``results.csv`` and ``results.jsonl``. Both
reports render one list of blocks (headings, paragraphs, tables), so no Markdown reaches the HTML.
Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft._atomic import write_bytes_atomic, write_text_atomic
from openai_ft.errors import InputError, OpenAIFTError
from openai_ft.evaluate.summary import format_p
from openai_ft.report_html import (
    Block,
    Code,
    Heading,
    Para,
    Table,
    blocks_html,
    examples_html,
    figure_html,
    page,
)
from openai_ft.report_plots import cjk_text_without_font, confusion_plot, loss_plot, score_plot

if TYPE_CHECKING:
    import pandas as pd

Warn = Callable[[str], None]
# A cell starting with one of these is run as a formula by spreadsheets (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# A checkpoint is its job's model plus ":ckpt-step-N" (OpenAI's naming, and the local service's).
_CHECKPOINT = re.compile(r":ckpt-step-\d+$")


def _job_rows(models: list[str], backend: str) -> list[tuple[str, Any]]:
    """Each model with the ledger row of the job that made it (None when there is none); the
    checkpoints of a job count as its model."""
    from openai_ft.store import Ledger

    led = Ledger()
    try:
        # The eval's backend first; a model may have been trained under another name of it.
        return [
            (
                model,
                led.one(
                    "SELECT job_id, backend, location, fine_tuned_model FROM jobs"
                    " WHERE fine_tuned_model = ? ORDER BY backend = ? DESC, updated_at DESC"
                    " LIMIT 1",
                    [_CHECKPOINT.sub("", model), backend],
                ),
            )
            for model in models
        ]
    finally:
        led.close()


def job_loss_curves(
    models: list[str], backend: str, on_warning: Warn | None = None
) -> list[tuple[str, pd.DataFrame]]:
    """Metrics of the jobs that made ``models`` (one per job), read from the host each job was
    made on (as the ledger recorded it, never another); each one left out is a line to
    ``on_warning``."""
    from openai_ft.client import recorded_client, recorded_host
    from openai_ft.job_ops import job_metrics

    warn = on_warning or (lambda _text: None)
    out: list[tuple[str, pd.DataFrame]] = []
    seen: set[str] = set()
    try:
        rows = _job_rows(models, backend) if models else []
    except OpenAIFTError as exc:  # a damaged ledger: the rest of the report is still worth it
        warn(f"loss curves left out: {exc.message}")
        return out
    for model, row in rows:
        if row is None:
            warn(f"no loss curves for {model}: no job in the ledger made it")
            continue
        if row["job_id"] in seen:  # a checkpoint of a job already drawn
            continue
        seen.add(row["job_id"])
        host = recorded_host(row["backend"], row["location"]) or row["backend"]
        try:
            client = recorded_client(row["backend"], row["location"])
            metrics = job_metrics(client, row["job_id"])
        except OpenAIFTError as exc:
            warn(f"loss curves of job {row['job_id']} (on {host}) left out: {exc.message}")
            continue
        out.append((f"{row['job_id']} -> {row['fine_tuned_model']}", metrics))
    return out


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas: a cell starting with
    ``= + - @``, tab or CR gets a leading single quote (results.jsonl keeps the raw text)."""

    def cell(value: Any) -> Any:
        return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value

    import pandas as pd

    safe = frame.copy()
    for col in safe.columns:
        kind = safe[col].dtype
        if pd.api.types.is_object_dtype(kind) or pd.api.types.is_string_dtype(kind):
            safe[col] = safe[col].map(cell, na_action="ignore")
    return safe


def _md_table(t: Table) -> str:
    lines = ["| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header)]
    lines += [
        "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in r) + " |"
        for r in t.rows
    ]
    return "\n".join(lines)


def _md_code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def blocks_markdown(blocks: list[Block]) -> str:
    """The blocks as Markdown (a blank line between them)."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            out.append("".join(_md_code(s.text) if isinstance(s, Code) else s for s in b.spans))
        else:
            out.append(_md_table(b))
    return "\n\n".join(out) + "\n"


def _f(x: Any, d: int = 3) -> str:
    return "-" if x is None else f"{x:.{d}f}" if isinstance(x, float) else str(x)


def markdown(run_id: str, summary: dict[str, Any]) -> str:
    """The Markdown report text."""
    return blocks_markdown(report_blocks(run_id, summary))


def report_blocks(run_id: str, summary: dict[str, Any]) -> list[Block]:
    """The report as blocks: scores, classification, per-label figures, best, worst examples."""
    backend, prices = summary.get("backend", "?"), summary.get("price_table_date", "?")
    parts: list[Block] = [
        Heading(1, f"Eval run {run_id}"),
        Para(("Backend ", Code(str(backend)), f"; prices as of {prices}.")),
    ]
    parts += _score_sections(summary)
    parts += _classification_sections(summary)
    parts += _label_sections(summary)
    if best := summary.get("best"):
        job = str(summary.get("checkpoints_job", "?"))
        parts += [
            Heading(2, "Best checkpoint"),
            Para(
                (
                    *("Best of job ", Code(job), " on the eval data (not by training loss): "),
                    *(Code(str(best["model"])), f" with {best['scorer']} {_f(best['score'])}."),
                )
            ),
        ]
    if summary.get("worst"):
        header = ("line", "question", "reference", "answer", "score")
        rows = tuple(_worst_row(w) for w in summary["worst"])
        parts += [Heading(2, "Worst examples"), Table(header, rows)]
    return parts


SCORE_HEADER = (
    "model",
    "score",
    "95% CI",
    "diff",
    "diff CI",
    "p-value",
    "W/T/L",
    "answered",
    "cost $",
)


def _score_sections(summary: dict[str, Any]) -> list[Block]:
    """One table per scorer: each model's score and CI, and its comparison with the first."""
    comps = {(c["model"], c["scorer"]): c for c in summary.get("comparisons", [])}
    parts: list[Block] = []
    for scorer in summary["models"][0]["scores"] if summary["models"] else []:
        rows = []
        for m in summary["models"]:
            s, c = m["scores"][scorer], comps.get((m["model"], scorer))
            versus = ["", "", "", ""]
            if c:
                wtl = f"{c['wins']}/{c['ties']}/{c['losses']}"
                versus = [_f(c["diff"]), _ci(c["ci95"]), format_p(c["p_value"]), wtl]
            answered = f"{m['answered']}/{m['examples']}"
            rows.append(
                (m["model"], _f(s["mean"]), _ci(s["ci95"]), *versus, answered, _f(m["cost_usd"], 4))
            )
        parts += [Heading(2, scorer), Table(SCORE_HEADER, tuple(rows))]
    return parts


def _classification_sections(summary: dict[str, Any]) -> list[Block]:
    """Accuracy, macro-F1 and per-class precision/recall/F1 of each model."""
    parts: list[Block] = []
    for scorer, per_model in summary.get("classification", {}).items():
        for model, rep in per_model.items():
            scores = f"accuracy {_f(rep['accuracy'])}, macro-F1 {_f(rep['macro_f1'])}"
            rows = tuple(
                (label, _f(v["precision"]), _f(v["recall"]), _f(v["f1"]), str(v["support"]))
                for label, v in rep["per_class"].items()
            )
            header = ("label", "precision", "recall", "F1", "support")
            parts += [Heading(3, f"{scorer}: {model}"), Para((scores,)), Table(header, rows)]
    return parts


def _label_sections(summary: dict[str, Any]) -> list[Block]:
    """Per-label accuracy of each compared model against the first."""
    parts: list[Block] = []
    for scorer, comparisons in summary.get("label_breakdown", {}).items():
        for comp in comparisons:
            model, vs = comp["model"], comp["vs"]
            rows = tuple(
                (
                    r["label"],
                    str(r["support"]),
                    _f(r["vs_accuracy"]),
                    _f(r["accuracy"]),
                    _f(r["diff"]),
                    format_p(r["p_value"]),
                )
                for r in comp["labels"]
            )
            header = ("label", "support", f"accuracy {vs}", f"accuracy {model}", "diff", "p-value")
            parts += [Heading(3, f"{scorer} per label: {model} vs {vs}"), Table(header, rows)]
    return parts


def _worst_row(w: dict[str, Any]) -> tuple[str, ...]:
    answer = w["prediction"] if w["prediction"] is not None else f"ERROR {w['error']}"
    return (
        str(w["line"]),
        w["question"][:80],
        w["reference"][:40],
        str(answer)[:60],
        _f(w["score"], 2),
    )


def _ci(bounds: list[Any]) -> str:
    return f"[{_f(bounds[0])}, {_f(bounds[1])}]"


def write_report(
    run_id: str,
    frame: pd.DataFrame,
    summary: dict[str, Any],
    out: Path,
    *,
    config: dict[str, Any] | None = None,
    on_warning: Warn | None = None,
) -> list[Path]:
    """Write report.md, report.html, results.csv and results.jsonl into ``out``; return the paths.

    A folder that cannot be written is an InputError; loss curves that cannot be read are
    left out, each with a line to ``on_warning`` (and a note in the HTML).
    """
    with _unwritable(out):
        out.mkdir(parents=True, exist_ok=True)
    blocks = report_blocks(run_id, summary)
    md = blocks_markdown(blocks)
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if on_warning is not None:
            on_warning(text)

    figures = "\n".join(figure_html(t, png) for t, png in _plots(summary, note))
    models = [str(m["model"]) for m in summary.get("models", [])]
    body = "\n".join(
        [
            blocks_html(blocks),
            "<h2>Plots</h2>",
            figures,
            *(f'<p class="note">Note: {html.escape(n)}</p>' for n in notes),
            examples_html(frame, models),
        ]
    )
    report_page = page(f"Eval {run_id}", body)
    paths = [out / "report.md", out / "report.html", out / "results.csv", out / "results.jsonl"]
    with _unwritable(out):
        write_text_atomic(paths[0], md)
        write_text_atomic(paths[1], report_page)
        # CRLF rows (RFC 4180): then a cell holding a lone CR is quoted too, not split in two.
        table = csv_safe(frame).to_csv(index=False, lineterminator="\r\n")
        write_bytes_atomic(paths[2], table.encode("utf-8"))
        write_text_atomic(paths[3], frame.to_json(orient="records", lines=True, force_ascii=False))
    return paths


def _plots(summary: dict[str, Any], note: Warn) -> list[tuple[str, str]]:
    """Each plot of the report as (title, base64 PNG): scores, confusion matrices, loss curves."""
    texts = [str(m["model"]) for m in summary.get("models", [])]
    for per_model in summary.get("classification", {}).values():
        texts += [str(label) for rep in per_model.values() for label in rep["labels"]]
    if cjk_text_without_font(texts):
        note("no CJK font is installed here: Chinese, Japanese or Korean text in the plots draws as"
             " boxes (install one, e.g. the fonts-noto-cjk package, and rerun the report)")  # fmt: skip
    images: list[tuple[str, str]] = []
    if (png := score_plot(summary)) is not None:
        images.append(("Scores with 95% CI", png))
    for scorer, per_model in summary.get("classification", {}).items():
        for model, rep in per_model.items():
            images.append((f"Confusion matrix: {model}", confusion_plot(rep, f"{scorer}: {model}")))
    models = [m for m in texts[: len(summary.get("models", []))] if m.startswith("ft:")]
    for title, metrics in job_loss_curves(models, summary.get("backend", "local"), note):
        if (png := loss_plot(metrics, title)) is not None:
            images.append((f"Loss curves: {title}", png))
    return images


@contextlib.contextmanager
def _unwritable(out: Path) -> Iterator[None]:
    """An OSError while writing the report is one InputError naming the folder."""
    try:
        yield
    except OSError as exc:
        raise InputError(
            f"{out}: cannot write the report there ({exc.strerror or exc})",
            tip="pass --out-dir a folder you can write to",
        ) from None
