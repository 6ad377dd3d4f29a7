"""``openai-ft serve``: run the local OpenAI-compatible service on loopback."""

from __future__ import annotations

import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from openai_ft.errors import UsageError

if TYPE_CHECKING:
    from openai_ft.local.azure import AzureOptions


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind (loopback unless told otherwise).",
)
@click.option(
    "--port",
    default=8089,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0 picks a free one).",
)
@click.option(
    "--api-key",
    default=None,
    envvar="OPENAI_FT_SERVE_API_KEY",
    show_envvar=True,
    help="Require this bearer token (401 otherwise); the variable keeps it out of `ps`.",
)
@click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="State folder (default: $OPENAI_FT_HOME or ./.openai-ft).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds of wall time per training step (0 = as fast as possible).",
)
@click.option(
    "--rpm",
    type=click.IntRange(min=1),
    default=None,
    help="Requests-per-minute limit (429 beyond it).",
)
@click.option(
    "--tpm",
    type=click.IntRange(min=1),
    default=None,
    help="Tokens-per-minute limit (429 beyond it).",
)
@click.option(
    "--limiter",
    type=click.Choice(["bucket", "window"]),
    default="bucket",
    show_default=True,
    help="How --rpm/--tpm are counted: bucket (OpenAI's: starts full, refills continuously) or "
    "window (a sliding minute, as some compatible servers do).",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Latency added to every response.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    help="Fraction of requests answered 500/503 (seeded).",
)
@click.option(
    "--faults",
    "faults_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help='Fault script, JSON or TOML: [{"kind": "503", "path": "/v1/files$", "every": 3}, ...] '
    "(kinds 500, 503, 429, drop, slow; keys path, method, nth, every, times, delay_ms).",
)
@click.option(
    "--max-file-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=512,
    show_default=True,
    help="Largest file accepted by POST /files (413 beyond it).",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds a client has to send one request (line, headers, body); also the idle "
    "keep-alive timeout.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=128,
    show_default=True,
    help="Connections served at once; more get a 503 with retry-after.",
)
@click.option("--seed", type=int, default=0, help="Seed of the random faults.")
@click.option(
    "--engine",
    type=click.Choice(["ngram", "hf"]),
    default=None,
    envvar="OPENAI_FT_ENGINE",
    help="Training engine: ngram (stand-in) or hf (registered open-weight models only).",
)
@click.option(
    "--azure",
    is_flag=True,
    default=False,
    help="Play Azure OpenAI: Azure-shaped model ids, chat only through deployments made on the "
    "ARM routes (/subscriptions/...), trainingType and Azure-only hyperparameters accepted.",
)
@click.option(
    "--arm-token",
    default=None,
    envvar="OPENAI_FT_ARM_TOKEN",
    show_envvar=True,
    help="Bearer token the ARM routes accept (default: any bearer token); the variable keeps "
    "it out of `ps`.",
)
def serve_cmd(
    host: str,
    port: int,
    api_key: str | None,
    home: Path | None,
    speed: float | None,
    rpm: int | None,
    tpm: int | None,
    limiter: str,
    latency_ms: float,
    fail_rate: float,
    faults_file: Path | None,
    max_file_mb: float,
    request_timeout: float,
    max_connections: int,
    seed: int,
    engine: str | None = None,
    azure: bool = False,
    arm_token: str | None = None,
) -> None:
    """Run the local OpenAI-compatible service (OPENAI_BASE_URL=http://127.0.0.1:8089/v1)."""
    from openai_ft.local import DEMO_SPEED, LocalService
    from openai_ft.local.http.server import LocalServer, ServerLimits
    from openai_ft.local.jobs.launch import detach_from_env

    if engine is not None:
        import os

        from openai_ft.local.engines import get_engine

        get_engine(engine)  # hf without its extra: one ERROR line naming the install command
        os.environ["OPENAI_FT_ENGINE"] = engine  # the job processes it starts use it too
    rules = None
    if faults_file is not None:
        from openai_ft.local.fault_file import load_fault_rules

        rules = load_fault_rules(faults_file)
    if host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        sys.stderr.write(
            f"WARNING serving on {host} without --api-key: anyone who can reach it can use it\n"
        )
    try:
        service = LocalService(
            home,
            speed=DEMO_SPEED if speed is None else speed,
            rpm=rpm,
            tpm=tpm,
            limiter=limiter,
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            faults=rules,
            max_file_bytes=int(max_file_mb * 2**20),
            api_key=api_key,
            seed=seed,
            detach=detach_from_env(),  # each job trains in a process of its own
            azure=_azure(azure, arm_token),
        )
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(
            f"cannot open the service state under {home or 'the state folder'}: {exc}",
            tip="pass --home (or OPENAI_FT_HOME) pointing at a writable folder",
        ) from None
    try:
        limits = ServerLimits(request_timeout=request_timeout, max_connections=max_connections)
        server = LocalServer(service, host, port, limits=limits)
    except OSError as exc:
        service.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            tip="pick another --port (or 0 for any free port)",
        ) from None
    stop, restore = _stop_on_signals()
    server.start()  # serves in a thread: the main thread only waits for Ctrl-C or SIGTERM
    sys.stderr.write(f"openai-ft local service on {server.base_url} (state: {service.root})\n")
    sys.stderr.flush()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        restore()
        server.close()
        service.close()


def _azure(azure: bool, arm_token: str | None) -> AzureOptions | None:
    """The Azure options of ``--azure`` / ``--arm-token`` (None: play OpenAI)."""
    if not azure:
        if arm_token is not None:
            raise UsageError("--arm-token needs --azure", tip="add --azure, or drop --arm-token")
        return None
    from openai_ft.local.azure import AzureOptions

    return AzureOptions(arm_token=arm_token)


def _stop_on_signals() -> tuple[threading.Event, Callable[[], None]]:
    """An event set by SIGINT/SIGTERM, and how to put the previous handlers back.

    A KeyboardInterrupt raised wherever the serving loop happens to be (starting a request's
    thread, say) could be swallowed there and leave the server running; a flag cannot.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        return stop, lambda: None  # signals reach the main thread only
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return stop, restore
