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
    except click.exceptions.Abort:
        sys.stderr.write("Aborted.\n")
        return 130
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
        sys.stderr.write("Interrupted.\n")
        return 130
    except Exception as exc:
        report_error(exc)
        return 2
    return int(result) if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
