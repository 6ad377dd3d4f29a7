"""Benchmark `openai-ft validate` against the common naive validator, measured in the same run.

    .venv/bin/python benchmarks/bench_validate.py [--examples 100000] [--rounds 3]
        [--keep PATH | --reuse PATH]

Generates chat examples of a few hundred tokens, then times (a) the CLI as a user runs it
(process start included) and (b) a baseline: json.loads per line, per-example Python checks and
one tiktoken ``encode`` per string value, in one process. The two alternate for ``--rounds``
rounds (other load on the machine then hits both alike); prints median wall time, examples/s,
CPU time (user+sys, pool workers included), token totals, peak RSS of the largest process, the
per-round ratios and the load average. ``--examples 450000`` writes about 1 GB.

Latest figures: benchmarks/RESULTS.md (section "validate").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

WORDS = [
    "account",
    "billing",
    "invoice",
    "refund",
    "printer",
    "network",
    "password",
    "reset",
    "delivery",
    "order",
    "parcel",
    "warehouse",
    "schedule",
    "meeting",
    "report",
    "summary",
    "update",
    "customer",
    "support",
    "ticket",
    "issue",
    "please",
    "thanks",
    "quickly",
    "tomorrow",
    "yesterday",
    "morning",
    "evening",
    "because",
    "however",
    "therefore",
    "although",
    "install",
    "configure",
    "restart",
    "laptop",
    "screen",
    "keyboard",
    "battery",
    "charger",
    "cable",
    "wireless",
    "router",
]
SYSTEM = (
    "You are a helpful, concise support assistant for Acme Corp. Answer politely and accurately."
)


def make_file(path: Path, n: int, seed: int = 7) -> None:
    """Write ``n`` chat examples (system, user, assistant) of a few hundred tokens each."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            user = " ".join(rng.choices(WORDS, k=rng.randint(40, 120))).capitalize() + "?"
            reply = " ".join(rng.choices(WORDS, k=rng.randint(120, 260))).capitalize() + "."
            row = {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"#{i} {user}"},
                    {"role": "assistant", "content": reply},
                ]
            }
            fh.write(json.dumps(row) + "\n")


def baseline(path: str) -> None:
    """The common approach: one process, json.loads per line, an encode per string value."""
    from openai_ft.dataset.tokens import get_encoding

    enc = get_encoding("o200k_base")
    errors = total = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            ex = json.loads(line)
            msgs = ex.get("messages")
            if not isinstance(msgs, list) or not msgs:
                errors += 1
                continue
            n = 3
            for m in msgs:
                if m.get("role") not in ("system", "user", "assistant", "tool"):
                    errors += 1
                if (
                    m.get("role") == "assistant"
                    and m.get("content") is None
                    and not m.get("tool_calls")
                ):
                    errors += 1
                if "weight" in m and m["weight"] not in (0, 1):
                    errors += 1
                n += 3
                for key, value in m.items():
                    if isinstance(value, str) and key in ("role", "content", "name"):
                        n += len(enc.encode(value))
                    if key == "name":
                        n += 1
            total += n
    print(json.dumps({"total": total, "errors": errors}))


def measure(cmd: list[str]) -> tuple[float, float, dict[str, object], int]:
    """(wall s, CPU s incl. reaped children, JSON output, peak RSS KB of the largest process).

    fork/exec by hand and reap with wait4: that gives this run's own rusage, where
    RUSAGE_CHILDREN would mix in every earlier run."""
    t0 = time.perf_counter()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: stdout to the pipe, stderr discarded, then exec
        os.dup2(write_fd, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(read_fd)
        try:
            os.execv(cmd[0], cmd)
        finally:
            os._exit(127)
    os.close(write_fd)
    chunks = []
    with os.fdopen(read_fd, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            chunks.append(block)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{cmd} exited with {code}")
    cpu = usage.ru_utime + usage.ru_stime  # includes the reaped pool workers
    return wall, cpu, json.loads(b"".join(chunks)), usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs; medians shown")
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument("--reuse", type=Path, help="use this existing file (no generation)")
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        baseline(args.baseline)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.reuse or args.keep or Path(tmp) / "bench.jsonl"
        t0 = time.perf_counter()
        if args.reuse:
            args.examples = sum(1 for _ in path.open("rb"))
        else:
            make_file(path, args.examples)
        size_mb = path.stat().st_size / 1e6
        print(
            f"{args.examples} examples, {size_mb:.0f} MB ready in {time.perf_counter() - t0:.1f}s"
        )
        cli = str(Path(sys.executable).with_name("openai-ft"))
        load_before = os.getloadavg()
        base: list[tuple[float, float, dict[str, object], int]] = []
        ours: list[tuple[float, float, dict[str, object], int]] = []
        for _ in range(args.rounds):  # alternate, so a noisy neighbour hits both sides alike
            base.append(measure([sys.executable, __file__, "--baseline", str(path)]))
            ours.append(measure([cli, "validate", str(path), "--json"]))
        load_after = os.getloadavg()
        n = args.examples
        b_total = base[0][2]["total"]
        o_total = ours[0][2]["tokens"]["total"]  # type: ignore[index]
        for name, runs, total in (("baseline ", base, b_total), ("openai-ft", ours, o_total)):
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            rss = max(r[3] for r in runs)
            print(
                f"{name} : {wall:6.2f}s wall  {n / wall:9.0f} examples/s  CPU {cpu:6.2f}s"
                f"  tokens {total:,}  peak RSS {rss / 1024:.0f} MB"
            )
        ratios = [b[0] / o[0] for b, o in zip(base, ours, strict=True)]
        print(
            f"ratio     : {statistics.median(ratios):.2f}x median"
            f" (rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
            f"  identical token totals: {o_total == b_total}"
        )
        print(
            f"load avg  : {load_before[0]:.2f} before, {load_after[0]:.2f} after"
            f" on {os.cpu_count()} cores"
        )


if __name__ == "__main__":
    main()
