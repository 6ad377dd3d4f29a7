"""The sweep report: report.md and report.html (plots embedded as PNG).

The table of points (hyperparameters, status, validation score with its CI, cost), the choice
and how sure it is, the test verdict, the validation score against each hyperparameter, the loss
curves of every point on one chart, and what the sweep cost.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft._atomic import write_text_atomic
from openai_ft.errors import InputError
from openai_ft.report_plots import _literal_text, _png

if TYPE_CHECKING:
    import pandas as pd

    from openai_ft.sweep import SweepResult

Row = list[str]


def _f(x: Any, d: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{d}f}" if isinstance(x, float) else str(x)


def _ci(bounds: Sequence[Any] | None) -> str:
    return "-" if not bounds else f"[{_f(bounds[0])}, {_f(bounds[1])}]"


def _hp(hp: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in hp.items())


def _scores(result: SweepResult) -> dict[int, dict[str, Any]]:
    """Each point's validation score (its final model, not its checkpoints)."""
    sel = result.selection or {}
    return {c["point"]: c for c in sel.get("candidates", []) if c.get("step") is None}


def point_rows(result: SweepResult) -> tuple[Row, list[Row]]:
    """The header and rows of the table of points."""
    scores = _scores(result)
    winner = ((result.selection or {}).get("winner") or {}).get("label")
    scorer = (result.selection or {}).get("scorer", "score")
    price = _price(result.model)
    rows = []
    for p in result.points:
        s = scores.get(p.index, {})
        cost = p.trained_tokens / 1_000_000 * price if p.trained_tokens else p.estimate_usd
        mark = " (winner)" if winner == f"p{p.index}" else ""
        status = p.status + (f": {p.error}" if p.error else "")
        rows.append(
            [
                f"p{p.index}{mark}",
                _hp(p.hyperparameters),
                status[:80],
                _f(s.get("mean")),
                _ci(s.get("ci95")),
                "-" if cost is None else f"${cost:.4f}",
                p.job_id or "-",
            ]
        )
    header = ["point", "hyperparameters", "status", f"val {scorer}", "95% CI", "cost", "job"]
    return header, rows


def _price(model: str) -> float:
    from openai_ft.catalog import model_info

    return model_info(model).training_usd_per_1m


def choice_lines(result: SweepResult) -> list[str]:
    """The winner with its score and CI, whether it stands out from the runner-up, the test."""
    sel = result.selection
    if sel is None:
        why = "interrupted" if result.interrupted else "no point produced a model"
        return [f"No selection: {why}."]
    win, runner = sel["winner"], sel.get("runner_up")
    lines = [
        f"Winner on the validation split: {win['label']} ({win['model']}), {sel['scorer']}"
        f" {_f(win['mean'])} (95% CI {_ci(win['ci95'])})."
    ]
    comps = {c["vs"]: c for c in sel.get("comparisons", [])}
    if runner is not None and runner["model"] in comps:
        c = comps[runner["model"]]
        verdict = "distinguishable" if c["distinguishable"] else "not distinguishable"
        lines.append(
            f"Runner-up {runner['label']}: {_f(runner['mean'])}; the winner is {verdict} from it"
            f" (diff {_f(c['diff'])}, 95% CI {_ci(c['ci95'])}, p {_f(c['p_value'], 4)},"
            f" Holm-corrected p {_f(c['p_holm'], 4)} over {len(comps)} comparison(s))."
        )
    elif runner is None:
        lines.append("Only one point produced a model: nothing to compare it with.")
    test = result.test
    if test is not None:
        c = test.get("comparison") or {}
        won, base = test["winner"], test["base"]
        lines.append(
            "Test split (used once, for the winner and the base model only): winner"
            f" {_f(won['mean'])} {_ci(won['ci95'])}, base {base['model']}"
            f" {_f(base['mean'])} {_ci(base['ci95'])}; difference {_f(c.get('diff'))}"
            f" (95% CI {_ci(c.get('ci95'))}, p {_f(c.get('p_value'), 4)})."
        )
        if test.get("test_used_before"):
            lines.append(
                "The test split had been used before, by sweep(s) "
                + ", ".join(test["test_used_before"])
                + ": with each use it is less of an untouched estimate."
            )
    else:
        lines.append("Test split: not evaluated (no --test-file).")
    return lines


