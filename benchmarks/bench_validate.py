"""Benchmark `openai-ft validate` against the common naive validator, measured in the same run.

    .venv/bin/python benchmarks/bench_validate.py [--examples 100000] [--keep PATH]

Generates chat examples of a few hundred tokens, then times (a) the CLI as a user runs it
(process start included) and (b) a baseline: json.loads per line, per-example Python checks and
one tiktoken ``encode`` per string value. Prints examples/s, the ratio, token totals and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ["account", "billing", "invoice", "refund", "printer", "network", "password", "reset", "delivery", "order", "parcel", "warehouse", "schedule", "meeting", "report", "summary", "update", "customer", "support", "ticket", "issue", "please", "thanks", "quickly", "tomorrow", "yesterday", "morning", "evening", "because", "however", "therefore", "although", "install", "configure", "restart", "laptop", "screen", "keyboard", "battery", "charger", "cable", "wireless", "router"]
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


def run(cmd: list[str]) -> tuple[float, dict[str, object], int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{cmd} failed: {proc.stderr}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, json.loads(proc.stdout), max(rss, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument("--baseline", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        baseline(args.baseline)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.jsonl"
        t0 = time.perf_counter()
        make_file(path, args.examples)
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.examples} examples, {size_mb:.0f} MB in {time.perf_counter() - t0:.1f}s"
        )
        cli = str(Path(sys.executable).with_name("openai-ft"))
        b_wall, b_out, _ = run([sys.executable, __file__, "--baseline", str(path)])
        b_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        o_wall, o_out, o_rss = run([cli, "validate", str(path), "--json"])
        ours_total = o_out["tokens"]["total"]  # type: ignore[index]
        print(
            f"baseline  : {b_wall:6.2f}s  {args.examples / b_wall:9.0f} examples/s  tokens {b_out['total']:,}  peak RSS {b_rss / 1024:.0f} MB"
        )
        print(
            f"openai-ft : {o_wall:6.2f}s  {args.examples / o_wall:9.0f} examples/s  tokens {ours_total:,}  peak RSS (max process) {o_rss / 1024:.0f} MB"
        )
        print(
            f"ratio     : {b_wall / o_wall:.2f}x  identical token totals: {ours_total == b_out['total']}"
        )


if __name__ == "__main__":
    main()
