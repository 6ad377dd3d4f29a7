"""Job processes: one detached ``python -m openai_ft.local.jobs.jobproc`` per runnable job.

A service that detaches jobs (the CLI's, ``openai-ft serve``) never trains in its own threads. When
a job is created or resumed, and whenever it finds a runnable job that no live process holds, it
starts a job process in a new session (so Ctrl-C in a terminal does not reach it), with stdout and
stderr appended to ``<service>/jobs/<job_id>.log``. The job process claims the job's lease and
trains it to the end with no other command attached (see :mod:`openai_ft.local.jobs.jobproc`).

Who holds a job is the lease (``state.leases``). A job process's lease owner names its host and pid
(``jobproc:HOST:PID:UUID``), so a process on the same host that finds that pid dead takes the job
over at once instead of waiting for the heartbeat to go stale.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai_ft.local.http.app import Service
    from openai_ft.local.state import State

DETACH_ENV = "OPENAI_FT_LOCAL_DETACH"
LAUNCH_ENV = "OPENAI_FT_LOCAL_LAUNCH"
ENTRY = "openai_ft.local.jobs.jobproc"
HOST = socket.gethostname()
RETRY_AFTER = 30  # seconds before a job whose process died while starting is tried again

# The services of this process that detach jobs, each with its launcher (see job_runnable()).
_LAUNCHERS: weakref.WeakKeyDictionary[Service, Launcher] = weakref.WeakKeyDictionary()


def detach_from_env() -> bool:
    """Whether jobs run in their own processes: ``OPENAI_FT_LOCAL_DETACH`` (default on; 0 = off)."""
    return os.environ.get(DETACH_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def job_runnable(svc: Service, job_id: str) -> None:
    """A job was created or resumed: wake the worker thread, or start its job process."""
    svc.wake.set()
    launcher = _LAUNCHERS.get(svc)
    if launcher is not None:
        launcher.launch(job_id)


def owner_tag() -> str:
    """The lease owner of this job process: host and pid, so a successor can see it died."""
    return f"jobproc:{HOST}:{os.getpid()}:{uuid.uuid4().hex}"


def local_pid(owner: str) -> int | None:
    """The pid of a job process on this host named by a lease owner, else None."""
    parts = owner.split(":")
    if len(parts) != 4 or parts[0] != "jobproc" or parts[1] != HOST or not parts[2].isdigit():
        return None
    return int(parts[2])


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    if os.name == "nt":
        return True  # kill(pid, 0) would send CTRL_C there: trust the lease heartbeat instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def is_job_process(pid: int, job_id: str) -> bool:
    """True if ``pid`` is alive and is a job process for ``job_id`` (not a reused pid)."""
    if not pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: the caller also checks the lease heartbeat
    return ENTRY.encode() in argv and job_id.encode() in argv


def lease_of(state: State, job_id: str) -> tuple[str, float] | None:
    """The owner and last heartbeat of a job's lease, or None if nobody holds it."""
    with state.tx() as conn:
        row = conn.execute("SELECT owner, heartbeat FROM leases WHERE id = ?", (job_id,)).fetchone()
    return (str(row[0]), float(row[1])) if row else None


def claim(state: State, job_id: str, owner: str, now: float, stale_after: float) -> bool:
    """Take a job's lease if it is free, stale, or held by a job process that died on this host."""
    with state.tx():
        held = lease_of(state, job_id)
        if held is not None:
            pid = local_pid(held[0])
            if pid is not None and not pid_alive(pid):
                stale_after = 0.0
        return state.claim(job_id, owner, now, stale_after)


def command(home: Path, job_id: str, speed: float) -> list[str]:
    """The job process's command line; ``OPENAI_FT_LOCAL_LAUNCH`` replaces ``python`` (torchrun ...)."""
    prefix = shlex.split(os.environ.get(LAUNCH_ENV, "")) or [sys.executable]
    return [*prefix, "-m", ENTRY, "--home", str(home), "--speed", repr(speed), job_id]


