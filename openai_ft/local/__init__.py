"""The local OpenAI-compatible service: files, uploads, fine-tuning, models, chat, batches.

    svc = LocalService(home)                      # state under home/"service"
    client = openai.OpenAI(api_key="local", base_url="http://localhost/v1",
                           http_client=httpx2.Client(transport=svc.transport()))

The same core answers the in-process transports and ``openai-ft serve``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from openai_ft.local.faults import Fault, FaultRule, FaultScript, RandomFaults, RateLimiter

if TYPE_CHECKING:
    from openai_ft.local.app import Service
    from openai_ft.local.engine import Engine
    from openai_ft.local.transport import AsyncLocalTransport, LocalTransport

DEMO_SPEED = 0.02  # seconds of wall time per training step: a demo job finishes in seconds


class LocalService:
    """One local service over a state folder, with an optional background worker for jobs."""

    def __init__(
        self,
        home: Path | None = None,
        *,
        speed: float = DEMO_SPEED,
        rpm: int | None = None,
        tpm: int | None = None,
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
    ) -> None:
        from openai_ft.config import state_dir
        from openai_ft.local.app import Service, Settings

        root = (home or state_dir()) / "service"
        settings = Settings(
            speed=speed,
            latency_ms=latency_ms,
            api_key=api_key,
            max_file_bytes=max_file_bytes,
            seed=seed,
        )
        self.faults = FaultScript.of(faults)
        self.service: Service = Service(
            root,
            settings,
            clock=clock,
            limiter=RateLimiter(rpm, tpm, clock),
            faults=self.faults,
            random_faults=RandomFaults(fail_rate, seed),
            engine=engine,
        )
        self._sleep = sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if autostart:
            self.start()

    @property
    def root(self) -> Path:
        """The folder that holds the database and blobs."""
        return self.service.state.root

    def transport(self) -> LocalTransport:
        """A sync httpx2 transport into this service (no sockets)."""
        from openai_ft.local.transport import LocalTransport

        return LocalTransport(self.service, self._sleep)

    def async_transport(self) -> AsyncLocalTransport:
        """An async httpx2 transport into this service (latency is awaited, not slept)."""
        from openai_ft.local.transport import AsyncLocalTransport

        return AsyncLocalTransport(self.service)

    def run_jobs(self, max_steps: int | None = None) -> None:
        """Advance jobs and batches in this thread, deterministically; at most ``max_steps`` training steps."""
        from openai_ft.local.runner import run_pending

        run_pending(self.service, max_steps=max_steps, pace=lambda: True)

    def start(self) -> None:
        """Start the background worker (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
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
        from openai_ft.local.runner import run_pending

        while not self._stop.is_set():
            try:
                worked = run_pending(self.service, max_steps=None, pace=self._pace)
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
        self.service.state.close()

    def __enter__(self) -> LocalService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DEMO_SPEED", "Fault", "FaultRule", "FaultScript", "LocalService"]
