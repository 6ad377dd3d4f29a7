"""Upload never sends the same bytes twice: the id is recorded as soon as the create answers, a
lost ledger is made good by a lookup by name and size, and each location keeps its own rows."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from openai_ft.files import upload
from openai_ft.store import location
from tests.jobs_helpers import chat_rows, client_for, ledger, no_sleep, service, write_rows


class CtrlCOnFileCheck(httpx2.BaseTransport):
    """Ctrl-C while the first ``GET /files/{id}`` (the wait for processing) is on the wire."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner, self.armed = inner, True
        self.posts = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        self.posts += request.method == "POST" and path.endswith(("/files", "/complete"))
        if self.armed and request.method == "GET" and "/files/file-" in path:
            self.armed = False
            raise KeyboardInterrupt
        return self.inner.handle_request(request)


def _files(svc) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    return svc.service.state.all("file")  # type: ignore[no-any-return]


@pytest.mark.parametrize("chunked", [False, True], ids=["files-api", "uploads-api"])
def test_ctrl_c_while_waiting_for_processing_reuses_the_file(
    tmp_path: Path, home: Path, chunked: bool
) -> None:
    svc = service(home)
    nets: list[CtrlCOnFileCheck] = []

    def wrap(inner: httpx2.BaseTransport) -> httpx2.BaseTransport:
        nets.append(CtrlCOnFileCheck(inner))
        return nets[-1]

    client = client_for(svc, home, wrap=wrap)
    path = write_rows(tmp_path / "train.jsonl", chat_rows(30))
    size = path.stat().st_size
    opts = dict(client=client, ledger=ledger(home), sleep=no_sleep(), workers=1,
                chunk_threshold=1024 if chunked else 10**9, part_size=size // 3 + 1)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        upload([path], **opts)  # type: ignore[arg-type]
    assert len(_files(svc)) == 1  # the file was created before Ctrl-C
    [again] = upload([path], **opts)  # type: ignore[arg-type]
    assert again.reused and again.file_id == _files(svc)[0]["id"]
    assert len(_files(svc)) == 1 and nets[0].posts == 1  # nothing was sent twice
    assert client.files.content(again.file_id).read() == path.read_bytes()


def test_without_a_ledger_row_the_file_is_found_by_name_and_size(
    tmp_path: Path, home: Path
) -> None:
    svc = service(home)
    client = client_for(svc, home)
    path = write_rows(tmp_path / "train.jsonl", chat_rows(20))
    [first] = upload([path], client=client, ledger=ledger(home), sleep=no_sleep())
    lost = ledger(tmp_path / "another-machine")  # the ledger was lost (or is on another machine)
    [again] = upload([path], client=client, ledger=lost, sleep=no_sleep())
    assert again.reused and again.file_id == first.file_id
    assert len(_files(svc)) == 1
    # ... and it is on record there now: the next run does not even list the files.
    assert lost.one("SELECT file_id FROM files")["file_id"] == first.file_id  # type: ignore[index]
    # Same name but other bytes (a different size) is not mistaken for it.
    write_rows(path, chat_rows(21))
    [other] = upload([path], client=client, ledger=lost, sleep=no_sleep())
    assert not other.reused and len(_files(svc)) == 2


def test_a_file_row_belongs_to_its_location(tmp_path: Path, home: Path) -> None:
    """A 404 under one project never deletes the row another project recorded."""
    svc_a, svc_b = service(home / "a"), service(home / "b")
    a, b = client_for(svc_a, home / "a"), client_for(svc_b, home / "b")
    a_proj = a.with_options(organization="org-1", project="proj-a")
    b_proj = b.with_options(organization="org-1", project="proj-b")
    assert location(a_proj) != location(b_proj)
    book = ledger(home)
    path = write_rows(tmp_path / "train.jsonl", chat_rows(20))
    [in_a] = upload([path], client=a_proj, ledger=book, sleep=no_sleep())
    [in_b] = upload([path], client=b_proj, ledger=book, sleep=no_sleep())
    assert not in_b.reused  # project b cannot see project a's file: it gets its own
    rows = book.query("SELECT location, file_id FROM files ORDER BY location")
    assert [(r["location"], r["file_id"]) for r in rows] == [
        (location(a_proj), in_a.file_id),
        (location(b_proj), in_b.file_id),
    ]
    [again_a] = upload([path], client=a_proj, ledger=book, sleep=no_sleep())
    assert again_a.reused and again_a.file_id == in_a.file_id


class DieAfterComplete(httpx2.BaseTransport):
    """The service completes the upload; the process dies before it reads the answer."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/complete"):
            response.read()
            raise KeyboardInterrupt
        return response


def test_death_after_an_unanswered_complete_finds_the_file(tmp_path: Path, home: Path) -> None:
    svc = service(home)
    book = ledger(home)
    path = write_rows(tmp_path / "big.jsonl", chat_rows(30))
    opts = dict(ledger=book, sleep=no_sleep(), workers=1, chunk_threshold=1024,
                part_size=path.stat().st_size // 3 + 1)  # fmt: skip
    dying = client_for(svc, home, wrap=DieAfterComplete)
    with pytest.raises(KeyboardInterrupt):
        upload([path], client=dying, **opts)  # type: ignore[arg-type]
    assert len(_files(svc)) == 1 and book.query("SELECT * FROM files") == []
    [again] = upload([path], client=client_for(svc, home), **opts)  # type: ignore[arg-type]
    assert again.reused and again.file_id == _files(svc)[0]["id"] and len(_files(svc)) == 1
    assert book.query("SELECT * FROM uploads") == []  # the finished upload is forgotten too
