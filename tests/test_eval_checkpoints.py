"""``--checkpoints JOB``: a real job's checkpoints and final model, best by held-out score."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from openai_ft.catalog import inference_cost, model_info
from openai_ft.cli import main
from openai_ft.client import make_async_client, make_client
from openai_ft.config import BackendSettings
from openai_ft.errors import UsageError
from openai_ft.evaluate.api import evaluate_async
from openai_ft.evaluate.cache import open_ledger
from openai_ft.evaluate.checkpoints import best_model
from openai_ft.local import LocalService
from openai_ft.store import Ledger

BASE = "gpt-4.1-mini-2025-04-14"
LABELS = ["billing", "shipping", "refund", "login"]
WORDS = {
    "billing": ["invoice", "charged twice", "payment"],
    "shipping": ["parcel", "delivery", "courier"],
    "refund": ["money back", "return", "reimburse"],
    "login": ["password", "sign in", "locked out"],
}


def rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    """Tickets whose intent shows through a paraphrase (the label itself is not in the text)."""
    out = []
    for i in range(offset, offset + n):
        label = LABELS[i % 4]
        hint = WORDS[label][(i // 4) % 3]
        out.append({"messages": [
            {"role": "system", "content": "Classify the support ticket."},
            {"role": "user", "content": f"ticket {i}: my {hint} question"},
            {"role": "assistant", "content": label}]})  # fmt: skip
    return out


def toks_of(summary: dict[str, Any], model: str) -> tuple[int, int]:
    m = next(m for m in summary["models"] if m["model"] == model)
    return m["prompt_tokens"], m["completion_tokens"]


def train_job(home: Path) -> tuple[str, list[str]]:
    """Train a 3-epoch job on the local service; return its id and its checkpoints + final model."""
    svc = LocalService(home, autostart=False, speed=0)
    client = make_client(BackendSettings("local", home=home), service=svc)
    body = "\n".join(json.dumps(r) for r in rows(40)).encode()
    f = client.files.create(file=("train.jsonl", body), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=BASE, training_file=f.id, hyperparameters={"n_epochs": 3}, seed=7
    )
    svc.run_jobs()
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded" and job.fine_tuned_model
    ckpts = [
        c.fine_tuned_model_checkpoint for c in client.fine_tuning.jobs.checkpoints.list(job.id)
    ]
    assert len(ckpts) >= 2 and all(":ckpt-step-" in c for c in ckpts)
    svc.close()
    return job.id, [*ckpts, job.fine_tuned_model]


async def test_checkpoints_best_by_held_out_score(tmp_path: Path, write_jsonl: Any) -> None:
    home = tmp_path / "home"
    job_id, expected = train_job(home)
    data = write_jsonl(rows(24, offset=1000), name="valid.jsonl")
    svc = LocalService(home, autostart=False, speed=0)
    settings = BackendSettings("local", home=home)
    client = make_async_client(settings, service=svc, max_retries=0)
    res = await evaluate_async(data, [BASE], scorers=["exact", "classification"], settings=settings,
                               client=client, ledger=open_ledger(Ledger(home / "runs.db")),
                               checkpoints=job_id)  # fmt: skip
    svc.close()
    models = [m["model"] for m in res.summary["models"]]
    assert models[0] == BASE and sorted(models[1:]) == sorted(expected)
    assert models[-1] == expected[-1]  # checkpoints by step, then the final model
    best = res.summary["best"]
    assert best["model"] in expected and best["scorer"] == "exact"
    means = {m["model"]: m["scores"]["exact"]["mean"] for m in res.summary["models"]}
    assert best["score"] == max(means[m] for m in expected) == means[best["model"]]
    assert res.summary["checkpoints_job"] == job_id
    # The baseline is compared against but never named best, whatever it scores.
    assert {c["model"] for c in res.summary["comparisons"]} == set(expected)
    # Costs: the base model at base prices, fine-tuned ids and checkpoints at fine-tuned prices.
    for m in res.summary["models"]:
        toks = (m["prompt_tokens"], m["completion_tokens"])
        price_in, price_out = model_info(m["model"]).inference_prices(m["model"] != BASE)
        want = (toks[0] * price_in + toks[1] * price_out) / 1e6
        assert m["cost_usd"] == pytest.approx(want, abs=1e-6) and m["cost_usd"] > 0
    base_cost = res.summary["models"][0]["cost_usd"]
    assert base_cost == pytest.approx(inference_cost(BASE, *toks_of(res.summary, BASE)), abs=1e-6)
    assert base_cost < inference_cost(f"ft:{BASE}::x", *toks_of(res.summary, BASE))
    # Per-label breakdown of each candidate against the baseline, consistent with the totals.
    breakdown = res.summary["label_breakdown"]["classification"]
    assert [b["model"] for b in breakdown] == models[1:]
    for b in breakdown:
        assert [r["label"] for r in b["labels"]] == sorted(LABELS)
        assert sum(r["support"] for r in b["labels"]) == 24
        correct = sum(r["accuracy"] * r["support"] for r in b["labels"])
        model_mean = next(m for m in res.summary["models"] if m["model"] == b["model"])
        assert correct / 24 == pytest.approx(
            model_mean["scores"]["classification"]["mean"], abs=1e-5
        )


def test_cli_checkpoints_json_terminal_and_report(
    tmp_path: Path, write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    job_id, expected = train_job(tmp_path / "home")  # the CLI's OPENAI_FT_HOME (conftest)
    data = write_jsonl(rows(16, offset=500), name="test.jsonl")
    assert main(["eval", "--data", str(data), "--checkpoints", job_id, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"run", "models", "comparisons", "best"} <= set(summary)
    by_step = sorted(expected[:-1], key=lambda m: int(m.rsplit("-", 1)[1]))
    assert [m["model"] for m in summary["models"]] == [*by_step, expected[-1]]
    means = {m["model"]: m["scores"]["exact"]["mean"] for m in summary["models"]}
    assert summary["best"]["score"] == max(means.values()) == means[summary["best"]["model"]]
    assert main(["eval", "--data", str(data), "--checkpoints", job_id]) == 0
    shown, err = capsys.readouterr()
    assert f"best of {job_id} on held-out data: {summary['best']['model']}" in shown
    # After the tables (stdout): one verdict per comparison on the first scorer; where things
    # are goes to stderr.
    tail = shown.splitlines()[-(len(expected) - 1) :]
    for line, model in zip(tail, [*by_step[1:], expected[-1]], strict=True):
        assert line.startswith(f"{model} is ") and f" {by_step[0]} on exact: " in line
        assert re.search(r"\(95% CI \[-?\d\.\d{3}, -?\d\.\d{3}\], p [=<] [\d.]+, McNemar\)$", line)
    saved, report = err.splitlines()[-2:]
    hint = re.fullmatch(r"report: openai-ft report (eval-[\w-]+) --out-dir reports/\1", report)
    assert hint is not None
    assert saved == f"saved: {tmp_path / 'home' / 'evals' / hint.group(1)}"
    assert (tmp_path / "home" / "evals" / hint.group(1) / "summary.json").exists()
    assert shown.index("worst examples") < shown.index(tail[0])
    out = tmp_path / "rep"
    assert main(["report", "latest", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"report: {out / 'report.html'}"
    md = (out / "report.md").read_text()
    assert "## Best checkpoint" in md and summary["best"]["model"] in md


def test_cli_checkpoints_of_unknown_job_is_one_line(
    write_jsonl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(rows(2))
    assert main(["eval", "--data", str(data), "--checkpoints", "ftjob-nope"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("ERROR") and "ftjob-nope" in err and "Traceback" not in err


def test_best_model_ties_and_missing_scores() -> None:
    def entry(model: str, mean: float | None) -> dict[str, Any]:
        return {"model": model, "scores": {"exact": {"mean": mean}, "bleu": {"mean": 1.0}}}

    summary = {"models": [entry("base", 1.0), entry("c1", 0.5), entry("c2", 0.7),
                          entry("final", 0.7), entry("c3", None)]}  # fmt: skip
    best = best_model(summary, ["c1", "c2", "final", "c3"])
    assert best == {"model": "final", "scorer": "exact", "score": 0.7}  # tie: the later one
    assert best_model(summary, ["c3"]) is None
    with pytest.raises(UsageError, match="no model"):
        from openai_ft.evaluate.api import resolve_models

        resolve_models([], "local", None)
