"""A model the ``hf`` engine trained: its base, its adapter (or full weights), and how to load it.

What is stored (the service's blob of the model) is the LoRA adapter as PEFT writes it
(``adapter_config.json`` + ``adapter_model.safetensors``), or the full weights when the job asked
for full fine-tuning, in a zip after a short header: never merged weights for LoRA. Loading one
for chat reads the base from its folder, applies the adapter and merges it in memory.
"""

from __future__ import annotations

import io
import json
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any

from openai_ft.errors import DataError

MAGIC = b"OFTHF1\n"
FORMAT_VERSION = 1
_WEIGHT_FILES = ("adapter_config.json", "adapter_model.safetensors")


def quiet() -> None:
    """No progress bars or info logs from the Hugging Face libraries (the library never prints)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    import warnings

    # TRL still sets transformers' deprecated ``gradient_checkpointing`` name; nothing to act on.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")
    import importlib

    for name in ("transformers.utils.logging", "datasets.utils.logging"):
        try:
            module: Any = importlib.import_module(name)
        except ImportError:
            continue
        module.set_verbosity_error()
        module.disable_progress_bar()


def device_and_dtype() -> tuple[str, Any]:
    """``cuda`` with bf16 where supported (fp32 otherwise), else the CPU in fp32."""
    import torch

    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return "cuda", torch.bfloat16 if bf16 else torch.float32
    return "cpu", torch.float32


def load_tokenizer(path: str) -> Any:
    """The tokenizer of a base model folder (left padding, a pad token)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(path: str) -> Any:
    """A causal LM from a local folder, on the GPU when there is one."""
    import transformers

    auto: Any = transformers.AutoModelForCausalLM
    quiet()
    device, dtype = device_and_dtype()
    model = auto.from_pretrained(path, local_files_only=True, dtype=dtype)
    return model.to(device)


class HFModel:
    """A fine-tuned model: base alias and folder, kind (``lora`` or ``full``), weight files."""

    engine = "hf"

    def __init__(
        self,
        *,
        base: str,
        base_path: str,
        kind: str,
        files: dict[str, bytes],
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.base = base
        self.base_path = base_path
        self.kind = kind
        self.files = files
        self.meta = dict(meta or {})
        self._decoder: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_dir(
        cls, base: str, base_path: str, kind: str, folder: Path, meta: dict[str, Any]
    ) -> HFModel:
        """Read the adapter (or, for ``full``, the model) files a trainer saved in ``folder``."""
        if kind == "lora":
            names = [n for n in _WEIGHT_FILES if (folder / n).is_file()]
        else:
            names = [
                p.name
                for p in folder.iterdir()
                if p.name == "config.json" or p.name.endswith(".safetensors")
            ]
        files = {name: (folder / name).read_bytes() for name in sorted(names)}
        return cls(base=base, base_path=base_path, kind=kind, files=files, meta=meta)

    def write_to(self, folder: Path) -> Path:
        """Write the weight files to ``folder`` (for PEFT or transformers to load)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (folder / name).write_bytes(data)
        return folder

    @property
    def size(self) -> int:
        """Bytes of stored weights."""
        return sum(len(v) for v in self.files.values())

    # -- persistence -----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The stored form: a header line and a zip of the weight files (no pickle)."""
        header = {
            "format": FORMAT_VERSION,
            "engine": "hf",
            "base": self.base,
            "base_path": self.base_path,
            "kind": self.kind,
            "meta": self.meta,
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("header.json", json.dumps(header))
            for name, data in self.files.items():
                archive.writestr(name, data)
        return MAGIC + buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> HFModel:
        """Load what :meth:`to_bytes` wrote."""
        if not data.startswith(MAGIC):
            raise DataError("not a saved hf model")
        try:
            with zipfile.ZipFile(io.BytesIO(data[len(MAGIC) :])) as archive:
                header = json.loads(archive.read("header.json"))
                files = {n: archive.read(n) for n in archive.namelist() if n != "header.json"}
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise DataError(f"saved hf model is damaged: {exc}") from None
        if header.get("format") != FORMAT_VERSION:
            raise DataError(f"saved hf model has format {header.get('format')}")
        return cls(
            base=header["base"],
            base_path=header["base_path"],
            kind=header["kind"],
            files=files,
            meta=header.get("meta", {}),
        )

    def base_folder(self) -> str:
        """The base model's folder: where it was at training time, else the registry's entry."""
        if Path(self.base_path).is_dir():
            return self.base_path
        from openai_ft.local.engines.hf.registry import lookup

        entry = lookup(None, self.base)
        if entry is None:
            raise DataError(
                f"base model {self.base!r} of this fine-tune is gone from {self.base_path}",
                tip=f"register {self.base!r} again (OPENAI_FT_HF_MODELS) with its new folder",
            )
        return str(entry.path())

    # -- inference -------------------------------------------------------------------------

    def complete(self, messages: list[dict[str, Any]], **options: Any) -> list[Any]:
        """Completions as :meth:`TrainedModel.complete` gives them (n, temperature, seed...)."""
        return complete(self.decoder(), messages, **options)

    def load_for_training(self) -> Any:
        """The model as a trainer continues it: base + trainable adapter, or the full weights."""
        with tempfile.TemporaryDirectory(prefix="oft-hf-") as tmp:
            folder = self.write_to(Path(tmp))
            if self.kind == "full":
                for extra in Path(self.base_folder()).glob("generation_config.json"):
                    (folder / extra.name).write_bytes(extra.read_bytes())
                return load_causal_lm(str(folder))
            from peft import PeftModel

            base = load_causal_lm(self.base_folder())
            return PeftModel.from_pretrained(base, str(folder), is_trainable=True)

    def decoder(self) -> Any:
        """The loaded model for generation (loaded once, kept while this object lives)."""
        with self._lock:
            if self._decoder is None:
                from openai_ft.local.engines.hf.generate import Decoder

                model = self.load_for_training()
                if self.kind == "lora":
                    model = model.merge_and_unload()
                model.eval()
                self._decoder = Decoder(model, load_tokenizer(self.base_folder()))
            return self._decoder


def complete(decoder: Any, messages: list[dict[str, Any]], **options: Any) -> list[Any]:
    """``n`` completions of a conversation, as the n-gram engine's ``complete`` returns them."""
    from openai_ft.local.engines.hf.generate import Row
    from openai_ft.local.engines.ngram.model import Completion

    prompt = decoder.tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True
    )
    ids = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
    seed = options.get("seed")
    rows = [
        Row(
            prompt=ids,
            max_new=int(options.get("max_tokens") or 256),
            temperature=float(options.get("temperature", 1.0)),
            top_p=float(options.get("top_p", 1.0)),
            seed=None if seed is None else seed + i,
            top_logprobs=int(options.get("top_logprobs", 0)),
        )
        for i in range(int(options.get("n", 1)))
    ]
    decoder.run(rows)
    return [Completion(r.text, list(r.tokens)) for r in rows]


_BASES: dict[str, Any] = {}
_BASES_LOCK = threading.Lock()


def base_decoder(path: str) -> Any:
    """The decoder of a base model folder, loaded once per process."""
    with _BASES_LOCK:
        decoder = _BASES.get(path)
        if decoder is None:
            from openai_ft.local.engines.hf.generate import Decoder

            model = load_causal_lm(path)
            model.eval()
            decoder = _BASES[path] = Decoder(model, load_tokenizer(path))
        return decoder


__all__ = ["MAGIC", "HFModel", "base_decoder", "device_and_dtype", "load_causal_lm", "quiet"]
