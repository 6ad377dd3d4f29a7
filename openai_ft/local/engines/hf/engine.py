"""The ``hf`` engine: SFT and DPO of open-weight models with TRL, LoRA by default.

One engine object per job (:func:`openai_ft.local.engines.engine_for` builds it): it knows the base
model's folder and the job's work folder, where the trainer keeps its checkpoints (weights,
optimiser, scheduler and RNG states). A job that stops (pause, cancel, a crash) resumes from the
newest of them at or before its last recorded step and replays the steps after it: with the same
seed, on the CPU, the replayed losses are the ones already recorded, so nothing is recorded twice.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openai_ft.local.engines import Engine
from openai_ft.local.engines.hf import hparams
from openai_ft.local.engines.hf.data import dpo_example, sft_example
from openai_ft.local.engines.hf.hparams import HFHyperparameters
from openai_ft.local.engines.hf.model import HFModel, load_causal_lm, load_tokenizer, quiet
from openai_ft.local.engines.ngram.train import Hyperparameters, StepMetrics


class HFEngine(Engine):
    """Transformers + TRL + PEFT on torch, for one base model and one job's work folder."""

    name = "hf"

    def __init__(self, base: str, base_path: Path, work_dir: Path | None = None) -> None:
        self.base = base
        self.base_path = base_path
        self.work_dir = work_dir
        self.stopped_early_at: int | None = None

    def resolve_hyperparameters(
        self, n_train: int, method: str, requested: dict[str, Any]
    ) -> Hyperparameters:
        """Fill "auto" (see :func:`hparams.resolve`)."""
        return hparams.resolve(n_train, method, requested)

    def report_hyperparameters(self, hp: Hyperparameters, method: str) -> dict[str, Any]:
        """Every resolved value, as the job shows it."""
        assert isinstance(hp, HFHyperparameters)
        return hp.report(method)

    def hyperparameters_from(self, raw: dict[str, Any]) -> Hyperparameters:
        """The resolved hyperparameters a job stored."""
        return hparams.from_job(raw)

    def train(
        self,
        train: list[dict[str, Any]],
        valid: list[dict[str, Any]] | None,
        hp: Hyperparameters,
        *,
        method: str,
        seed: int,
        base: Any,
        on_step: Callable[[StepMetrics], None],
        on_epoch_end: Callable[[int, int, Any], None],
        should_stop: Callable[[], bool],
        start_step: int = 0,
    ) -> Any:
        """Train with TRL, resuming from the newest checkpoint at or before ``start_step``."""
        import torch

        from openai_ft.local.engines.hf.trainer import Reporter, latest_checkpoint

        assert isinstance(hp, HFHyperparameters)
        quiet()
        out = self._out()
        if start_step == 0 and out.exists():
            shutil.rmtree(out)  # a job that restarts from zero must not see an older run's state
        torch.manual_seed(seed)  # LoRA's initial matrices
        kind = base.kind if isinstance(base, HFModel) else hp.fine_tuning
        per_epoch = math.ceil(len(train) / hp.batch_size)
        total = per_epoch * hp.n_epochs
        meta = {"method": method, "seed": seed, "hyperparameters": hp.report(method)}

        def checkpoint(epoch: int, step: int, folder: Path) -> None:
            on_epoch_end(
                epoch, step, HFModel.from_dir(self.base, str(self.base_path), kind, folder, meta)
            )

        reporter = Reporter(
            total_steps=total,
            per_epoch=per_epoch,
            hp=hp,
            on_step=on_step,
            on_checkpoint=checkpoint,
            should_stop=should_stop,
        )
        trainer = self._trainer(train, valid, hp, method, seed, base, kind, total, reporter)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(
            PrinterCallback
        )  # it prints every log line: the library never prints
        trainer.train(resume_from_checkpoint=latest_checkpoint(out, start_step))
        self.stopped_early_at = reporter.stopped_early_at
        final = out / "final"
        trainer.model.save_pretrained(str(final))
        model = HFModel.from_dir(self.base, str(self.base_path), kind, final, meta)
        model.meta["stopped_early_at"] = reporter.stopped_early_at
        if trainer.state.global_step >= total or reporter.stopped_early_at:
            shutil.rmtree(out, ignore_errors=True)  # done: the trainer's checkpoints are not needed
        return model

    def _out(self) -> Path:
        if self.work_dir is None:
            import tempfile

            self.work_dir = Path(tempfile.mkdtemp(prefix="oft-hf-job-"))
        return self.work_dir

    def _model(self, hp: HFHyperparameters, base: Any, kind: str) -> tuple[Any, Any]:
        """The model to train and, for DPO on an earlier fine-tune, its frozen reference."""
        if isinstance(base, HFModel):
            return base.load_for_training(), base
        model = load_causal_lm(str(self.base_path))
        if kind == "full":
            _freeze(model, hp.freeze_layers)
            return model, None
        from peft import LoraConfig, get_peft_model

        targets, layers = hp.lora_target_modules, None
        if hp.freeze_layers and targets == "all-linear":
            targets = _linear_modules_from(model, hp.freeze_layers)  # PEFT: names, not a layer list
        elif hp.freeze_layers:
            layers = list(range(hp.freeze_layers, _layer_count(model)))
        config = LoraConfig(
            r=hp.lora_rank,
            lora_alpha=hp.lora_alpha,
            lora_dropout=hp.lora_dropout,
            target_modules=targets,
            layers_to_transform=layers,
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, config), None

    def _trainer(
        self,
        train: list[dict[str, Any]],
        valid: list[dict[str, Any]] | None,
        hp: HFHyperparameters,
        method: str,
        seed: int,
        base: Any,
        kind: str,
        total: int,
        reporter: Any,
    ) -> Any:
        from datasets import Dataset

        from openai_ft.local.engines.hf.trainer import common_args

        tokenizer = load_tokenizer(str(self.base_path))
        model, earlier = self._model(hp, base, kind)
        args = common_args(hp, self._out(), seed, total, bool(valid))
        if method == "dpo":
            from trl.trainer.dpo_config import DPOConfig
            from trl.trainer.dpo_trainer import DPOTrainer

            ref = None
            if earlier is not None:  # the reference is the model this job starts from
                ref = earlier.load_for_training()
                ref = ref.merge_and_unload() if earlier.kind == "lora" else ref
                ref.eval()
            args.pop("dataset_num_proc")
            args["max_length"] = hp.max_seq_length
            return DPOTrainer(
                model=model,
                ref_model=ref,
                args=DPOConfig(beta=hp.beta or hparams.DEFAULT_BETA, **args),
                train_dataset=Dataset.from_list([dpo_example(e) for e in train]),
                eval_dataset=Dataset.from_list([dpo_example(e) for e in valid]) if valid else None,
                processing_class=tokenizer,
                callbacks=[reporter],
            )
        from trl.trainer.sft_config import SFTConfig
        from trl.trainer.sft_trainer import SFTTrainer

        def rows(examples: list[dict[str, Any]]) -> Any:
            return Dataset.from_list(
                [sft_example(tokenizer, e, hp.max_seq_length) for e in examples]
            )

        return SFTTrainer(
            model=model,
            args=SFTConfig(**args),
            train_dataset=rows(train),
            eval_dataset=rows(valid) if valid else None,
            processing_class=tokenizer,
            callbacks=[reporter],
        )


