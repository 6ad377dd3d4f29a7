"""``local_openai()``: an in-process local service, SDK clients on it, and the helpers tests use."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openai_ft.local.faults import FaultRule, RateLimiter
from openai_ft.testing._transport import (
    AsyncRoutedTransport,
    CannedReply,
    Hooks,
    LoggedRequest,
    RoutedTransport,
)

if TYPE_CHECKING:
    import httpx2
    import openai

    from openai_ft.local import LocalService
    from openai_ft.local.azure import AzureOptions

BASE_URL = "http://local.openai-ft/v1"
_RULE_KEYS = ("kind", "path", "method", "times", "every", "nth", "delay_ms")


class ManualClock:
    """A clock that moves only when a test calls :meth:`advance` (for rate-limit windows)."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


def fault_rule(rule: FaultRule | Mapping[str, Any]) -> FaultRule:
    """A :class:`FaultRule` from itself or from a dict with the keys of a fault script file."""
    if isinstance(rule, FaultRule):
        return rule
    unknown = sorted(set(rule) - set(_RULE_KEYS))
    if unknown:
        raise ValueError(f"unknown fault key(s) {', '.join(unknown)}: use {', '.join(_RULE_KEYS)}")
    return FaultRule(
        str(rule.get("kind", "")),
        str(rule.get("path", "")),
        method=str(rule["method"]).upper() if rule.get("method") else None,
        times=rule.get("times"),
        every=rule.get("every"),
        nth=rule.get("nth"),
        delay_ms=float(rule.get("delay_ms", 2000.0)),
    )


def _rules(faults: Iterable[FaultRule | Mapping[str, Any]] | Path | str) -> list[FaultRule]:
    if isinstance(faults, (str, Path)):
        from openai_ft.local.fault_file import load_fault_rules

        return load_fault_rules(Path(faults))
    return [fault_rule(f) for f in faults]


