"""Benchmark of the hf engine on the tiny offline model (CPU here; not part of the test suite).

    .venv/bin/python benchmarks/bench_hf.py [--examples 96] [--requests 32] [--rounds 3] [--threads 1]

Measured, each phase in a fresh process so that peak memory is the phase's own:

1. overhead: wall seconds per optimiser step of a LoRA SFT job run by the local service (file
   validation, the engine, metrics events, epoch checkpoints stored as models) against the same
   TRL training in a plain script (same model, data, tokenization, arguments). Target <= 1.05x.
2. chat throughput: completion tokens per second at 16 concurrent requests vs one at a time, on
   the tiny base model (greedy, 24 tokens each). Target >= 4x.
3. peak resident memory of the job process, and the stored size of the adapter.

Every phase runs with the same torch thread count (``--threads``, default 1, through
``OMP_NUM_THREADS``). With torch's default (one thread per core) on a machine that other processes
also load, a training step's time swings 5-30x from run to run in either phase (a thread
descheduled at a barrier stalls the other), which is what the ratio then measures: measured at
load ~4 on 2 cores, plain TRL 0.16-0.61 s/step and the job 0.18-1.04 s/step with 2 threads, both
0.09-0.11 s/step with 1. The engine's own per-step work (metrics events, stop checks) is ~0.7 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HP = {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 5, "lora_rank": 8}


def _rows(n: int) -> list[dict[str, Any]]:
    import csv

    with (ROOT / "data" / "support_tickets.csv").open(encoding="utf-8", newline="") as fh:
        tickets = list(csv.DictReader(fh))[:n]
    return [
        {
            "messages": [
                {"role": "system", "content": "Answer with the intent label."},
                {"role": "user", "content": t["text"]},
                {"role": "assistant", "content": t["intent"]},
            ]
        }
        for t in tickets
    ]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_job(model: Path, n: int) -> dict[str, Any]:
    """A job through the SDK on the local service; seconds per step, peak memory, adapter size."""
    import httpx2
    import openai

    from openai_ft.local import LocalService
    from openai_ft.local.engines.hf import trainer as hf_trainer

    stamps: list[float] = []
    original = hf_trainer.Reporter.on_log

    def timed(self: Any, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> Any:
        if logs and "loss" in logs:
            stamps.append(time.perf_counter())
        return original(self, args, state, control, logs, **kw)

    hf_trainer.Reporter.on_log = timed  # type: ignore[method-assign]
    os.environ["OPENAI_FT_HF_MODELS"] = f"tiny={model}"
    with tempfile.TemporaryDirectory() as tmp:
        svc = LocalService(Path(tmp), autostart=False, speed=0)
        client = openai.OpenAI(
            api_key="x",
            base_url="http://localhost/v1",
            http_client=httpx2.Client(transport=svc.transport()),
        )
        data = "".join(json.dumps(r) + "\n" for r in _rows(n)).encode()
        file_id = client.files.create(file=("t.jsonl", data), purpose="fine-tune").id
        job = client.fine_tuning.jobs.create(
            model="tiny",
            training_file=file_id,
            seed=1,
            method={"type": "supervised", "supervised": {"hyperparameters": HP}},
        )
        started = time.perf_counter()
        svc.run_jobs()
        seconds = time.perf_counter() - started
        done = client.fine_tuning.jobs.retrieve(job.id)
        blob = svc.service.state.get("model", done.fine_tuned_model)["x_blob"]
        size = svc.service.state.blob_path(blob).stat().st_size
        steps = done.method.supervised.hyperparameters.n_epochs * -(-n // HP["batch_size"])
        svc.close()
    steady = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    return {
        "seconds": seconds,
        "steps": steps,
        "steady": steady,
        "peak_mb": _peak_mb(),
        "adapter_bytes": size,
    }


def phase_plain(model: Path, n: int) -> dict[str, Any]:
    """The same training as a plain TRL script would write it."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    from openai_ft.local.engines.hf.data import sft_example

    started = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(str(model), local_files_only=True)
    torch.manual_seed(1)
    lm = AutoModelForCausalLM.from_pretrained(str(model), local_files_only=True)
    lm = get_peft_model(
        lm,
        LoraConfig(
            r=8,
            lora_alpha=32,
            lora_dropout=0.05,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    data = Dataset.from_list([sft_example(tok, r, 1024) for r in _rows(n)])
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(
            output_dir=tmp,
            num_train_epochs=HP["n_epochs"],
            per_device_train_batch_size=HP["batch_size"],
            learning_rate=2e-4 * HP["learning_rate_multiplier"],
            logging_steps=1,
            save_strategy="epoch",
            save_total_limit=2,
            seed=1,
            data_seed=1,  # the job's batches, in the job's order (padding differs otherwise)
            report_to="none",
            disable_tqdm=True,
            bf16=False,
            gradient_checkpointing=False,
            use_cpu=True,
            max_length=None,
        )
        stamps: list[float] = []

        class Timer(TrainerCallback):  # type: ignore[misc]
            def on_log(
                self, args: Any, state: Any, control: Any, logs: Any = None, **k: Any
            ) -> None:
                if logs and "loss" in logs:
                    stamps.append(time.perf_counter())

        trainer = SFTTrainer(
            model=lm, args=args, train_dataset=data, processing_class=tok, callbacks=[Timer()]
        )
        trainer.train()
        trainer.model.save_pretrained(tmp + "/final")
        steps = trainer.state.global_step
    return {
        "seconds": time.perf_counter() - started,
        "steps": steps,
        "steady": (stamps[-1] - stamps[0]) / (len(stamps) - 1),
        "peak_mb": _peak_mb(),
    }


def phase_chat(model: Path, requests: int, rounds: int = 3) -> dict[str, Any]:
    """Completion tokens per second at concurrency 1 and 16 on the base model."""
    import httpx2
    import openai

    from openai_ft.local import LocalService

    os.environ["OPENAI_FT_HF_MODELS"] = f"tiny={model}"
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        svc = LocalService(Path(tmp), autostart=False, speed=0)
        client = openai.OpenAI(
            api_key="x",
            base_url="http://localhost/v1",
            http_client=httpx2.Client(transport=svc.transport()),
        )
        rows = _rows(requests)

        def ask(i: int, tokens: list[int]) -> None:
            r = client.chat.completions.create(
                model="tiny",
                messages=rows[i]["messages"][:2],
                max_completion_tokens=24,
                temperature=0,
            )
            tokens.append(r.usage.completion_tokens if r.usage else 0)

        ask(0, [])  # load the model once, outside the measurement
        for _ in range(rounds):  # alternate, keep each concurrency's best round (shared machine)
            for concurrency in (1, 16):
                tokens: list[int] = []
                started = time.perf_counter()
                for first in range(0, requests, concurrency):
                    threads = [
                        threading.Thread(target=ask, args=(i, tokens))
                        for i in range(first, min(first + concurrency, requests))
                    ]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                seconds = time.perf_counter() - started
                key = f"c{concurrency}"
                if key not in out or seconds < out[key]["seconds"]:
                    out[key] = {"tokens": sum(tokens), "seconds": seconds}
        svc.close()
    return out


def _run(phase: str, model: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", phase, "--model", str(model)]
    cmd += ["--examples", str(args.examples), "--requests", str(args.requests)]
    cmd += ["--rounds", str(args.rounds)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}  # the same in every phase
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    """Run the phases and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--examples", type=int, default=96)
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every phase")
    args = parser.parse_args()
    if args.phase:
        fn = {"job": phase_job, "plain": phase_plain}.get(args.phase)
        result = (
            fn(args.model, args.examples)
            if fn
            else phase_chat(args.model, args.requests, args.rounds)
        )
        print(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        from openai_ft.local.engines.hf.tiny import build

        model = build(Path(tmp) / "tiny")
        # Alternate the two trainings and keep each one's best round: on a shared machine the
        # load changes between phases, and the fastest round is the least disturbed one.
        plains, jobs = [], []
        for _ in range(args.rounds):
            plains.append(_run("plain", model, args))
            jobs.append(_run("job", model, args))
        plain = min(plains, key=lambda r: r["seconds"])
        job = min(jobs, key=lambda r: r["seconds"])
        chat = _run("chat", model, args)
    per_plain = plain["seconds"] / plain["steps"]
    per_job = job["seconds"] / job["steps"]
    steady_plain = min(r["steady"] for r in plains)
    steady_job = min(r["steady"] for r in jobs)
    load = os.getloadavg()[0]
    print(f"rounds: {args.rounds}; torch threads: {args.threads}; load at the end: {load:.1f}")
    c1 = chat["c1"]["tokens"] / chat["c1"]["seconds"]
    c16 = chat["c16"]["tokens"] / chat["c16"]["seconds"]
    print(f"steps: {job['steps']} (job) / {plain['steps']} (plain TRL), {args.examples} examples")
    print(
        f"seconds per step, steady state (first to last step): job {steady_job:.4f}, "
        f"plain TRL {steady_plain:.4f}: overhead {steady_job / steady_plain:.3f}x (target <= 1.05x)"
    )
    print(
        f"seconds per step, end to end (load, validate, train, store): job {per_job:.4f}, "
        f"plain TRL {per_plain:.4f}: {per_job / per_plain:.3f}x"
    )
    print(f"chat: {c1:.1f} tok/s at concurrency 1, {c16:.1f} tok/s at 16: {c16 / c1:.2f}x")
    print(f"peak memory: job process {job['peak_mb']:.0f} MB, plain TRL {plain['peak_mb']:.0f} MB")
    print(f"stored adapter: {job['adapter_bytes'] / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
