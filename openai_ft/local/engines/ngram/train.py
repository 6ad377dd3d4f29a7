"""The training loop of the n-gram engine: mini-batch Adam on cross-entropy (or DPO), with metrics.

Every number reported is measured: the training loss and token accuracy are those of the model on
the batch before its update; validation metrics are computed on a sample batch of the validation
set every few steps and on the whole set at each epoch end. Shuffling uses a numpy Generator
seeded with ``seed``, so a run is reproducible to the bit and a resumed run can replay its steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from openai_ft.errors import DataError
from openai_ft.local.engines.ngram.data import (
    Example,
    class_index,
    design_matrix,
    featurise,
    parse_examples,
)
from openai_ft.local.engines.ngram.features import (
    normalise_reply,
    reply_features,
    token_accuracy,
    tokenize,
)
from openai_ft.local.engines.ngram.init import initial_model
from openai_ft.local.engines.ngram.model import TrainedModel, log_softmax

Float = npt.NDArray[np.float64]
BASE_LR = {"classifier": 0.02, "retrieval": 0.01}
VALID_EVALS_PER_RUN = 25
_B1, _B2, _EPS = 0.9, 0.999, 1e-8
# An Adam step moves a weight by about lr; above this the float32 weights overflow to inf/NaN
# within a run. The spec bounds learning_rate_multiplier only below: larger ones train at this.
MAX_STEP = 2.0  # = the most the engine accepted before (multiplier 100 x 0.02)


@dataclass(frozen=True)
class Hyperparameters:
    """Concrete hyperparameters of a run (no "auto" left)."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None = None


@dataclass(frozen=True)
class StepMetrics:
    """What one optimisation step measured (validation fields are None when not evaluated)."""

    step: int
    total_steps: int
    epoch: int
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None
    valid_mean_token_accuracy: float | None
    full_valid_loss: float | None
    full_valid_mean_token_accuracy: float | None


@dataclass
class _Split:
    """A featurised set of examples: design matrix, target classes, tokens, DPO reference."""

    x: sp.csr_matrix
    target: npt.NDArray[np.int64]
    rejected: npt.NDArray[np.int64]
    tokens: list[list[str]]
    ref_diff: Float


class _Adam:
    """Adam with lazy (row-sparse) updates: only the feature rows a batch touches move."""

    def __init__(self, arrays: dict[str, npt.NDArray[Any]], names: tuple[str, ...], lr: float):
        self.lr = min(lr, MAX_STEP)
        self.t = 0
        self.m = {k: np.zeros_like(arrays[k], dtype=np.float64) for k in names}
        self.v = {k: np.zeros_like(arrays[k], dtype=np.float64) for k in names}

    def update(
        self, param: npt.NDArray[Any], name: str, grad: Float, rows: Any = slice(None)
    ) -> None:
        m, v = self.m[name], self.v[name]
        m[rows] = _B1 * m[rows] + (1 - _B1) * grad
        v[rows] = _B2 * v[rows] + (1 - _B2) * grad * grad
        m_hat = m[rows] / (1 - _B1**self.t)
        v_hat = v[rows] / (1 - _B2**self.t)
        param[rows] -= (self.lr * m_hat / (np.sqrt(v_hat) + _EPS)).astype(param.dtype)


def _objective(z: Float, split: _Split, idx: Any, method: str, beta: float) -> tuple[float, Float]:
    """Mean loss over the rows of z and its gradient with respect to z."""
    lp = log_softmax(z)
    rows = np.arange(len(z))
    target = split.target[idx]
    if method == "dpo":
        rejected = split.rejected[idx]
        margin = beta * ((lp[rows, target] - lp[rows, rejected]) - split.ref_diff[idx])
        loss = float(np.logaddexp(0.0, -margin).mean())
        push = beta / (1.0 + np.exp(margin)) / len(z)
        grad = np.zeros_like(z)
        np.add.at(grad, (rows, target), -push)
        np.add.at(grad, (rows, rejected), push)
        return loss, grad
    loss = float(-lp[rows, target].mean())
    grad = np.exp(lp)
    grad[rows, target] -= 1.0
    return loss, grad / len(z)


def _accuracy(model: TrainedModel, z: Float, split: _Split, idx: Any) -> float:
    predicted = np.argmax(z, axis=1)
    scores = [
        token_accuracy(model.class_tokens(int(p)), split.tokens[int(i)])
        for p, i in zip(predicted, np.arange(len(split.target))[idx], strict=True)
    ]
    return float(np.mean(scores))


def _backward(model: TrainedModel, opt: _Adam, x: sp.csr_matrix, z: Float, dz: Float) -> None:
    a = model.arrays
    cols = np.unique(x.indices)
    xc = x[:, cols]
    opt.t += 1
    if model.mode == "classifier":
        opt.update(a["W"], "W", np.asarray(xc.T @ dz), cols)
    else:
        s = float(a["s"][0])
        scores = (z - a["b"]) / s
        g = np.asarray(model.centroids[cols] @ (s * dz).T)  # features x batch
        grad_w = np.asarray(xc.multiply(g.T).sum(axis=0)).ravel()
        opt.update(a["w"], "w", grad_w, cols)
        opt.update(a["s"], "s", np.array([float((dz * scores).sum())]))
    opt.update(a["b"], "b", dz.sum(axis=0))


