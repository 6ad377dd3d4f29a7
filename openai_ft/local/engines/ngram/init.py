"""The starting point of training: choose the model shape, start fresh or from a base model."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from openai_ft.local.engines.ngram.data import Example, design_matrix
from openai_ft.local.engines.ngram.features import normalise_reply
from openai_ft.local.engines.ngram.model import TrainedModel

# A weight matrix per reply pays off when replies repeat; beyond these sizes use retrieval.
MAX_CLASSIFIER_CLASSES = 200
MAX_CLASSIFIER_CELLS = 20_000_000
INITIAL_SCALE = 10.0


def choose_mode(n_examples: int, n_classes: int, n_features: int) -> str:
    """``classifier`` when replies repeat (on average twice or more), else ``retrieval``."""
    repeats = n_classes * 2 <= n_examples
    small = n_classes <= MAX_CLASSIFIER_CLASSES and n_classes * n_features <= MAX_CLASSIFIER_CELLS
    return "classifier" if repeats and small else "retrieval"


def initial_model(
    examples: list[Example],
    feats: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
    classes: list[str],
    index: dict[str, int],
    base: TrainedModel | None,
) -> TrainedModel:
    """A model over the union of the base's and the new features/replies, weights copied over."""
    new_ids = [f[0] for f in feats]
    if base is not None:
        new_ids.append(base.feat_ids)
    feat_ids = np.unique(np.concatenate(new_ids)).astype(np.int64)
    n_feat, n_cls = len(feat_ids), len(classes)
    mode = base.mode if base is not None else choose_mode(len(examples), n_cls, n_feat)
    old = np.searchsorted(feat_ids, base.feat_ids) if base is not None else None
    n_old = len(base.classes) if base is not None else 0
    b = np.zeros(n_cls)
    if base is not None:
        b[:n_old] = base.arrays["b"]
    meta: dict[str, Any] = {"hash_bits": 18, "base_mode": base.mode if base else None}
    if mode == "classifier":
        weights = np.zeros((n_feat, n_cls), dtype=np.float32)
        if base is not None:
            weights[old, :n_old] = base.arrays["W"]
        arrays: dict[str, np.ndarray[Any, Any]] = {"W": weights, "b": b}
        return TrainedModel(mode=mode, classes=classes, feat_ids=feat_ids, arrays=arrays, meta=meta)
    # Retrieval: column c of M is the mean of the prompts whose reply is c (running mean over
    # the base model's prompts and the new ones). A DPO rejected reply is anchored to its prompt.
    x = design_matrix(feats, feat_ids)
    rows: list[int] = []
    cols: list[int] = []
    for i, ex in enumerate(examples):
        for text in (ex.reply, ex.rejected):
            if text is not None:
                rows.append(index[normalise_reply(text)])
                cols.append(i)
    assign = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_cls, len(examples)))
    sums = (assign @ x).T.tocsr()  # features x classes
    counts = np.asarray(assign.sum(axis=1)).ravel()
    w = np.ones(n_feat)
    scale = np.array([INITIAL_SCALE])
    if base is not None and old is not None:
        old_counts = base.arrays["counts"]
        prev = base.centroids.multiply(old_counts[None, :]).tocoo()
        sums = sums + sp.csr_matrix((prev.data, (old[prev.row], prev.col)), shape=(n_feat, n_cls))
        counts[:n_old] += old_counts
        w[old] = base.arrays["w"]
        scale = base.arrays["s"].copy()
    centroids = sp.csr_matrix(sums.multiply(1.0 / np.maximum(counts, 1.0)[None, :]))
    centroids.sort_indices()
    arrays = {
        "w": w,
        "s": scale,
        "b": b,
        "counts": counts,
        "m_data": centroids.data.astype(np.float64),
        "m_indices": centroids.indices.astype(np.int64),
        "m_indptr": centroids.indptr.astype(np.int64),
    }
    return TrainedModel(mode=mode, classes=classes, feat_ids=feat_ids, arrays=arrays, meta=meta)
