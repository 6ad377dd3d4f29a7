"""retrain end to end on the local service (ngram engine): diff, fixed regression set, promotion.

v1 of a ticket table is prepared and trained; v2 adds 20% new rows and changes 5% (labels
corrected): retrain shows that diff, continues training, compares old and new on the earlier
test split and promotes. v3 has every label corrupted: the new model is worse and is refused.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from openai_ft.cli import main
from openai_ft.local import LocalService
from openai_ft.retrain import example_key
from tests.jobs_helpers import cli_service

PHRASES = {
    "billing": "I was charged twice on my invoice",
    "shipping": "my parcel has not arrived yet, where is the delivery",
    "refund": "please give my money back for the returned item",
    "login": "I cannot sign in, the password reset fails",
}
INTENTS = list(PHRASES)


def _rows(start: int, n: int) -> list[dict[str, str]]:
    return [
        {"text": f"{PHRASES[INTENTS[i % 4]]} (ticket {i})", "intent": INTENTS[i % 4]}
        for i in range(start, start + n)
    ]


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "intent"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    return cli_service(monkeypatch)


@pytest.fixture
def first_run(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str, list[dict[str, str]]]:
    """v1 (100 rows, 5 of them mislabelled) prepared and trained: its run id and model."""
    v1 = _rows(0, 100)
    for row in v1[:5]:  # mislabelled in v1, corrected in v2
        row["intent"] = INTENTS[(INTENTS.index(row["intent"]) + 1) % 4]
    table = _write(tmp_path / "v1.csv", v1)
    prep = ["prepare", str(table), "--user", "text", "--assistant", "intent", "--seed", "7",
            "--val-size", "0.1", "--test-size", "0.2", "--out-dir", str(tmp_path / "v1")]  # fmt: skip
    assert main(prep) == 0
    files = [str(tmp_path / "v1" / f"{s}.jsonl") for s in ("train", "validation")]
    train = ["train", "--training-file", files[0], "--validation-file", files[1], "--n-epochs",
             "3", "--seed", "1", "--yes", "--wait", "--json"]  # fmt: skip
    capsys.readouterr()
    assert main(train) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["status"] == "succeeded"
    assert main(["alias", "set", "prod", job["fine_tuned_model"], "--reason", "v1"]) == 0
    capsys.readouterr()
    return job["run_id"], job["fine_tuned_model"], v1


def test_retrain_shows_the_diff_trains_compares_and_promotes(
    svc: LocalService,
    tmp_path: Path,
    first_run: tuple[str, str, list[dict[str, str]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id, old_model, v1 = first_run
    v2 = [dict(r) for r in v1] + _rows(100, 25)  # 25 new rows: 20% of the new table
    for i, row in enumerate(v2[:5]):  # 5 changed rows: labels corrected
        row["intent"] = INTENTS[i % 4]
    table = _write(tmp_path / "v2.csv", v2)
    args = ["retrain", str(table), "--from", run_id, "--margin", "0.1", "--yes"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for kind, n in (("added", 25), ("changed", 5), ("removed", 0), ("unchanged", 95)):
        assert re.search(rf"^  {kind} +{n}\b", out, re.M), (kind, out)
    assert "promoted: prod -> ft:" in out
    shown = [line for line in out.splitlines() if not line.startswith(("old ", "new ", "  in "))]
    assert all(len(line) <= 80 for line in shown)

    prepared = tmp_path / "v2.retrain"
    old_test = _jsonl(tmp_path / "v1" / "test.jsonl")
    regression = _jsonl(prepared / "regression.jsonl")
    assert regression == old_test  # the earlier test split, as it was
    train_keys = {example_key(e) for e in _jsonl(prepared / "train.jsonl")}
    test_keys = {example_key(e) for e in _jsonl(prepared / "test.jsonl")}
    assert not train_keys & {example_key(e) for e in old_test}  # never trained on
    assert {example_key(e) for e in old_test} <= test_keys
    assert len(test_keys) > len(old_test)  # new rows reached the test split too

    jobs = svc.service.state.all("job")
    assert len(jobs) == 2 and jobs[-1]["model"] == old_model  # --continue from the v1 model
    assert main(["alias", "get", "prod"]) == 0
    new_model = capsys.readouterr().out.strip()
    assert new_model.startswith("ft:") and new_model != old_model
    assert main(["alias", "history", "prod", "--json"]) == 0
    last = json.loads(capsys.readouterr().out)[-1]
    assert last["previous_model"] == old_model and "regression set" in last["reason"]

    # a rerun is an ordinary idempotent train: it attaches to the job, creates nothing
    assert main([*args, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["attached"] is True and len(svc.service.state.all("job")) == 2
    assert again["prepared"]["diff"]["added"] == 25 and again["promoted"] is True
    regress = again["sets"][0]
    assert regress["name"] == "regression" and regress["examples"] == len(old_test)
    assert main(["alias", "history", "prod", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2  # v1, then the retrained model once


def test_retrain_refuses_a_worse_model(
    svc: LocalService,
    tmp_path: Path,
    first_run: tuple[str, str, list[dict[str, str]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, old_model, v1 = first_run
    corrupt = [
        {"text": r["text"], "intent": INTENTS[(INTENTS.index(r["intent"]) + 1) % 4]}
        for r in v1 + _rows(100, 25)
    ]
    table = _write(tmp_path / "v3.csv", corrupt)
    assert main(["retrain", str(table), "--from", "@prod", "--fresh", "--yes"]) == 1
    captured = capsys.readouterr()
    err = [line for line in captured.err.splitlines() if line.startswith("ERROR")]
    assert len(err) == 1 and err[0].startswith("ERROR not promoted: retrain of run-")
    assert "regression set (20 examples) exact: new " in err[0] and "95% CI [" in err[0]
    assert "the lower bound is not above -0.02" in err[0] and "Traceback" not in captured.err
    assert "changed" in captured.out
    jobs = svc.service.state.all("job")
    assert len(jobs) == 2 and jobs[-1]["model"] != old_model  # --fresh: from the base model
    assert main(["alias", "get", "prod"]) == 0
    assert capsys.readouterr().out.strip() == old_model  # prod still names the v1 model


def test_bad_from_is_one_line(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _write(tmp_path / "t.csv", _rows(0, 20))
    assert main(["retrain", str(table), "--from", "run-nope", "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR --from run-nope: no such run in the ledger") and "TIP" in err


def test_ctrl_c_while_training_leaves_the_job_and_a_rerun_attaches(
    svc: LocalService,
    tmp_path: Path,
    first_run: tuple[str, str, list[dict[str, str]]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openai_ft.cli import jobs as cli_jobs

    run_id, _, v1 = first_run
    table = _write(tmp_path / "v2.csv", v1 + _rows(100, 25))
    args = ["retrain", str(table), "--from", run_id, "--margin", "0.1", "--yes"]
    drive = cli_jobs.SLEEP

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_jobs, "SLEEP", interrupt)
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "keeps running, nothing was compared or promoted" in err and "TIP run the same" in err
    monkeypatch.setattr(cli_jobs, "SLEEP", drive)
    assert main(args) == 0
    assert "promoted: prod -> ft:" in capsys.readouterr().out
    assert len(svc.service.state.all("job")) == 2  # the first run's and this one, created once


def test_a_failed_job_is_one_line_and_promotes_nothing(
    svc: LocalService,
    tmp_path: Path,
    first_run: tuple[str, str, list[dict[str, str]]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from openai_ft.cli import jobs as cli_jobs
    from openai_ft.local.jobs.worker import fail_job

    run_id, old_model, v1 = first_run
    table = _write(tmp_path / "v2.csv", v1 + _rows(100, 25))

    def fail_the_new_job(_seconds: float) -> None:
        for job in svc.service.state.all("job"):
            if job["status"] not in ("succeeded", "failed", "cancelled"):
                fail_job(svc.service, job["id"], "server_error", "the training server failed", None)

    monkeypatch.setattr(cli_jobs, "SLEEP", fail_the_new_job)
    assert main(["retrain", str(table), "--from", run_id, "--yes"]) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "Traceback" not in captured.err
    assert errors[0].endswith(
        "ended failed: server_error: the training server failed; nothing was compared or promoted"
    )
    assert "promoted" not in captured.out
    assert [j["status"] for j in svc.service.state.all("job")] == ["succeeded", "failed"]
    assert main(["alias", "get", "prod"]) == 0
    assert capsys.readouterr().out.strip() == old_model