def cost_lines(result: SweepResult) -> list[str]:
    """The sweep's cost: training (reported tokens, else the estimate), evaluation, total."""
    c = result.cost_usd
    return [
        f"Training ${c['training']:.4f}, evaluation ${c['eval']:.4f}, total ${c['total']:.4f}"
        " (training from the tokens each job reports, the estimate where none is reported yet)."
    ]


def markdown(result: SweepResult) -> str:
    """The Markdown report."""
    header, rows = point_rows(result)
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    parts = [
        f"# Sweep {result.sweep_id}",
        f"Base model {result.model}, {len(result.points)} points, backend {result.backend}.",
        "## Points",
        "\n".join(table),
        "## Choice",
        *choice_lines(result),
        "## Cost",
        *cost_lines(result),
    ]
    return "\n\n".join(parts) + "\n"


def score_plots(result: SweepResult) -> list[tuple[str, str]]:
    """One chart per hyperparameter: each point's validation score (95% CI) against its value."""
    scores = _scores(result)
    if not scores:
        return []
    keys = list(dict.fromkeys(k for p in result.points for k in p.hyperparameters))
    out = []
    with _literal_text() as plt:
        for key in keys:
            values = list(dict.fromkeys(str(p.hyperparameters.get(key)) for p in result.points))
            fig, ax = plt.subplots(figsize=(4.5, 3))
            for p in result.points:
                s = scores.get(p.index)
                if s is None or s["mean"] is None:
                    continue
                x = values.index(str(p.hyperparameters.get(key)))
                lo, hi = s["ci95"]
                err = [[max(0.0, s["mean"] - (lo or 0))], [max(0.0, (hi or 0) - s["mean"])]]
                ax.errorbar([x], [s["mean"]], yerr=err, fmt="o", capsize=4, label=f"p{p.index}")
            ax.set_xticks(range(len(values)), values)
            ax.set_xlabel(key)
            ax.set_ylabel(f"validation {(result.selection or {}).get('scorer', '')} (95% CI)")
            ax.legend(fontsize=6)
            out.append((f"Validation score vs {key}", _png(fig)))
    return out


def curves_plot(curves: Mapping[str, pd.DataFrame]) -> str | None:
    """Training (solid) and validation (dashed) loss of every point on one chart."""
    usable = {k: v for k, v in curves.items() if "step" in v and not v.empty}
    if not usable:
        return None
    with _literal_text() as plt:
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        for i, (label, frame) in enumerate(usable.items()):
            color = f"C{i % 10}"
            for col, style in (("train_loss", "-"), ("valid_loss", "--")):
                if col in frame:
                    data = frame[["step", col]].dropna()
                    if not data.empty:
                        name = f"{label} {col.split('_')[0]}"
                        ax.plot(data["step"], data[col], style, color=color, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(fontsize=6, ncol=2)
        return _png(fig)


def _paras(lines: Sequence[str]) -> str:
    return "".join(f"<p>{html.escape(x)}</p>" for x in lines)


def _html(result: SweepResult, images: list[tuple[str, str]]) -> str:
    header, rows = point_rows(result)
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    figures = "\n".join(
        f'<figure><img alt="{html.escape(t)}" src="data:image/png;base64,{p}">'
        f"<figcaption>{html.escape(t)}</figcaption></figure>"
        for t, p in images
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Sweep {html.escape(result.sweep_id)}</title><style>body{{font-family:sans-serif;"
        "max-width:60em;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
        f"<h1>Sweep {html.escape(result.sweep_id)}</h1>"
        f"<p>Base model {html.escape(result.model)}, {len(result.points)} points.</p>"
        f"<h2>Points</h2><table><tr>{cells}</tr>{body}</table>"
        f"<h2>Choice</h2>{_paras(choice_lines(result))}"
        f"<h2>Cost</h2>{_paras(cost_lines(result))}"
        f"<h2>Plots</h2>\n{figures}\n</body></html>\n"
    )


def write_sweep_report(
    result: SweepResult, curves: Mapping[str, pd.DataFrame], out: str | Path
) -> list[Path]:
    """Write report.md and report.html into ``out``; return their paths."""
    folder = Path(out)
    images = score_plots(result)
    if (png := curves_plot(curves)) is not None:
        images.append(("Loss curves of all points", png))
    paths = [folder / "report.md", folder / "report.html"]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(paths[0], markdown(result))
        write_text_atomic(paths[1], _html(result, images))
    except OSError as exc:
        raise InputError(
            f"{folder}: cannot write the sweep report there ({exc.strerror or exc})",
            tip="pass --report-dir a folder you can write to",
        ) from None
    return paths
