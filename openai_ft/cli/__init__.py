"""The ``openai-ft`` command line: parse, call the library, hand the result to the console.

Subcommands live in small modules of this package and are imported only when run, so that
``openai-ft validate`` does not pay for pandas, rich or the SDK at start-up.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from openai_ft.errors import OpenAIFTError, UsageError

# name -> "module:attribute"; each attribute is a click.Command.
COMMANDS: dict[str, str] = {
    "validate": "openai_ft.cli.dataset:validate_cmd",
    "prepare": "openai_ft.cli.dataset:prepare_cmd",
    "serve": "openai_ft.cli.serve:serve_cmd",
    "upload": "openai_ft.cli.jobs:upload_cmd",
    "train": "openai_ft.cli.jobs:train_cmd",
    "watch": "openai_ft.cli.jobs:watch_cmd",
    "jobs": "openai_ft.cli.jobs:jobs_cmd",
    "status": "openai_ft.cli.jobs:status_cmd",
    "cancel": "openai_ft.cli.jobs:cancel_cmd",
    "pause": "openai_ft.cli.jobs:pause_cmd",
    "resume": "openai_ft.cli.jobs:resume_cmd",
    "checkpoints": "openai_ft.cli.jobs:checkpoints_cmd",
    "metrics": "openai_ft.cli.jobs:metrics_cmd",
    "runs": "openai_ft.cli.jobs:runs_cmd",
    "eval": "openai_ft.cli.evaluate:eval_cmd",
    "report": "openai_ft.cli.evaluate:report_cmd",
    # Azure deployments (the control plane, through ARM).
    "deploy": "openai_ft.cli.azure:deploy_cmd",
    "deployments": "openai_ft.cli.azure:deployments_cmd",
    "undeploy": "openai_ft.cli.azure:undeploy_cmd",
    # The tuning loop.
    "sweep": "openai_ft.cli.sweep:sweep_cmd",
    "retrain": "openai_ft.cli.retrain:retrain_cmd",
    "alias": "openai_ft.cli.alias:alias_cmd",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # command not built yet
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; a closed stdout leaves as _PipeClosed, which click lets through
        (it turns a BrokenPipeError into exit status 1)."""
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _PipeClosed from exc


class _PipeClosed(Exception):
    """The reader of stdout went away (``openai-ft validate f | head -1``)."""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="openai-ft")
def app() -> None:
    """From a table of examples to a measurably better fine-tuned model."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 ok, 1 the work failed, 2 usage or I/O error)."""
    from openai_ft.console import report_error

    try:
        result: Any = app.main(
            args=list(argv) if argv is not None else None,
            prog_name="openai-ft",
            standalone_mode=False,
        )
    except OpenAIFTError as exc:
        report_error(exc)
        return exc.exit_code
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C (and EOF at a prompt) into Abort; say what it stopped, in our words.
        interrupted = isinstance(exc.__context__, KeyboardInterrupt)
        report_error(_interrupted(argv) if interrupted else UsageError("aborted at the prompt"))
        return INTERRUPTED if interrupted else 1
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # bare `openai-ft` (or a group without its subcommand): the help text
        return 2
    except click.ClickException as exc:
        # bad flags and arguments: one ERROR line and a TIP, like every other usage error
        ctx = getattr(exc, "ctx", None)
        tip = f"see '{ctx.command_path} --help'" if ctx is not None else None
        report_error(UsageError(exc.format_message(), tip=tip))
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except KeyboardInterrupt:
        report_error(_interrupted(argv))
        return INTERRUPTED
    except (BrokenPipeError, _PipeClosed):
        return _pipe_closed()
    except Exception as exc:
        report_error(exc)
        return 2
    try:
        sys.stdout.flush()  # here, not at exit, so that a reader gone away ends quietly too
    except BrokenPipeError:
        return _pipe_closed()
    return int(result) if isinstance(result, int) else 0


INTERRUPTED = 130  # 128 + SIGINT, as for any command stopped with Ctrl-C

# What a Ctrl-C left behind, and the next step, per command.
_AFTER_CTRL_C = {
    "validate": "nothing was written; run the same command again to validate the files",
    "prepare": "nothing was written (files are replaced only once complete); run it again",
    "upload": "files already uploaded are reused and an interrupted upload resumes:"
    " run the same command again",
}


def _interrupted(argv: Sequence[str] | None) -> OpenAIFTError:
    """The ERROR/TIP of a Ctrl-C: which command stopped and what to do next."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = next((a for a in args if a in COMMANDS), None)
    tip = _AFTER_CTRL_C.get(name or "", "run the same command again")
    error = OpenAIFTError(f"{name or 'openai-ft'} interrupted (Ctrl-C)", tip=tip)
    error.exit_code = INTERRUPTED
    return error


def _pipe_closed() -> int:
    """The reader of stdout went away (``| head -1``): stop quietly, as cat and grep do."""
    import os

    # Point stdout at /dev/null so that the flush at exit cannot fail a second time.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass
    finally:
        os.close(devnull)
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
