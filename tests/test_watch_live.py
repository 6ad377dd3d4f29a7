"""The rich live view of watch, rendered to a StringIO over a real job with fake clocks."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console

from openai_ft.console.jobs import WatchView, fmt_duration
from openai_ft.watch import watch
from openai_ft.watch_types import JobEvent, Snapshot, WatchEvent
from tests.jobs_helpers import client_for, ledger, train_files

START = 1_750_000_000.0


class Clock:
    """A clock that moves only when the fake sleep says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _run(tmp_path: Path, view: WatchView, service_clock: Clock) -> tuple[list[WatchEvent], Any]:
    from openai_ft.local import LocalService

    home = tmp_path / "home"
    svc = LocalService(home, autostart=False, speed=0, clock=service_clock)
    client = client_for(svc, home)
    train, valid = train_files(tmp_path, valid_seed=3, n_valid=8)
    ids = [client.files.create(file=p.open("rb"), purpose="fine-tune").id for p in (train, valid)]
    job = client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18",
        training_file=ids[0],
        validation_file=ids[1],
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    )
    mono = Clock(100.0)
    seen: list[WatchEvent] = []

    def sleep(seconds: float) -> None:
        mono.now += seconds
        service_clock.now += seconds
        svc.run_jobs(max_steps=2)

    def on_event(event: WatchEvent) -> None:
        seen.append(event)
        view(event)

    with view:
        result = watch(job.id, client=client, ledger=ledger(home), on_event=on_event,
                       sleep=sleep, clock=mono, poll_interval=5)  # fmt: skip
    svc.close()
    return seen, result


def _check(out: str, seen: list[WatchEvent], result: Any) -> None:
    assert result.succeeded
    snaps = [e for e in seen if isinstance(e, Snapshot)]
    last = snaps[-1]
    assert last.status == "succeeded" and last.step == last.total_steps and last.total_steps
    assert {s.status for s in snaps} >= {"running", "succeeded"}
    assert f"{result.job_id} succeeded" in out
    assert f"step {last.step}/{last.total_steps}" in out
    assert last.train_loss is not None and last.valid_loss is not None
    assert f"train {last.train_loss:.4f} valid {last.valid_loss:.4f}" in out
    assert f"elapsed {fmt_duration(last.elapsed)}" in out and last.elapsed > 0
    events = [e for e in seen if isinstance(e, JobEvent)]
    shown = [e for e in events if e.type != "metrics"]
    assert len(shown) >= 5 and len({e.id for e in events}) == len(events)
    for event in shown:
        assert out.count(f"] {event.message}\n") == 1, event.message
    # Metrics events move the numbers and the chart instead of printing a line each.
    assert not any(e.message in out for e in events if e.type == "metrics")


def _has_charts(out: str) -> None:
    for name in ("train", "valid"):
        assert any(
            line.startswith(f"{name} ") and set(line[6:].strip()) <= set("▁▂▃▄▅▆▇█")
            for line in out.splitlines()
        ), name


def test_live_view_on_a_terminal_shows_progress_and_each_event_once(tmp_path: Path) -> None:
    buf = io.StringIO()
    service_clock = Clock(START)
    console = Console(file=buf, force_terminal=True, width=200, color_system=None)
    view = WatchView(live=True, console=console, clock=service_clock)
    assert view.stream is buf
    seen, result = _run(tmp_path, view, service_clock)
    out = buf.getvalue()
    _check(out, seen, result)
    _has_charts(out)
    # A terminal gets redraws (cursor movement) and an ETA while the job runs.
    assert "\x1b[" in out and out.count(f"{result.job_id} running") > 1
    assert "ETA " in out


def test_live_view_off_a_terminal_prints_events_once_and_the_final_state(
    tmp_path: Path,
) -> None:
    buf = io.StringIO()
    service_clock = Clock(START)
    view = WatchView(stream=buf, live=True, clock=service_clock)
    seen, result = _run(tmp_path, view, service_clock)
    out = buf.getvalue()
    _check(out, seen, result)
    _has_charts(out)
    assert "\x1b[" not in out and out.splitlines()[-1].startswith("valid ")
    assert out.endswith("\n")  # what is printed next starts on a line of its own
    # Off a terminal, only the final state of the live region is printed, once.
    assert out.count(f"{result.job_id} succeeded") == 1
    assert f"{result.job_id} running" not in out


def test_plain_view_prints_status_changes_and_events_once(tmp_path: Path) -> None:
    buf = io.StringIO()
    service_clock = Clock(START)
    view = WatchView(stream=buf, live=False, clock=service_clock)
    seen, result = _run(tmp_path, view, service_clock)
    out = buf.getvalue()
    _check(out, seen, result)
    statuses = [line for line in out.splitlines() if line.startswith(result.job_id)]
    assert len(statuses) == len({s.status for s in seen if isinstance(s, Snapshot)})