class _ReplyIndex:
    """Maps a reply text to a known reply: itself if known, else the most similar known reply."""

    def __init__(self, classes: list[str]) -> None:
        self.classes = classes
        self.known = {normalise_reply(c): i for i, c in enumerate(classes)}
        self._index: tuple[npt.NDArray[np.int64], sp.csr_matrix] | None = None

    def __call__(self, text: str) -> int:
        key = normalise_reply(text)
        if key not in self.known:
            if self._index is None:
                feats = [reply_features(c) for c in self.classes]
                ids = np.unique(np.concatenate([f[0] for f in feats]))
                self._index = (ids, design_matrix(feats, ids))
            ids, matrix = self._index
            query = design_matrix([reply_features(text)], ids)
            self.known[key] = int(np.argmax((matrix @ query.T).toarray().ravel()))
        return self.known[key]


def _split(
    model: TrainedModel, examples: list[Example], replies: _ReplyIndex, method: str, *, known: bool
) -> _Split:
    x = design_matrix(featurise(examples), model.feat_ids)
    target = np.array([replies(ex.reply) for ex in examples], dtype=np.int64)
    rejected = np.array([replies(ex.rejected or ex.reply) for ex in examples], dtype=np.int64)
    ref_diff = np.zeros(len(examples))
    if method == "dpo":
        lp = log_softmax(model.logits_batch(x))
        rows = np.arange(len(examples))
        ref_diff = lp[rows, target] - lp[rows, rejected]
    if known:  # training replies are classes: reuse the cached tokens
        tokens = [model.class_tokens(int(t)) for t in target]
    else:
        tokens = [tokenize(normalise_reply(ex.reply)) for ex in examples]
    return _Split(x, target, rejected, tokens, ref_diff)


def _evaluate(
    model: TrainedModel, split: _Split, idx: Any, method: str, beta: float
) -> tuple[float, float]:
    z = model.logits_batch(split.x[idx])
    loss, _ = _objective(z, split, idx, method, beta)
    return loss, _accuracy(model, z, split, idx)


def train_model(
    train: list[dict[str, Any]],
    valid: list[dict[str, Any]] | None,
    hp: Hyperparameters,
    *,
    method: str,
    seed: int,
    base: TrainedModel | None,
    on_step: Callable[[StepMetrics], None],
    on_epoch_end: Callable[[int, int, TrainedModel], None],
    should_stop: Callable[[], bool],
    start_step: int = 0,
) -> TrainedModel:
    """Train (or continue training ``base``) and report every step; see NGramEngine.train."""
    examples = parse_examples(train, method)
    if not examples:
        raise DataError("the training file has no examples", tip="add at least 10 examples")
    classes, index = class_index(base.classes if base else [], examples)
    feats = featurise(examples)
    model = initial_model(examples, feats, classes, index, base)
    replies = _ReplyIndex(model.classes)
    tr = _split(model, examples, replies, method, known=True)
    va = (
        _split(model, parse_examples(valid, method), replies, method, known=False)
        if valid
        else None
    )
    beta = hp.beta if hp.beta is not None else 0.1
    names = ("W", "b") if model.mode == "classifier" else ("w", "s", "b")
    opt = _Adam(model.arrays, names, BASE_LR[model.mode] * hp.learning_rate_multiplier)
    n = len(examples)
    per_epoch = math.ceil(n / hp.batch_size)
    total = hp.n_epochs * per_epoch
    every = max(1, total // VALID_EVALS_PER_RUN)
    model.meta.update({"method": method, "n_train": n, "seed": seed, "total_steps": total})
    rng = np.random.default_rng(seed)
    step = 0
    for epoch in range(1, hp.n_epochs + 1):
        order = rng.permutation(n)
        for start in range(0, n, hp.batch_size):
            if should_stop():
                return model
            idx = order[start : start + hp.batch_size]
            xb = tr.x[idx]
            z = model.logits_batch(xb)
            loss, dz = _objective(z, tr, idx, method, beta)
            acc = _accuracy(model, z, tr, idx)
            _backward(model, opt, xb, z, dz)
            step += 1
            if step <= start_step:
                continue
            last = start + hp.batch_size >= n
            v_loss = v_acc = f_loss = f_acc = None
            if va is not None and (step % every == 0 or last):
                pick = np.random.default_rng([seed, step]).permutation(len(va.target))
                v_loss, v_acc = _evaluate(model, va, pick[: hp.batch_size], method, beta)
                if last:
                    f_loss, f_acc = _evaluate(model, va, slice(None), method, beta)
            on_step(StepMetrics(step, total, epoch, loss, acc, v_loss, v_acc, f_loss, f_acc))
        if step > start_step:
            on_epoch_end(epoch, step, model.copy())
    return model
