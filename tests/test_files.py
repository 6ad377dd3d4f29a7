"""Upload: validation first, content addressing, de-duplicated creates, chunked resumable uploads."""

from __future__ import annotations

from pathlib import Path

import pytest

from openai_ft.errors import DataError, ServiceUnavailable
from openai_ft.files import UploadProgress, remote_name, sha256_file, upload
from openai_ft.local import FaultRule
from tests.jobs_helpers import (
    DropAnswers,
    chat_rows,
    client_for,
    ledger,
    no_sleep,
    service,
    write_rows,
)


def _count(svc, kind: str) -> int:
    return len(svc.service.state.all(kind))


def test_same_bytes_upload_once_and_reuse_checks_existence(tmp_path: Path, home: Path) -> None:
    svc = service(home)
    client, book = client_for(svc, home), ledger(home)
    path = write_rows(tmp_path / "train.jsonl", chat_rows(20))
    events: list[UploadProgress] = []
    [first] = upload(
        [path], client=client, ledger=book, on_progress=events.append, sleep=no_sleep()
    )
    [again] = upload([path], client=client, ledger=book, sleep=no_sleep())
    assert not first.reused and again.reused and again.file_id == first.file_id
    assert _count(svc, "file") == 1
    assert events[-1].sent == events[-1].total == path.stat().st_size
    assert [e.sent for e in events] == sorted(e.sent for e in events)
    obj = client.files.retrieve(first.file_id)
    assert obj.filename == remote_name(path, sha256_file(path))
    # The recorded file was deleted on the service: it is uploaded again, not trusted blindly.
    client.files.delete(first.file_id)
    [third] = upload([path], client=client, ledger=book, sleep=no_sleep())
    assert not third.reused and third.file_id != first.file_id


def test_invalid_data_is_refused_with_file_and_line_unless_forced(
    tmp_path: Path, home: Path
) -> None:
    svc = service(home)
    client, book = client_for(svc, home), ledger(home)
    rows: list[object] = [*chat_rows(12)]
    rows[4] = "{not json"
    path = write_rows(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DataError) as err:
        upload([path], client=client, ledger=book)
    assert f"{path}:5" in err.value.message and "--force" in (err.value.tip or "")
    assert _count(svc, "file") == 0
    [res] = upload([path], client=client, ledger=book, force=True, sleep=no_sleep())
    assert res.warnings and "--force" in res.warnings[0]
    assert _count(svc, "file") == 1


def test_lost_answer_on_create_does_not_upload_twice(tmp_path: Path, home: Path) -> None:
    svc = service(home)
    net: list[DropAnswers] = []

    def wrap(inner):  # type: ignore[no-untyped-def]
        net.append(DropAnswers(inner, "POST", "/files"))
        return net[0]

    client = client_for(svc, home, wrap=wrap)
    path = write_rows(tmp_path / "train.jsonl", chat_rows(15))
    waits: list[float] = []
    [res] = upload([path], client=client, ledger=ledger(home), sleep=no_sleep(waits))
    assert _count(svc, "file") == 1
    assert res.file_id == svc.service.state.all("file")[0]["id"]
    assert waits  # it backed off before looking for the file it may have created
    assert sum(1 for s in net[0].seen if s.startswith("POST")) == 1


def test_chunked_upload_resumes_after_failure_mid_way(tmp_path: Path, home: Path) -> None:
    # The 4th part fails (the client has no SDK retries here): the upload stops there.
    faults = [FaultRule("503", r"/uploads/[^/]+/parts$", method="POST", nth=4)]
    svc = service(home, faults=faults)
    client, book = client_for(svc, home, max_retries=0), ledger(home)
    path = write_rows(tmp_path / "big.jsonl", chat_rows(60))
    size = path.stat().st_size
    part = size // 7 + 1  # 7 parts
    opts = dict(client=client, ledger=book, part_size=part, chunk_threshold=1024, workers=1,
                sleep=no_sleep())  # fmt: skip
    with pytest.raises(ServiceUnavailable) as err:
        upload([path], **opts)  # type: ignore[arg-type]
    assert "again" in (err.value.tip or "")
    sent = book.query("SELECT idx FROM upload_parts")
    assert sorted(r["idx"] for r in sent) == [0, 1, 2]
    events: list[UploadProgress] = []
    [res] = upload([path], on_progress=events.append, **opts)  # type: ignore[arg-type]
    assert res.parts == 7 and res.resumed_parts == 3 and not res.reused
    assert len(svc.service.state.all("upload")) == 1  # the same upload was continued
    assert events[0].sent >= 3 * part and events[-1].sent == size
    assert client.files.content(res.file_id).read() == path.read_bytes()
    assert book.query("SELECT * FROM upload_parts") == []


def test_expired_upload_starts_over_cleanly(tmp_path: Path, home: Path) -> None:
    faults = [FaultRule("503", r"/uploads/[^/]+/parts$", method="POST", nth=2)]
    svc = service(home, faults=faults)
    client, book = client_for(svc, home, max_retries=0), ledger(home)
    path = write_rows(tmp_path / "big.jsonl", chat_rows(40))
    part = path.stat().st_size // 3 + 1
    opts = dict(client=client, ledger=book, part_size=part, chunk_threshold=1024, workers=2,
                sleep=no_sleep())  # fmt: skip
    with pytest.raises(ServiceUnavailable):
        upload([path], **opts)  # type: ignore[arg-type]
    later = lambda: 10**10  # noqa: E731 - a clock long after the upload expired
    [res] = upload([path], clock=later, **opts)  # type: ignore[arg-type]
    assert res.resumed_parts == 0 and res.parts == 3
    assert client.files.content(res.file_id).read() == path.read_bytes()
