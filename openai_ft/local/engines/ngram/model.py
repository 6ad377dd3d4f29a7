"""The trained n-gram model: scores every known reply for a prompt, samples, serialises.

Two shapes of one idea, "score the replies seen in training":

- ``classifier``: a softmax over the distinct replies, ``z = x @ W + b`` (W is features x replies).
  Used when replies repeat (labels, canned answers).
- ``retrieval``: nearest-neighbour over training prompts with a learned feature weighting,
  ``z_c = s * sum_f x_f * w_f * M[f, c] + b_c`` where column c of M is the mean prompt of reply c.
  Used for free-form replies (few repeats), where a weight matrix per reply would be wasteful.

Only features seen in training are stored (``feat_ids``, sorted); unseen buckets weigh nothing.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from openai_ft.local.engines.ngram.features import prompt_segments, segment_features, tokenize

FORMAT_VERSION = 1
Float = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Completion:
    """One completion: the text, and per token (token, logprob, top alternatives)."""

    text: str
    tokens_logprobs: list[tuple[str, float, list[tuple[str, float]]]] | None


def log_softmax(z: Float) -> Float:
    """Row-wise log-softmax, numerically stable."""
    shifted = z - z.max(axis=-1, keepdims=True)
    out: Float = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


class TrainedModel:
    """A model produced by :class:`NGramEngine`: complete a conversation, or (de)serialise."""

    def __init__(
        self,
        *,
        mode: str,
        classes: list[str],
        feat_ids: Ints,
        arrays: dict[str, npt.NDArray[Any]],
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.mode = mode
        self.classes = list(classes)
        self.feat_ids = feat_ids
        self.arrays = arrays
        self.meta = dict(meta or {})
        self._tokens: list[list[str]] | None = None
        self._matrix: sp.csr_matrix | None = None
        self._system_cache: dict[tuple[str, int, float], tuple[Ints, Float]] = {}

    # -- scoring -------------------------------------------------------------------------------

    @property
    def centroids(self) -> sp.csr_matrix:
        """The reply-prototype matrix M (features x replies) of a retrieval model."""
        if self._matrix is None:
            a = self.arrays
            self._matrix = sp.csr_matrix(
                (a["m_data"], a["m_indices"], a["m_indptr"]),
                shape=(len(self.feat_ids), len(self.classes)),
            )
        return self._matrix

    def columns(self, buckets: Ints, values: Float) -> tuple[Ints, Float]:
        """Map hashed buckets to this model's feature columns, dropping unseen ones."""
        pos = np.searchsorted(self.feat_ids, buckets)
        pos_clipped = np.minimum(pos, len(self.feat_ids) - 1)
        keep = (pos < len(self.feat_ids)) & (self.feat_ids[pos_clipped] == buckets)
        return pos[keep].astype(np.int64), values[keep]

    def prompt_columns(self, messages: list[dict[str, Any]]) -> tuple[Ints, Float]:
        """Model columns and values of a prompt; a column may repeat (its values then add up)."""
        parts = []
        for text, salt, weight, is_system in prompt_segments(messages):
            if not is_system:
                parts.append(self.columns(*segment_features(text, salt, weight)))
                continue
            key = (text, salt, weight)
            cached = self._system_cache.get(key)
            if cached is None:
                if len(self._system_cache) >= 256:
                    self._system_cache.clear()
                cached = self._system_cache[key] = self.columns(*segment_features(*key))
            parts.append(cached)
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def logits_one(self, messages: list[dict[str, Any]]) -> Float:
        """Scores of every known reply for one conversation (fast path, no scipy)."""
        cols, vals = self.prompt_columns(messages)
        a = self.arrays
        if self.mode == "classifier":
            z: Float = (vals @ a["W"][cols]).astype(np.float64) + a["b"]
            return z
        indptr, indices, data = a["m_indptr"], a["m_indices"], a["m_data"]
        starts, ends = indptr[cols], indptr[cols + 1]
        lengths = ends - starts
        # Gather the nonzeros of the selected rows of M without a Python loop.
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        gather = offsets + np.arange(int(lengths.sum()))
        weights = np.repeat(vals * a["w"][cols], lengths) * data[gather]
        scores = np.bincount(indices[gather], weights=weights, minlength=len(self.classes))
        out: Float = float(a["s"][0]) * scores + a["b"]
        return out

    def logits_batch(self, x: sp.csr_matrix) -> Float:
        """Scores of every known reply for a batch of prompts (rows of x, model columns)."""
        a = self.arrays
        if self.mode == "classifier":
            z: Float = np.asarray(x @ a["W"], dtype=np.float64) + a["b"]
            return z
        scores = (x.multiply(a["w"][None, :]).tocsr() @ self.centroids).toarray()
        out: Float = float(a["s"][0]) * scores + a["b"]
        return out

    def class_tokens(self, index: int) -> list[str]:
        """Tokens of reply ``index`` (cached)."""
        if self._tokens is None:
            self._tokens = [tokenize(c) for c in self.classes]
        return self._tokens[index]

    # -- completion ----------------------------------------------------------------------------

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
        top_logprobs: int = 0,
    ) -> list[Completion]:
        """``n`` replies to a conversation: argmax at temperature 0, else sampled with ``seed``."""
        if not self.classes:
            return [Completion("", []) for _ in range(n)]
        z = self.logits_one(messages)
        logp = log_softmax(z)
        if temperature <= 0:
            choices = [int(np.argmax(z))] * n
        else:
            probs = np.exp(log_softmax(z / temperature))
            if top_p < 1.0:
                order = np.argsort(-probs, kind="stable")
                cut = int(np.searchsorted(np.cumsum(probs[order]), top_p)) + 1
                mask = np.zeros_like(probs)
                mask[order[:cut]] = 1.0
                probs = probs * mask / float((probs * mask).sum())
            # chat seeds are any int64; numpy takes non-negative seeds only
            rng = np.random.default_rng(None if seed is None else seed % 2**64)
            choices = [int(c) for c in rng.choice(len(probs), size=n, p=probs)]
        alternatives: list[tuple[str, float]] = []
        if top_logprobs > 0:
            seen: set[str] = set()
            for idx in np.argsort(-logp, kind="stable"):
                toks = self.class_tokens(int(idx))
                first = toks[0] if toks else ""
                if first not in seen:
                    seen.add(first)
                    alternatives.append((first, float(logp[idx])))
                if len(alternatives) >= top_logprobs:
                    break
        out = []
        for c in choices:
            toks = self.class_tokens(c)
            per_token = [
                (tok, float(logp[c]) if i == 0 else 0.0, alternatives if i == 0 else [])
                for i, tok in enumerate(toks)
            ]
            out.append(Completion(self.classes[c], per_token))
        return out

    # -- persistence ---------------------------------------------------------------------------

    def copy(self) -> TrainedModel:
        """An independent snapshot (training keeps updating its own arrays)."""
        return TrainedModel(
            mode=self.mode,
            classes=self.classes,
            feat_ids=self.feat_ids.copy(),
            arrays={k: v.copy() for k, v in self.arrays.items()},
            meta=self.meta,
        )

    def to_bytes(self) -> bytes:
        """Serialise to an ``.npz`` archive (arrays + JSON metadata; no pickle)."""
        header = {
            "format": FORMAT_VERSION,
            "engine": "ngram",
            "mode": self.mode,
            "classes": self.classes,
            "meta": self.meta,
        }
        buffer = io.BytesIO()
        blob = np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), np.uint8)
        np.savez(buffer, header=blob, feat_ids=self.feat_ids, **self.arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainedModel:
        """Load a model written by :meth:`to_bytes`."""
        from openai_ft.errors import DataError

        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                header = json.loads(archive["header"].tobytes().decode("utf-8"))
                arrays = {k: archive[k] for k in archive.files if k not in ("header", "feat_ids")}
                feat_ids = archive["feat_ids"].astype(np.int64)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"not a saved n-gram model: {exc}") from None
        if header.get("format") != FORMAT_VERSION:
            raise DataError(
                f"saved model has format {header.get('format')}, expected {FORMAT_VERSION}",
                tip="retrain the model with this version of openai-ft",
            )
        return cls(
            mode=header["mode"],
            classes=header["classes"],
            feat_ids=feat_ids,
            arrays=arrays,
            meta=header.get("meta", {}),
        )
