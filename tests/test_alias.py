"""Model aliases: the ledger's record and history, the CLI, and ``@prod`` in train and eval."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

import openai_ft
from openai_ft.aliases import alias_history, check_name, list_aliases, resolve_alias, set_alias
from openai_ft.cli import main
from openai_ft.errors import NotFound, UsageError
from openai_ft.evaluate.api import resolve_models
from openai_ft.local import LocalService
from openai_ft.store import Ledger
from tests.jobs_helpers import chat_rows, cli_service, train_files, write_rows

BASE = "gpt-4.1-mini-2025-04-14"


@pytest.fixture
def book(home: Path) -> Ledger:
    led = Ledger(home / "runs.db")
    yield led  # type: ignore[misc]
    led.close()


def test_set_keeps_history_with_who_when_why_and_the_model_before(book: Ledger) -> None:
    first = set_alias(
        "prod", "ft:a", backend="local", reason="first", ledger=book, clock=lambda: 1.0
    )
    assert (first.previous_model, first.set_at, first.reason) == (None, 1.0, "first")
    assert first.set_by is not None and "@" in first.set_by
    second = set_alias("prod", "ft:b", backend="local", reason="better", ledger=book, by="ann@box")
    assert (second.previous_model, second.previous_backend) == ("ft:a", "local")
    assert resolve_alias("prod", "local", ledger=book) == "ft:b"
    assert resolve_alias("@prod", ledger=book) == "ft:b"
    history = alias_history("prod", ledger=book)
    assert [(h.model, h.previous_model, h.reason) for h in history] == [
        ("ft:a", None, "first"),
        ("ft:b", "ft:a", "better"),
    ]
    assert history[1].set_by == "ann@box"
    set_alias("staging", "ft:c", backend="local", ledger=book)
    assert [(e.name, e.model) for e in list_aliases(ledger=book)] == [
        ("prod", "ft:b"),
        ("staging", "ft:c"),
    ]


def test_names_latest_is_reserved_and_refs_are_not_model_ids(book: Ledger) -> None:
    for bad in ("latest", "@LATEST", "run:abc", "9lives", "a b", ""):
        with pytest.raises(UsageError):
            check_name(bad)
    with pytest.raises(UsageError, match="not a model id"):
        set_alias("prod", "@latest", backend="local", ledger=book)
    with pytest.raises(NotFound, match="alias 'prod' is not set"):
        resolve_alias("prod", ledger=book)
    with pytest.raises(NotFound):
        alias_history("prod", ledger=book)


def test_an_alias_refuses_to_resolve_on_another_backend(book: Ledger) -> None:
    set_alias("prod", "ft:local-model", backend="local", ledger=book)
    with pytest.raises(UsageError) as err:
        resolve_models(["@prod"], "openai", book)
    assert "on backend 'local', not on 'openai'" in err.value.message
    assert err.value.tip and "--backend" in err.value.tip
    assert resolve_models([BASE, "@prod"], "local", book) == [BASE, "ft:local-model"]
    # an "@..." that cannot be an alias name is left to the other kinds of reference
    assert resolve_models(["@run:run-1"], "local", book) == ["@run:run-1"]


def test_the_package_attribute_reads_an_alias(home: Path) -> None:
    set_alias("prod", "ft:x", backend="local")
    assert openai_ft.alias("prod") == "ft:x"
    importlib.import_module("openai_ft.aliases")  # the module must not shadow the function
    assert openai_ft.alias("prod") == "ft:x"
    assert "alias" in openai_ft.__all__


@pytest.fixture
def svc(monkeypatch: pytest.MonkeyPatch) -> LocalService:
    return cli_service(monkeypatch)


def test_cli_set_get_list_history(svc: LocalService, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alias", "get", "prod"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR alias 'prod' is not set") and "Traceback" not in err
    assert main(["alias", "set", "prod", BASE, "--reason", "baseline"]) == 0
    assert capsys.readouterr().out.strip() == f"prod -> {BASE}"
    assert main(["alias", "set", "prod", "gpt-no-such-model"]) == 1
    assert "404" in capsys.readouterr().err
    assert main(["alias", "set", "latest", BASE]) == 2
    assert main(["alias", "get", "prod"]) == 0
    assert capsys.readouterr().out == BASE + "\n"  # only the id: $(openai-ft alias get prod)
    assert main(["alias", "get", "prod", "--backend", "openai"]) == 2
    assert "not on 'openai'" in capsys.readouterr().err
    assert main(["alias", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"prod  {BASE}" and "baseline" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert main(["alias", "history", "prod", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["model"] == BASE and entry["backend"] == "local" and entry["reason"] == "baseline"


def test_train_and_eval_with_model_at_prod(
    svc: LocalService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, valid = train_files(tmp_path, valid_seed=2)
    args = ["train", "--training-file", str(train), "--validation-file", str(valid), "--yes"]
    assert main([*args, "--model", BASE, "--wait"]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert first.startswith("ft:")
    assert main(["alias", "set", "prod", "@latest", "--reason", "first model"]) == 0
    assert capsys.readouterr().out.strip() == f"prod -> {first}"
    more = write_rows(tmp_path / "more.jsonl", chat_rows(12, seed=5))
    more_args = ["train", "--training-file", str(more), "--yes", "--json"]
    assert main([*more_args, "--model", "@prod", "--no-wait"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["model"] == first  # continued from the model prod names
    data = write_rows(tmp_path / "eval.jsonl", chat_rows(4, seed=9))
    assert main(["eval", "--data", str(data), "--model", "@prod", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [m["model"] for m in summary["models"]] == [first]
