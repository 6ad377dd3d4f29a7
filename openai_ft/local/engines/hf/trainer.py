"""TRL trainers for the ``hf`` engine and the callback that reports their steps to the service.

The callback turns the trainer's logs into :class:`StepMetrics` (training loss and token accuracy
every step, validation loss every ``eval_steps``), asks the service after each step whether to
stop (pause, cancel, a step budget), stops on validation loss that has not improved for
``early_stopping_patience`` evaluations, and hands each epoch's checkpoint to the service.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from openai_ft.local.engines.hf.hparams import HFHyperparameters
from openai_ft.local.engines.ngram.train import StepMetrics


class Reporter(TrainerCallback):  # type: ignore[misc,unused-ignore]
    """Trainer callback: step metrics out, stop requests in, epoch checkpoints out."""

    def __init__(
        self,
        *,
        total_steps: int,
        per_epoch: int,
        hp: HFHyperparameters,
        on_step: Callable[[StepMetrics], None],
        on_checkpoint: Callable[[int, int, Path], None],
        should_stop: Callable[[], bool],
    ) -> None:
        self.total = total_steps
        self.per_epoch = max(1, per_epoch)
        self.hp = hp
        self.on_step = on_step
        self.on_checkpoint = on_checkpoint
        self.should_stop = should_stop
        self.pending: tuple[int, float, float] | None = None
        self.best: float | None = None
        self.bad_evals = 0
        self.stopped_early_at: int | None = None

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> Any:
        """A training log: report the step now, or after its evaluation when one is due."""
        logs = logs or {}
        if "loss" not in logs or "eval_loss" in logs:
            return control
        accuracy = float(logs.get("mean_token_accuracy", 0.0))
        self.pending = (state.global_step, float(logs["loss"]), accuracy)
        if not control.should_evaluate:
            self._emit(control, None, None)
        return control

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any
    ) -> Any:
        """Validation metrics: attach them to the pending step; early stopping bookkeeping."""
        metrics = metrics or {}
        loss = metrics.get("eval_loss")
        accuracy = metrics.get("eval_mean_token_accuracy")
        if loss is not None and self.hp.early_stopping_patience > 0:
            if self.best is None or loss < self.best - 1e-6:
                self.best, self.bad_evals = float(loss), 0
            else:
                self.bad_evals += 1
        self._emit(
            control,
            None if loss is None else float(loss),
            None if accuracy is None else float(accuracy),
        )
        if self.hp.early_stopping_patience and self.bad_evals >= self.hp.early_stopping_patience:
            self.stopped_early_at = state.global_step
            control.should_training_stop = True
        return control

    def _emit(self, control: Any, valid: float | None, valid_acc: float | None) -> None:
        if self.pending is None:
            return
        step, loss, accuracy = self.pending
        self.pending = None
        self.on_step(
            StepMetrics(
                step=step,
                total_steps=self.total,
                epoch=(step - 1) // self.per_epoch,
                train_loss=loss,
                train_mean_token_accuracy=accuracy,
                valid_loss=valid,
                valid_mean_token_accuracy=valid_acc,
                full_valid_loss=valid,
                full_valid_mean_token_accuracy=valid_acc,
            )
        )
        if self.should_stop():
            control.should_training_stop = True

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
        """A checkpoint was written: an epoch's end becomes a model the service stores."""
        step = state.global_step
        if step % self.per_epoch == 0 or step == self.total:
            folder = Path(args.output_dir) / f"checkpoint-{step}"
            self.on_checkpoint(step // self.per_epoch, step, folder)
        return control


def common_args(
    hp: HFHyperparameters, out: Path, seed: int, total_steps: int, has_valid: bool
) -> dict[str, Any]:
    """The ``TrainingArguments`` shared by SFT and DPO runs."""
    from openai_ft.local.engines.hf.model import device_and_dtype

    device, dtype = device_and_dtype()
    import torch

    return {
        "output_dir": str(out),
        "num_train_epochs": hp.n_epochs,
        "per_device_train_batch_size": hp.batch_size // hp.gradient_accumulation_steps,
        "per_device_eval_batch_size": hp.batch_size,
        "gradient_accumulation_steps": hp.gradient_accumulation_steps,
        "learning_rate": hp.learning_rate,
        "lr_scheduler_type": hp.lr_scheduler,
        "warmup_steps": round(hp.warmup_ratio * total_steps),
        "weight_decay": hp.weight_decay,
        "logging_steps": 1,
        "eval_strategy": "steps" if has_valid else "no",
        "eval_steps": hp.eval_steps if has_valid else None,
        "save_strategy": "epoch",
        "save_total_limit": 2,
        "seed": seed,
        "data_seed": seed,
        "report_to": "none",
        "disable_tqdm": True,
        "bf16": device == "cuda" and dtype == torch.bfloat16,
        "fp16": False,
        "gradient_checkpointing": False,
        "use_cpu": device == "cpu",
        "dataloader_num_workers": 0,
        "dataset_num_proc": None,
        "max_length": None,
    }


def latest_checkpoint(out: Path, at_most: int) -> str | None:
    """The newest trainer checkpoint in ``out`` at or before step ``at_most``."""
    best: tuple[int, Path] | None = None
    for path in out.glob("checkpoint-*"):
        try:
            step = int(path.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        done = (path / "trainer_state.json").is_file()
        if done and step <= at_most and (best is None or step > best[0]):
            best = (step, path)
    return None if best is None else str(best[1])


__all__ = ["Reporter", "common_args", "latest_checkpoint"]
