"""The local OpenAI-compatible service: files, uploads, fine-tuning, models, chat, batches.

    svc = LocalService(home)                      # state under home/"service"
    client = openai.OpenAI(api_key="local", base_url="http://localhost/v1",
                           http_client=httpx2.Client(transport=svc.transport()))

The same core answers the in-process transports and ``openai-ft serve``. Jobs train either in
this process (a background thread, or ``run_jobs`` called by a test) or, with ``detach=True`` (the
CLI and ``serve``), each in a job process of its own that outlives the command that started it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from openai_ft.local.faults import Fault, FaultRule, FaultScript, RandomFaults, RateLimiter

if TYPE_CHECKING:
    from openai_ft.local.azure import AzureOptions
    from openai_ft.local.engines import Engine
    from openai_ft.local.http.app import Service
    from openai_ft.local.http.transport import AsyncLocalTransport, LocalTransport
    from openai_ft.local.jobs.launch import Launcher

DEMO_SPEED = 0.02  # seconds of wall time per training step: a demo job finishes in seconds
SCAN_EVERY = 2.0  # seconds between looks for runnable jobs that no process holds (detach mode)


class LocalService:
    """One local service over a state folder, with an optional background worker for jobs.

    ``limiter`` is how ``rpm``/``tpm`` are counted: ``"bucket"`` (OpenAI's, refilling
    continuously) or ``"window"`` (a sliding minute).
    ``detach=True``: jobs never train in this process; each runs in a job process of its own
    (:mod:`openai_ft.local.jobs.launch`), started when it is created or resumed, or when the worker
    finds it runnable with no live process (one that died is replaced). Job processes choose
    their engine as any service does (``engine=`` here is not passed on to them).

    ``azure=True`` (or an :class:`~openai_ft.local.azure.AzureOptions`): play Azure OpenAI, see
    :mod:`openai_ft.local.azure`.
    """

    def __init__(
        self,
        home: Path | None = None,
        *,
        speed: float = DEMO_SPEED,
        rpm: int | None = None,
        tpm: int | None = None,
        limiter: str = "bucket",
        latency_ms: float = 0,
        fail_rate: float = 0.0,
        faults: FaultScript | Iterable[FaultRule] | None = None,
        api_key: str | None = None,
        max_file_bytes: int = 512 * 2**20,
        autostart: bool = True,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
        engine: Engine | None = None,
        sleep: Callable[[float], None] = time.sleep,
        detach: bool = False,
        azure: AzureOptions | bool | None = None,
    ) -> None:
        from openai_ft.config import state_dir
        from openai_ft.local.http.app import Service, Settings

        root = (home or state_dir()) / "service"
        settings = Settings(
            speed=speed,
            latency_ms=latency_ms,
            api_key=api_key,
            max_file_bytes=max_file_bytes,
            seed=seed,
            azure=_azure_options(azure),
        )
        self.faults = FaultScript.of(faults)
        self.service: Service = Service(
            root,
            settings,
            clock=clock,
            limiter=RateLimiter(rpm, tpm, clock, limiter),
            faults=self.faults,
            random_faults=RandomFaults(fail_rate, seed),
            engine=engine,
        )
        self._sleep = sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.launcher: Launcher | None = None
        if detach:
            from openai_ft.local.jobs.launch import Launcher

            self.launcher = Launcher(self.service)
        if autostart:
            self.start()

    @property
    def root(self) -> Path:
        """The folder that holds the database and blobs."""
        return self.service.state.root

    def transport(self) -> LocalTransport:
        """A sync httpx2 transport into this service (no sockets)."""
        from openai_ft.local.http.transport import LocalTransport

        return LocalTransport(self.service, self._sleep)

    def async_transport(self) -> AsyncLocalTransport:
        """An async httpx2 transport into this service (latency is awaited, not slept)."""
        from openai_ft.local.http.transport import AsyncLocalTransport

        return AsyncLocalTransport(self.service)

    def run_jobs(self, max_steps: int | None = None) -> None:
        """Advance jobs and batches in this thread, deterministically; at most ``max_steps`` training steps."""
        from openai_ft.local.jobs.runner import run_pending

        run_pending(self.service, max_steps=max_steps, pace=lambda: True)

    def start_job_processes(self) -> list[str]:
        """Detach mode: start a process for each runnable job that has none; the ids started."""
        return self.launcher.scan() if self.launcher is not None else []

    def start(self) -> None:
        """Start the background worker (idempotent); in detach mode, first start missing job processes."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.start_job_processes()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="openai-ft-local-worker", daemon=True
        )
        self._thread.start()

    def _pace(self) -> bool:
        speed = self.service.settings.speed
        if speed > 0:
            self._stop.wait(speed)
        return not self._stop.is_set()

    def _loop(self) -> None:
        from openai_ft.local.jobs.runner import run_pending

        detach = self.launcher is not None
        last_scan = time.monotonic()
        while not self._stop.is_set():
            try:
                worked = run_pending(self.service, max_steps=None, pace=self._pace, jobs=not detach)
                if detach and time.monotonic() - last_scan >= SCAN_EVERY:
                    last_scan = time.monotonic()
                    self.start_job_processes()
            except Exception:
                worked = False
            if not worked:
                self.service.wake.wait(0.2)
                self.service.wake.clear()

    def close(self) -> None:
        """Stop the worker and close the database connections."""
        self._stop.set()
        self.service.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.launcher is not None:
            self.launcher.close()  # its job processes train on
        self.service.state.close()

    def __enter__(self) -> LocalService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _azure_options(azure: AzureOptions | bool | None) -> AzureOptions | None:
    """``azure=`` as options: True means the defaults, False/None not Azure."""
    if azure is None or azure is False:
        return None
    from openai_ft.local.azure import AzureOptions

    return AzureOptions() if azure is True else azure


__all__ = ["DEMO_SPEED", "Fault", "FaultRule", "FaultScript", "LocalService"]
