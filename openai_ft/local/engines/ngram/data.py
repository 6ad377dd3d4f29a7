"""Training examples -> (prompt, target reply) pairs and the sparse design matrix of the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from openai_ft.errors import DataError, UsageError
from openai_ft.local.engines.ngram.features import normalise_reply, prompt_features, reply_text

METHODS = ("supervised", "dpo")


@dataclass(frozen=True)
class Example:
    """One training pair: the prompt messages, the target reply and (DPO) the rejected reply."""

    prompt: list[dict[str, Any]]
    reply: str
    rejected: str | None = None


def _supervised(line: dict[str, Any], number: int) -> Example:
    messages = line.get("messages")
    if not isinstance(messages, list):
        raise DataError(f"example {number}: no 'messages' list", tip="validate the file first")
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, dict) and message.get("role") == "assistant":
            if message.get("weight", 1) == 0:
                continue
            return Example(prompt=messages[:i], reply=reply_text(message))
    raise DataError(
        f"example {number}: no assistant message to learn from (all have weight 0 or none exist)",
        tip="end each example with an assistant reply",
    )


def _dpo(line: dict[str, Any], number: int) -> Example:
    try:
        prompt = line["input"]["messages"]
        preferred = reply_text(line["preferred_output"][-1])
        rejected = reply_text(line["non_preferred_output"][-1])
    except (KeyError, IndexError, TypeError):
        raise DataError(
            f"example {number}: a DPO example needs input.messages, preferred_output and "
            "non_preferred_output",
            tip="validate the file with `openai-ft validate --method dpo`",
        ) from None
    return Example(prompt=list(prompt), reply=preferred, rejected=rejected)


def parse_examples(lines: list[dict[str, Any]], method: str) -> list[Example]:
    """Turn parsed JSONL lines into examples (1-based line numbers in errors)."""
    if method not in METHODS:
        raise UsageError(
            f"the n-gram engine cannot train method {method!r}",
            tip=f"use one of: {', '.join(METHODS)}",
        )
    parse = _supervised if method == "supervised" else _dpo
    return [parse(line, i + 1) for i, line in enumerate(lines)]


def class_index(existing: list[str], examples: list[Example]) -> tuple[list[str], dict[str, int]]:
    """Replies known to the model: the existing ones, then new ones in order of first use."""
    classes = list(existing)
    index = {normalise_reply(c): i for i, c in enumerate(classes)}
    for ex in examples:
        for text in (ex.reply, ex.rejected):
            if text is None:
                continue
            key = normalise_reply(text)
            if key not in index:
                index[key] = len(classes)
                classes.append(key)
    return classes, index


def featurise(examples: list[Example]) -> list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """Hashed features (buckets, values) of every example's prompt."""
    return [prompt_features(ex.prompt) for ex in examples]


def design_matrix(
    feats: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]], feat_ids: np.ndarray[Any, Any]
) -> sp.csr_matrix:
    """Rows = prompts, columns = positions in ``feat_ids``; unseen buckets are dropped."""
    indptr = [0]
    indices: list[np.ndarray[Any, Any]] = []
    data: list[np.ndarray[Any, Any]] = []
    for buckets, values in feats:
        pos = np.searchsorted(feat_ids, buckets)
        clipped = np.minimum(pos, max(len(feat_ids) - 1, 0))
        keep = (pos < len(feat_ids)) & (feat_ids[clipped] == buckets) if len(feat_ids) else pos < 0
        indices.append(pos[keep])
        data.append(values[keep])
        indptr.append(indptr[-1] + int(keep.sum()))
    return sp.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0),
            np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
            np.asarray(indptr),
        ),
        shape=(len(feats), len(feat_ids)),
    )
