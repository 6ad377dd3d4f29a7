"""Help a newcomer can read: every command and option explained, choices listed, names consistent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from openai_ft.cli import COMMANDS, app, main

REPO = Path(__file__).resolve().parents[1]


def _commands() -> Iterator[tuple[str, click.Command]]:
    """Every built command and subcommand, with its path (``runs show``)."""
    ctx = click.Context(app)

    def walk(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None:
                continue  # reserved in COMMANDS, module not built yet
            path = f"{prefix} {name}".strip()
            yield path, command
            if isinstance(command, click.Group):
                yield from walk(command, path)

    yield from walk(app, "")


def test_every_command_and_visible_option_has_help_text() -> None:
    seen = {path for path, _ in _commands()}
    assert {"validate", "prepare", "upload", "train", "eval", "report", "jobs"} <= seen
    missing = []
    for path, command in _commands():
        if not (command.help or command.short_help):
            missing.append(f"{path}: no docstring")
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{path} {'/'.join(param.opts)}")
    assert missing == []


def test_backend_choices_read_the_same_everywhere() -> None:
    for path, command in _commands():
        for param in command.params:
            if "--backend" in getattr(param, "opts", ()):
                assert isinstance(param.type, click.Choice), path
                assert list(param.type.choices) == ["local", "openai", "azure"], path


def test_eval_help_lists_the_backends_and_latest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--backend [local|openai|azure]" in out
    assert "@latest = the newest fine-tuned model on this backend" in out


def test_report_takes_out_dir_like_the_other_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["report", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--out-dir" in out and "--out " not in out  # --out: a hidden, deprecated alias
    folder_options = {
        opt
        for _, command in _commands()
        for param in command.params
        for opt in getattr(param, "opts", ())
        if opt in ("--out", "--out-dir") and not getattr(param, "hidden", False)
    }
    assert folder_options == {"--out-dir"}


# Options of other tools the README quotes (ruff, mypy, az, torchrun).
OTHER_TOOLS = {"--check", "--strict", "--query", "--nproc-per-node"}


def test_readme_mentions_only_options_that_exist_and_lists_them() -> None:
    readme = (REPO / "README.md").read_text("utf-8")
    options = {
        opt
        for _, command in _commands()
        for param in command.params
        for opt in (*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ()))
    }
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", readme))
    assert mentioned - options - OTHER_TOOLS == set()
    for option in ("--workers", "--poll-interval", "--home", "--seed", "--role", "--out-dir"):
        assert option in mentioned, option
    # the README's eval example is deterministic
    example = next(line for line in readme.splitlines() if "openai-ft eval --data" in line)
    assert "--temperature 0" in example
    assert "`@latest` is the latest fine-tuned model on this backend" in readme
    arch = (REPO / "docs" / "ARCHITECTURE.md").read_text("utf-8")
    assert "`../shared/STYLE.md`" in arch and "/work/shared" not in arch


def test_commands_table_is_sorted_help_lists_every_built_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for path, _ in _commands():
        if " " not in path:
            assert path in COMMANDS and f"  {path} " in out