class Launcher:
    """Starts and tracks the job processes of one service."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        _LAUNCHERS[svc] = self

    def close(self) -> None:
        """Stop launching for this service (running job processes carry on)."""
        _LAUNCHERS.pop(self.svc, None)

    def launch(self, job_id: str) -> int | None:
        """Start a job process for ``job_id``; its pid, or None if it could not start.

        An old process may still hold the job (paused, then resumed at once): the new one waits
        for it to let go (see jobproc), so a resume is never lost.
        """
        from openai_ft.local.jobs.worker import fail_job

        self.reap()
        logs = self.svc.state.root / "jobs"
        argv = command(self.svc.state.root.parent, job_id, self.svc.settings.speed)
        try:
            logs.mkdir(exist_ok=True)
            with (logs / f"{job_id}.log").open("ab") as log:
                child = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=_child_env(),
                )
        except OSError as exc:
            reason = f"could not start the job process ({shlex.join(argv[:2])}...): {exc}"
            fail_job(self.svc, job_id, "server_error", reason, None)
            return None
        self.children[job_id] = child
        launched = {"pid": child.pid, "host": HOST, "launched_at": self.svc.now()}

        def record(job: dict[str, Any]) -> dict[str, Any] | None:
            already = (job.get("x_worker") or {}).get("pid") == child.pid  # it started first
            return None if already else {**job, "x_worker": launched}

        self.svc.state.mutate("job", job_id, record)
        return child.pid

    def reap(self) -> None:
        """Forget (and reap) our job processes that have exited or are exiting."""
        for job_id, child in list(self.children.items()):
            # A killed process with threads is a zombie leader for a while before waitpid
            # sees it; it runs no more code, so it counts as gone (Popen reaps it later).
            if child.poll() is not None or not pid_alive(child.pid):
                del self.children[job_id]

    def needs_process(self, job: dict[str, Any]) -> bool:
        """True for a runnable job that no live process holds or is starting."""
        held = lease_of(self.svc.state, job["id"])
        if held is not None:
            pid = local_pid(held[0])
            fresh = self.svc.clock() - held[1] < self.svc.settings.lease_stale_after
            if fresh and (pid is None or pid_alive(pid)):
                return False
        if held is not None:
            return True
        worker = job.get("x_worker") or {}
        if worker.get("host") != HOST or not isinstance(worker.get("pid"), int):
            return True
        if is_job_process(worker["pid"], job["id"]):
            return False  # still starting up (or just finishing)
        # Launched but died before claiming the job (a broken install, say): wait a while
        # before the next try, rather than starting a failing process every scan.
        launched = worker.get("launched_at")
        return not isinstance(launched, int) or self.svc.now() - launched >= RETRY_AFTER

    def scan(self) -> list[str]:
        """Start a process for every runnable job that has none; end hung ones. Ids started."""
        from openai_ft.local.jobs.worker import runnable_jobs

        self.reap()
        self.kill_hung()
        started = []
        for job in runnable_jobs(self.svc):
            wanted = job["id"] not in self.children and self.needs_process(job)
            if wanted and self.launch(job["id"]) is not None:
                started.append(job["id"])
        return started

    def kill_hung(self) -> None:
        """SIGKILL local job processes whose heartbeat went stale (hung, or stuck after a cancel)."""
        with self.svc.state.tx() as conn:
            rows = conn.execute("SELECT id, owner, heartbeat FROM leases").fetchall()
        stale = self.svc.settings.lease_stale_after
        for job_id, owner, beat in rows:
            pid = local_pid(owner)
            if pid is not None and self.svc.clock() - beat >= stale and is_job_process(pid, job_id):
                with contextlib.suppress(OSError):
                    os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def _child_env() -> dict[str, str]:
    """This environment, with our package importable in the child even from a source checkout."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


__all__ = [
    "DETACH_ENV",
    "LAUNCH_ENV",
    "Launcher",
    "claim",
    "command",
    "detach_from_env",
    "is_job_process",
    "job_runnable",
    "lease_of",
    "local_pid",
    "owner_tag",
    "pid_alive",
]
