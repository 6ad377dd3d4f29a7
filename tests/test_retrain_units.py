"""retrain's parts: the example key and diff, the promotion rule, and refusals before training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openai_ft.cli import main
from openai_ft.local import LocalService
from openai_ft.retrain import SetScore, decide, example_key
from openai_ft.retrain.data import diff_examples
from tests.jobs_helpers import cli_service, train_files


def chat(text: str, label: str, system: str | None = None) -> dict[str, Any]:
    msgs = [{"role": "system", "content": system}] if system else []
    msgs += [{"role": "user", "content": text}, {"role": "assistant", "content": label}]
    return {"messages": msgs}


def test_the_key_is_the_normalised_prompt_not_the_reply() -> None:
    assert example_key(chat("Where is my parcel?", "shipping")) == example_key(
        chat("where is my  parcel", "refund")
    )
    assert example_key(chat("a", "x")) != example_key(chat("a", "x", system="be brief"))


def test_diff_counts_added_removed_changed_and_the_regression_set() -> None:
    old = {
        "train": [chat("t1", "a"), chat("t2", "b")],
        "test": [chat("q1", "a"), chat("q2", "b")],
    }
    new = [chat("t1", "a"), chat("t2", "CHANGED"), chat("q1", "CHANGED"), chat("n1", "c")]
    d = diff_examples(old, new)
    assert (d.added, d.removed, d.changed, d.unchanged) == (1, 1, 2, 1)
    assert (d.changed_in_regression, d.removed_from_regression) == (1, 1)
    assert d.samples["added"] == ["n1"] and sorted(d.samples["changed"]) == ["q1", "t2"]


def _set(name: str, n: int, old: float, new: float, lo: float, hi: float) -> SetScore:
    return SetScore(name, n, old, new, new - old, (lo, hi))


def test_promotion_is_non_inferiority_on_the_regression_set_then_fail_under() -> None:
    sets = [_set("regression", 20, 0.9, 0.88, -0.1, 0.05), _set("new examples", 5, 0.6, 1.0, 0, 1)]
    ok, why = decide(sets, "exact", 0.2, None)
    assert ok and "regression set (20 examples)" in why and "[-0.100, 0.050]" in why
    ok, why = decide(sets, "exact", 0.05, None)
    assert not ok and "not above -0.05 (--margin)" in why
    ok, why = decide(sets, "exact", 0.2, 0.95)  # (20 * 0.88 + 5 * 1.0) / 25 = 0.904
    assert not ok and "scores 0.904 on all 25 test examples, under --fail-under 0.95" in why
    # no earlier test split: the new test examples decide
    ok, why = decide([_set("regression", 0, 0, 0, 0, 0), sets[1]], "exact", 0.02, None)
    assert ok and why.startswith("new examples set (5 examples)")


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    return cli_service(monkeypatch)


def test_a_run_not_made_by_prepare_is_refused_with_a_tip(
    svc: LocalService,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    train, valid = train_files(tmp_path, valid_seed=2)  # written by hand: no manifest
    args = ["train", "--training-file", str(train), "--validation-file", str(valid)]
    assert main([*args, "--yes", "--wait", "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    table = tmp_path / "t.csv"
    table.write_text("text,intent\nhello,greet\n", "utf-8")
    assert main(["retrain", str(table), "--from", run_id, "--yes"]) == 2
    err = capsys.readouterr().err
    assert "was not made by `openai-ft prepare`" in err and err.count("ERROR") == 1
    assert "TIP prepare the new table" in err and "Traceback" not in err
    assert main(["retrain", str(tmp_path / "nope.csv"), "--from", run_id]) == 2
    assert "table not found" in capsys.readouterr().err
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used-0123456789")  # the ledger answers first
    assert main(["retrain", str(table), "--from", run_id, "--backend", "openai"]) == 1
    err = capsys.readouterr().err
    assert "no such run in the ledger for backend 'openai'" in err
    assert "trained on backend 'local'" in err
    assert len(svc.service.state.all("job")) == 1  # nothing trained by any of them


def _excel(path: Path, n: int) -> Path:
    import pandas as pd

    rows = [
        {"text": f"question number {i} about topic {i % 3}", "label": f"t{i % 3}"} for i in range(n)
    ]
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame([{"x": 1}]).to_excel(writer, sheet_name="notes", index=False)
        pd.DataFrame(rows).to_excel(writer, sheet_name="data", index=False)
    return path


def test_prepare_retrain_reads_the_same_sheet_and_pins_the_earlier_splits(tmp_path: Path) -> None:
    from openai_ft.dataset.prepare import prepare
    from openai_ft.retrain import Previous
    from openai_ft.retrain.data import prepare_retrain, read_examples

    first = prepare(
        _excel(tmp_path / "v1.xlsx", 40),
        out_dir=tmp_path / "v1",
        user="text",
        assistant="label",
        sheet="data",
        seed=3,
        test_size=0.25,
    )
    assert first.manifest["source"]["sheet"] == "data"
    manifest = {**first.manifest, "manifest_path": str(tmp_path / "v1" / "manifest.json")}
    splits = {
        name: read_examples(first.files.get(name)) for name in ("train", "validation", "test")
    }
    prev = Previous(
        "run-1",
        "ftjob-1",
        "local",
        "gpt-4.1-mini-2025-04-14",
        "ft:x",
        {},
        manifest,
        tmp_path / "v1",
        splits,
    )
    got = prepare_retrain(_excel(tmp_path / "v2.xlsx", 50), prev, tmp_path / "v2")
    assert (got.diff.added, got.diff.changed, got.diff.removed) == (10, 0, 0)
    assert read_examples(got.files["regression"]) == splits["test"]
    keys = {name: {example_key(e) for e in read_examples(got.files.get(name))} for name in splits}
    for name, examples in splits.items():  # every earlier example is where it was
        assert {example_key(e) for e in examples} <= keys[name]
    assert (
        got.regression == len(splits["test"]) and got.new_test == len(keys["test"]) - got.regression
    )


@pytest.mark.parametrize("flag", ["--margin", "--fail-under"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_margin_and_fail_under_must_be_finite(
    flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """nan passes and fails every comparison silently: refused before anything is read."""
    assert main(["retrain", str(tmp_path / "t.csv"), "--from", "run-x", flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ERROR Invalid value for '{flag}': '{value}' is not a finite number.")
