"""Build a tiny open-weight chat model offline: ``python -m openai_ft.local.engines.hf.tiny OUT_DIR``.

A randomly initialised Qwen2-architecture model (2 layers, hidden size 64) with a byte-level BPE
tokenizer trained on the sample tickets (data/support_tickets.csv, or any text files given with
``--text``) and Qwen2.5's chat template, saved with ``save_pretrained``. Nothing is downloaded. It
is what the tests, ``make demo-hf`` and the benchmarks train: small enough for a CPU, real enough
that every code path of the ``hf`` engine runs (chat template, LoRA, TRL, generation).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"]
DEFAULT_DATA = Path(__file__).resolve().parents[4] / "data" / "support_tickets.csv"


def _texts(paths: Sequence[Path]) -> Iterator[str]:
    for path in paths:
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    yield from (v for v in row.values() if v)
        else:
            yield from path.read_text(encoding="utf-8").splitlines()
    # The roles and the template's own words, so a rendered conversation tokenizes compactly.
    yield "system user assistant tool You are a helpful assistant. json JSON labels"


def build_tokenizer(paths: Sequence[Path], vocab_size: int = 1024) -> Any:
    """A byte-level BPE tokenizer trained on ``paths`` with ChatML special tokens."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from trl.chat_template_utils import qwen2_5_chat_template

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_texts(paths), trainer=trainer)
    fast_class: Any = transformers.PreTrainedTokenizerFast
    fast = fast_class(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL[1:],
    )
    fast.chat_template = qwen2_5_chat_template
    return fast


def build(out_dir: Path, paths: Sequence[Path] = (DEFAULT_DATA,), seed: int = 0) -> Path:
    """Write the tiny model and its tokenizer to ``out_dir``; returns it."""
    import torch
    import transformers
    from transformers import Qwen2Config, Qwen2ForCausalLM

    generation_config: Any = transformers.GenerationConfig

    from openai_ft.local.engines.hf.model import quiet

    quiet()
    tokenizer = build_tokenizer(paths)
    vocab = len(tokenizer)
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = generation_config(
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build the tiny model into OUT_DIR."""
    parser = argparse.ArgumentParser(prog="python -m openai_ft.local.engines.hf.tiny")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--text", type=Path, action="append", help="training text (CSV or lines)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = args.text or [DEFAULT_DATA]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print(f"ERROR {missing[0]}: no such file", file=sys.stderr)
        return 2
    build(args.out_dir, paths, args.seed)
    print(args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
