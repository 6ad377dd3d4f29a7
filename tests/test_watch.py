"""watch: event paging, surviving the network, Ctrl-C, failure location, early stop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from openai_ft.jobs import train
from openai_ft.local import FaultRule
from openai_ft.watch import EarlyStopper, EventTracker, watch
from openai_ft.watch_types import EarlyStopped, JobEvent, Retrying, Snapshot
from tests.jobs_helpers import (
    INTENTS,
    chat_rows,
    client_for,
    ledger,
    service,
    train_files,
    write_rows,
)


@dataclass(frozen=True)
class Ev:
    id: str


class FakeLog:
    """An event log served newest first in pages, like the API."""

    def __init__(self, page: int) -> None:
        self.events: list[Ev] = []
        self.page = page

    def add(self, n: int) -> None:
        start = len(self.events)
        self.events += [Ev(f"e{i}") for i in range(start, start + n)]

    def fetch(self, after: str | None) -> tuple[list[Ev], bool]:
        newest_first = self.events[::-1]
        if after is not None:
            newest_first = newest_first[[e.id for e in newest_first].index(after) + 1 :]
        return newest_first[: self.page], len(newest_first) > self.page


def test_event_pages_are_walked_without_duplicates_or_gaps() -> None:
    log = FakeLog(page=3)
    tracker = EventTracker(log.fetch)
    seen: list[str] = []
    for burst in (0, 2, 7, 0, 3, 10, 1):
        log.add(burst)
        seen += [e.id for e in tracker.poll()]
    assert seen == [f"e{i}" for i in range(23)]


def test_a_failed_walk_marks_nothing_seen() -> None:
    log = FakeLog(page=2)
    calls = {"n": 0}

    def flaky(after: str | None) -> tuple[list[Ev], bool]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("dropped")
        return log.fetch(after)

    tracker = EventTracker(flaky)
    log.add(5)
    with pytest.raises(ConnectionError):
        tracker.poll()
    assert [e.id for e in tracker.poll()] == [f"e{i}" for i in range(5)]


def test_early_stopper_counts_validation_steps_without_improvement() -> None:
    stop = EarlyStopper(patience=2)
    assert [stop.feed(s, v) for s, v in enumerate([1.0, 0.8, 0.9, 0.7, 0.75, 0.71])] == [
        False, False, False, False, False, True,
    ]  # fmt: skip
    assert (stop.best, stop.best_step) == (0.7, 3)


def test_watch_survives_503s_and_dropped_connections(home: Path, tmp_path: Path) -> None:
    faults = [
        FaultRule("503", r"/fine_tuning/jobs/[^/]+$", method="GET", nth=2),
        FaultRule("drop", r"/fine_tuning/jobs/[^/]+/events$", method="GET", nth=3),
        FaultRule("503", r"/fine_tuning/jobs/[^/]+$", method="GET", nth=5),
    ]
    svc = service(home, faults=faults)
    client = client_for(svc, home, max_retries=0)  # our polling retries, nothing underneath
    res = train(*train_files(tmp_path, valid_seed=3), client=client, ledger=ledger(home))
    events: list[object] = []
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        svc.run_jobs(max_steps=4)

    out = watch(res.job_id, client=client, ledger=ledger(home), on_event=events.append,
                sleep=sleep, poll_interval=2)  # fmt: skip
    assert out.succeeded and out.status == "succeeded"
    assert len([e for e in events if isinstance(e, Retrying)]) == 3
    ids = [e.id for e in events if isinstance(e, JobEvent)]
    assert len(ids) == len(set(ids)) == len(svc.service.state.all("event", parent=res.job_id))
    snaps = [e for e in events if isinstance(e, Snapshot)]
    steps = [s.step for s in snaps if s.step is not None]
    assert steps == sorted(steps) and snaps[-1].step == snaps[-1].total_steps
    assert snaps[-1].valid_curve and snaps[-1].train_loss is not None


def test_ctrl_c_leaves_the_job_running(home: Path, tmp_path: Path) -> None:
    svc = service(home)
    client = client_for(svc, home)
    res = train(*train_files(tmp_path, valid_seed=3), client=client, ledger=ledger(home))
    calls = {"n": 0}

    def sleep(_s: float) -> None:
        calls["n"] += 1
        svc.run_jobs(max_steps=2)
        if calls["n"] == 2:
            raise KeyboardInterrupt

    out = watch(res.job_id, client=client, ledger=ledger(home), sleep=sleep)
    assert out.interrupted and not out.succeeded
    assert client.fine_tuning.jobs.retrieve(res.job_id).status in ("running", "queued")


def test_failed_job_points_at_the_local_file_and_line(home: Path, tmp_path: Path) -> None:
    svc = service(home)
    client = client_for(svc, home)
    rows: list[object] = [*chat_rows(15)]
    rows[6] = {"messages": [{"role": "user", "content": "hi"}]}
    bad = write_rows(tmp_path / "bad.jsonl", rows)
    res = train(bad, client=client, ledger=ledger(home), force=True)
    out = watch(res.job_id, client=client, ledger=ledger(home), sleep=lambda _s: svc.run_jobs())
    assert out.status == "failed" and out.error is not None
    assert out.error.param == "training_file" and out.error.location == f"{bad}:7"
    assert out.error.code and out.error.message


def test_early_stop_cancels_and_names_the_best_usable_checkpoint(
    home: Path, tmp_path: Path
) -> None:
    svc = service(home)
    client = client_for(svc, home)
    # Validation answers contradict what training teaches: validation loss rises as it learns.
    valid = chat_rows(12, seed=5)
    for row in valid:
        answer = row["messages"][-1]
        answer["content"] = INTENTS[(INTENTS.index(answer["content"]) + 1) % len(INTENTS)]
    train_path = write_rows(tmp_path / "train.jsonl", chat_rows(24))
    valid_path = write_rows(tmp_path / "validation.jsonl", valid)
    res = train(train_path, valid_path, n_epochs=8, client=client, ledger=ledger(home))
    events: list[object] = []
    out = watch(res.job_id, client=client, ledger=ledger(home), early_stop=1,
                on_event=events.append, sleep=lambda _s: svc.run_jobs(max_steps=4))  # fmt: skip
    assert out.status == "cancelled" and out.early_stop is not None
    assert [e for e in events if isinstance(e, EarlyStopped)] == [out.early_stop]
    stop = out.early_stop
    assert stop.checkpoint is not None and stop.best_valid_loss is not None
    ckpts = list(client.fine_tuning.jobs.checkpoints.list(res.job_id))
    losses = [c.metrics.full_valid_loss or c.metrics.valid_loss for c in ckpts]
    assert stop.checkpoint_valid_loss == min(v for v in losses if v is not None)
    client.models.retrieve(stop.checkpoint)  # still usable
