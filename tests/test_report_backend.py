"""``report`` reads a run's loss curves from the host its job was made on, as the ledger recorded
it: a run against ``openai-ft serve --base-url`` talks to that server only (its access log), the
key never goes to api.openai.com, and a host that is gone or unrecorded is one WARN line."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from openai_ft.cli import main
from openai_ft.store import Ledger
from tests.jobs_helpers import chat_rows, train_files, write_rows
from tests.serve_process import start_serve, stop_serve

KEY = "sk-report-test-0123456789abcdef"
LOG_LINE = re.compile(r"^(GET|POST|DELETE) (/v1/\S+) (\d{3}) (\d+\.\d)$")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every request this process sends over a real transport; anything not on loopback is
    refused here (a test never touches the network), and still recorded."""
    seen: list[str] = []
    real = httpx2.HTTPTransport.handle_request

    def handle(self: httpx2.HTTPTransport, request: httpx2.Request) -> httpx2.Response:
        seen.append(
            f"{request.method} {request.url.scheme}://{request.url.netloc.decode()}"
            f"{request.url.path}"
        )
        if request.url.host != "127.0.0.1":
            raise httpx2.ConnectError("refused by the test: not loopback", request=request)
        return real(self, request)

    monkeypatch.setattr(httpx2.HTTPTransport, "handle_request", handle)
    for var in ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_FT_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return seen


def _serve(home: Path) -> tuple[subprocess.Popen[str], str]:
    """``openai-ft serve`` on a free loopback port; returns the process and its base URL."""
    proc, url = start_serve(home, "--speed", "0", "--api-key", KEY)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", url), url
    return proc, url


def _wait_succeeded(url: str, job_id: str) -> None:
    """Bounded wait for the server's worker to finish the job (a real subprocess)."""
    client = openai.OpenAI(api_key=KEY, base_url=url, max_retries=0)
    deadline = time.monotonic() + 120
    while client.fine_tuning.jobs.retrieve(job_id).status != "succeeded":
        assert time.monotonic() < deadline, "the served job did not finish in 120 s"
        time.sleep(0.2)


def test_report_reads_curves_from_the_served_host_only(
    sent: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    train, valid = train_files(tmp_path, valid_seed=3)
    data = write_rows(tmp_path / "eval.jsonl", chat_rows(6, seed=5))
    proc, url = _serve(tmp_path / "served")
    try:
        base = ["--base-url", url]
        args = [
            "train",
            "--training-file",
            str(train),
            "--validation-file",
            str(valid),
            "--n-epochs",
            "1",
            "--yes",
            "--no-wait",
            *base,
        ]
        assert main(args) == 0
        job_id = capsys.readouterr().out.strip()
        _wait_succeeded(url, job_id)
        assert main(["watch", job_id, "--poll-interval", "0.1", *base]) == 0  # ledger: the model
        model = capsys.readouterr().out.strip()
        assert model.startswith("ft:")
        assert (
            main(
                [
                    "eval",
                    "--data",
                    str(data),
                    "--model",
                    model,
                    "--scorer",
                    "exact",
                    "--json",
                    *base,
                ]
            )
            == 0
        )
        run_id = json.loads(capsys.readouterr().out)["run"]
        before = len(sent)
        out = tmp_path / "report"
        assert main(["report", run_id, "--out", str(out)]) == 0
        err = capsys.readouterr().err
    finally:
        log = stop_serve(proc)
    assert "WARN" not in err and "ERROR" not in err, err
    page = (out / "report.html").read_text("utf-8")
    assert f"Loss curves: {job_id} -&gt; {model}" in page
    by_report = sent[before:]
    assert f"GET {url}/fine_tuning/jobs/{job_id}" in by_report
    assert all(r.split()[1].startswith(url + "/") for r in sent), sent  # one host, all along
    served = [m[2] for m in map(LOG_LINE.match, log) if m]
    assert f"/v1/fine_tuning/jobs/{job_id}" in served
    assert all(KEY not in line for line in log)

    # The server is gone: one WARN line naming it, the rest of the report still written.
    sent.clear()
    monkeypatch.setattr(openai._base_client.time, "sleep", lambda _s: None)  # SDK retry waits
    assert main(["report", run_id, "--out", str(tmp_path / "again")]) == 0
    warns = [x for x in capsys.readouterr().err.splitlines() if x.startswith(("WARN", "ERROR"))]
    assert len(warns) == 1, warns
    assert warns[0].startswith(f"WARN loss curves of job {job_id} (on {url}) left out: ")
    assert "could not reach the service" in warns[0] and KEY not in warns[0]
    assert sent and all(r.split()[1].startswith(url + "/") for r in sent), sent
    page = (tmp_path / "again" / "report.html").read_text("utf-8")
    assert "Loss curves" not in page and f"(on {url}) left out" in page


@pytest.mark.parametrize(
    ("backend", "location", "expected"),
    [
        (
            "openai",
            "",
            "WARN loss curves of job ftjob-old (on openai) left out: the ledger does"
            " not say which openai host",
        ),
        (
            "azure",
            "",
            "WARN loss curves of job ftjob-old (on azure) left out: the ledger does"
            " not say which azure host",
        ),
    ],
)
def test_a_job_without_a_recorded_host_is_one_warn_line_and_no_request(
    sent: list[str],
    write_jsonl: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    backend: str,
    location: str,
    expected: str,
) -> None:
    from openai_ft.evaluate.api import evaluate

    run = evaluate(write_jsonl(chat_rows(4)), ["gpt-4o-mini"], scorers=["exact"])
    model = "ft:gpt-4o-mini:org::old"
    summary = {**run.summary, "models": [{**m, "model": model} for m in run.summary["models"]]}
    led = Ledger()
    led.execute(
        "INSERT INTO jobs (backend, job_id, status, fine_tuned_model, created_at, location)"
        " VALUES (?, 'ftjob-old', 'succeeded', ?, 0, ?)",
        (backend, model, location),
    )
    led.close()
    from openai_ft.report import write_report

    warnings: list[str] = []
    write_report(run.run_id, run.results, summary, tmp_path / "r", on_warning=warnings.append)
    assert len(warnings) == 1 and f"WARN {warnings[0]}".startswith(expected), warnings
    assert sent == []  # never another host: nothing was sent anywhere