class HFServiceEngine(Engine):
    """``serve --engine hf``: the default engine of a service that trains only hf models.

    A job reaches an :class:`HFEngine` through its model; this one stands for "no n-gram
    stand-in here": job creation refuses models that are not registered hf models.
    """

    name = "hf"

    def resolve_hyperparameters(
        self, n_train: int, method: str, requested: dict[str, Any]
    ) -> Hyperparameters:
        """Never reached: jobs on unregistered models are refused when created."""
        raise _only_hf_models()

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """Never reached (see :meth:`resolve_hyperparameters`); refuses the same way if it is."""
        raise _only_hf_models()


def _only_hf_models() -> Exception:
    """The refusal of a service that trains registered hf models only."""
    from openai_ft.errors import UsageError

    return UsageError("this service trains registered hf models only")


def _linear_modules_from(model: Any, first_layer: int) -> list[str]:
    """Full names of the linear modules inside transformer blocks ``first_layer`` and later."""
    import torch

    names = []
    for name, module in model.named_modules():
        parts = name.split(".")
        if isinstance(module, torch.nn.Linear) and "layers" in parts:
            index = parts[parts.index("layers") + 1]
            if index.isdigit() and int(index) >= first_layer:
                names.append(name)
    return names


def _layer_count(model: Any) -> int:
    return int(getattr(model.config, "num_hidden_layers", 0) or 0)


def _freeze(model: Any, n_layers: int) -> None:
    """Full fine-tuning: freeze the embeddings and the first ``n_layers`` blocks."""
    if n_layers <= 0:
        return
    for name, param in model.named_parameters():
        parts = name.split(".")
        if "embed_tokens" in parts:
            param.requires_grad = False
        if "layers" in parts:
            index = parts[parts.index("layers") + 1]
            if index.isdigit() and int(index) < n_layers:
                param.requires_grad = False


__all__ = ["HFEngine", "HFServiceEngine"]