class LocalOpenAI:
    """A local service for one test, SDK clients wired to it, and helpers to steer it.

    Build it with :func:`local_openai`; ``client`` and ``async_client`` are ready to use.
    """

    def __init__(
        self,
        service: LocalService,
        *,
        steps_per_poll: int | None,
        slept: list[float],
        clock: Callable[[], float],
        api_key: str = "local",
    ) -> None:
        self.service = service
        self.api_key = api_key
        self.clock = clock
        self.slept = slept  # latency and slow faults are recorded here, never waited for
        self.steps_per_poll = steps_per_poll
        self._failures: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._hooks = Hooks(advance=self._on_poll, fail_job=self._on_create)
        self._transport = RoutedTransport(service.transport(), self._hooks, steps_per_poll != 0)
        self._closers: list[Callable[[], None]] = []
        self.client: openai.OpenAI = self.make_client()
        self.async_client: openai.AsyncOpenAI = self.make_async_client()

    # -- clients ----------------------------------------------------------------------------------

    def http_client(
        self, wrap: Callable[[httpx2.BaseTransport], httpx2.BaseTransport] | None = None
    ) -> httpx2.Client:
        """A sync httpx2 client whose requests go to the service (for ``http_client=``).

        ``wrap`` puts a transport of yours around ours (to check or alter what the SDK sees).
        """
        import httpx2

        transport: httpx2.BaseTransport = self._transport
        http = httpx2.Client(transport=wrap(transport) if wrap else transport)
        self._closers.append(http.close)
        return http

    def async_http_client(
        self, wrap: Callable[[httpx2.AsyncBaseTransport], httpx2.AsyncBaseTransport] | None = None
    ) -> httpx2.AsyncClient:
        """An async httpx2 client whose requests go to the service (``wrap`` as above)."""
        import httpx2

        transport: httpx2.AsyncBaseTransport = AsyncRoutedTransport(self._transport)
        return httpx2.AsyncClient(transport=wrap(transport) if wrap else transport)

    def make_client(
        self,
        wrap: Callable[[httpx2.BaseTransport], httpx2.BaseTransport] | None = None,
        **options: Any,
    ) -> openai.OpenAI:
        """Another sync SDK client on the service (``max_retries=0``, ``timeout=``, ...)."""
        import openai

        http = self.http_client(wrap)
        return openai.OpenAI(api_key=self.api_key, base_url=BASE_URL, http_client=http, **options)

    def make_async_client(
        self,
        wrap: Callable[[httpx2.AsyncBaseTransport], httpx2.AsyncBaseTransport] | None = None,
        **options: Any,
    ) -> openai.AsyncOpenAI:
        """Another async SDK client on the service (``wrap`` as for :meth:`http_client`)."""
        import openai

        http = self.async_http_client(wrap)
        return openai.AsyncOpenAI(
            api_key=self.api_key, base_url=BASE_URL, http_client=http, **options
        )

    # -- jobs ---------------------------------------------------------------------------------------

    def finish_jobs(self) -> list[dict[str, Any]]:
        """Run every queued or running job (and batch) to its end now; the jobs, oldest first."""
        for _ in range(100):  # each pass ends at least one job; a bound against a stuck one
            self.service.run_jobs()
            if not any(j["status"] in _ACTIVE for j in self.jobs()):
                break
        return self.jobs()

    def run_jobs(self, max_steps: int) -> None:
        """Advance jobs by at most ``max_steps`` training steps (to see them ``running``)."""
        self.service.run_jobs(max_steps=max_steps)

    def jobs(self) -> list[dict[str, Any]]:
        """Every fine-tuning job the service holds, as the API shows it, oldest first."""
        jobs = self.service.service.state.all("job")
        return [{k: v for k, v in j.items() if not k.startswith("x_")} for j in jobs]

    def fail_next_job(
        self, code: str = "server_error", message: str | None = None, param: str | None = None
    ) -> None:
        """The next job created fails with this OpenAI error ``code`` (before it trains)."""
        text = message or f"Fine-tuning job failed ({code}, set by the test)."
        with self._lock:
            self._failures.append((code, text, param))

    def _on_create(self, job_id: str) -> None:
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            from openai_ft.local.jobs.worker import fail_job

            fail_job(self.service.service, job_id, *failure)

    def _on_poll(self) -> None:
        if self.steps_per_poll is None:
            self.finish_jobs()
        else:
            self.service.run_jobs(max_steps=self.steps_per_poll)

    # -- faults, limits, replies, log ----------------------------------------------------------------

    def inject(
        self,
        kind: str,
        path: str = "",
        *,
        method: str | None = None,
        times: int | None = None,
        every: int | None = None,
        nth: int | None = None,
        delay_ms: float = 2000.0,
    ) -> FaultRule:
        """Add a fault (429, 500, 503, drop, slow) for requests whose path matches ``path``."""
        rule = FaultRule(
            kind,
            path,
            method=method.upper() if method else None,
            times=times,
            every=every,
            nth=nth,
            delay_ms=delay_ms,
        )
        self.service.faults.add(rule)
        return rule

    def set_rate_limits(
        self, rpm: int | None = None, tpm: int | None = None, limiter: str = "bucket"
    ) -> None:
        """Requests and tokens per minute from now on (None: no limit), starting full.

        ``limiter``: ``"bucket"`` (OpenAI's, refilling continuously) or ``"window"`` (a sliding minute).
        """
        self.service.service.limiter = RateLimiter(rpm, tpm, self.clock, limiter)

    def reply(self, model: str, prompt: str | list[dict[str, Any]], text: str) -> None:
        """Answer ``text`` to chat requests for ``model`` whose last user message is ``prompt``.

        ``prompt`` may also be the exact list of messages. Faults, rate limits and model checks
        still apply; only the text of a successful answer is replaced.
        """
        with self._hooks.lock:
            self._hooks.replies.append(CannedReply(model, prompt, text))

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request answered so far, in order."""
        with self._hooks.lock:
            return list(self._hooks.log)

    def requests_to(self, method: str, path: str) -> list[LoggedRequest]:
        """The logged requests with this method whose path ends with ``path``."""
        return [r for r in self.requests if r.method == method.upper() and r.path.endswith(path)]

    def close(self) -> None:
        """Close the clients made here and the service."""
        for close in self._closers:
            close()
        self.service.close()


_ACTIVE = ("validating_files", "queued", "running")


@contextlib.contextmanager
def local_openai(
    *,
    home: Path | str | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    limiter: str = "bucket",
    faults: Iterable[FaultRule | Mapping[str, Any]] | Path | str = (),
    latency_ms: float = 0.0,
    fail_rate: float = 0.0,
    seed: int = 0,
    api_key: str | None = None,
    steps_per_poll: int | None = None,
    clock: Callable[[], float] | None = None,
    azure: AzureOptions | bool | None = None,
) -> Iterator[LocalOpenAI]:
    """A fresh in-process local service and SDK clients on it, for the length of the block.

    State lives in a temporary folder removed on exit, unless ``home`` is given. Jobs train only
    when the test or the code under test asks: a poll (``GET`` of a job, its events or
    checkpoints, or a batch) first runs queued work to the end, or ``steps_per_poll`` steps of
    it (0: only :meth:`LocalOpenAI.finish_jobs` and :meth:`LocalOpenAI.run_jobs` move jobs).
    Latency and ``slow`` faults are recorded in ``slept``, never waited for. ``faults`` are
    rules, dicts with the keys of a fault script, or the path of a script (``serve --faults``).
    ``azure``: the service plays Azure OpenAI (:mod:`openai_ft.local.azure`; its ARM routes,
    ``/subscriptions/...``, answer on the same transport).
    """
    from openai_ft.local import LocalService

    folder = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="openai-ft-test-"))
    slept: list[float] = []
    ticks = clock or time.time
    service = LocalService(
        folder,
        speed=0,
        rpm=rpm,
        tpm=tpm,
        limiter=limiter,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        faults=_rules(faults),
        api_key=api_key,
        autostart=False,
        clock=ticks,
        seed=seed,
        sleep=slept.append,
        detach=False,
        azure=azure,
    )
    try:
        handle = LocalOpenAI(
            service,
            steps_per_poll=steps_per_poll,
            slept=slept,
            clock=ticks,
            api_key=api_key or "local",
        )
    except BaseException:
        service.close()
        raise
    try:
        yield handle
    finally:
        handle.close()
        if home is None:
            shutil.rmtree(folder, ignore_errors=True)
