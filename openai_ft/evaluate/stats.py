"""Statistics for paired model comparison: bootstrap CIs, McNemar's exact test, permutation test,
win/tie/loss counts, Holm's correction for several comparisons and classification metrics. Fixed
seeds: the same data gives the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import numpy.typing as npt

RESAMPLES = 10_000
SEED = 20250601
_CHUNK = 2_000_000  # index cells per chunk, so 10k examples x 10k resamples fit in memory

Floats = npt.NDArray[np.float64]
Values = Union[Sequence[float], Floats]  # noqa: UP007 - a runtime alias


def _means(values: Floats, resamples: int, seed: int) -> Floats:
    """Means of ``resamples`` bootstrap resamples (the same indices for the same n and seed)."""
    rng = np.random.default_rng(seed)
    n = len(values)
    out = np.empty(resamples)
    step = max(1, _CHUNK // max(n, 1))
    for start in range(0, resamples, step):
        k = min(step, resamples - start)
        idx = rng.integers(0, n, size=(k, n))
        out[start : start + k] = values[idx].mean(axis=1)
    return out


def bootstrap_ci(
    values: Values, *, resamples: int = RESAMPLES, seed: int = SEED, level: float = 0.95
) -> tuple[float, float, float]:
    """The mean and its percentile bootstrap confidence interval ``(mean, lo, hi)``."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return (math.nan, math.nan, math.nan)
    means = _means(arr, resamples, seed)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return (float(arr.mean()), float(lo), float(hi))


def paired_bootstrap_diff(
    a: Values,
    b: Values,
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired examples and its bootstrap CI (examples resampled together)."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    return bootstrap_ci(
        np.asarray(a, float) - np.asarray(b, float), resamples=resamples, seed=seed, level=level
    )


_EXACT_MAX_N = 20_000  # integer sums up to here (~60 ms); beyond, scipy's binomial CDF


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (only A passes), c (only B).

    The binomial tail is summed in integers and divided once (Python's int division is correctly
    rounded for any size, where ``float(2**n)`` overflowed from n = 1,024 on); very large n uses
    scipy's regularized incomplete beta, accurate to ~1e-14.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must not be negative")
    n = b + c
    k = min(b, c)
    if 2 * k >= n:  # b == c: the most likely split, p = 1
        return 1.0
    if n > _EXACT_MAX_N:
        from scipy.stats import binom

        return float(min(1.0, 2.0 * float(binom.cdf(k, n, 0.5))))
    term = tail = 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, (2 * tail) / (1 << n))


def permutation_p_value(
    a: Values, b: Values, *, resamples: int = RESAMPLES, seed: int = SEED
) -> float:
    """Two-sided paired sign-flip permutation test of mean(a - b) = 0 (for graded scores)."""
    d = np.asarray(a, float) - np.asarray(b, float)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    hits = 0
    step = max(1, _CHUNK // d.size)
    for start in range(0, resamples, step):
        k = min(step, resamples - start)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(k, d.size))
        hits += int((np.abs((signs * d).mean(axis=1)) >= observed - 1e-12).sum())
    return float((hits + 1) / (resamples + 1))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given (a family of ``m`` comparisons).

    The k-th smallest p-value (k from 0) is multiplied by ``m - k``, kept at least as large as
    the adjusted ones before it (step-down), and capped at 1: reject where the result < alpha.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * float(p_values[i])))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Comparison:
    """Model ``model`` against ``vs`` on one scorer, paired per example."""

    model: str
    vs: str
    scorer: str
    diff: float
    ci95: tuple[float, float]
    p_value: float
    wins: int
    ties: int
    losses: int
    test: str


def is_zero_one(values: Floats) -> bool:
    """True when every value is exactly 0 or 1 (pass/fail), the only data McNemar is for."""
    return bool(np.isin(values, (0.0, 1.0)).all())


def compare(model: str, vs: str, scorer: str, a: Values, b: Values, *, binary: bool) -> Comparison:
    """Paired comparison of scores ``a`` (model) and ``b`` (baseline) on the same examples.

    McNemar's exact test when the scorer is pass/fail and every score is 0 or 1; otherwise (graded
    scores, or pass/fail averaged over ``--n`` samples) the paired permutation test, so that no
    score is rounded before testing.
    """
    arr_a, arr_b = np.asarray(a, float), np.asarray(b, float)
    diff, lo, hi = paired_bootstrap_diff(arr_a, arr_b)
    wins = int((arr_a > arr_b).sum())
    losses = int((arr_a < arr_b).sum())
    ties = len(arr_a) - wins - losses
    if binary and is_zero_one(arr_a) and is_zero_one(arr_b):
        only_a = int(((arr_a == 1) & (arr_b == 0)).sum())
        only_b = int(((arr_a == 0) & (arr_b == 1)).sum())
        p, test = mcnemar_exact(only_a, only_b), "mcnemar_exact"
    else:
        p, test = permutation_p_value(arr_a, arr_b), "paired_permutation"
    return Comparison(model, vs, scorer, diff, (lo, hi), p, wins, ties, losses, test)


@dataclass(frozen=True)
class ClassReport:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""

    labels: tuple[str, ...]
    accuracy: float
    macro_f1: float
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    confusion: tuple[tuple[int, ...], ...]  # rows = reference label, columns = predicted label


def classification_report(
    predictions: Sequence[str], references: Sequence[str], labels: Sequence[str] | None = None
) -> ClassReport:
    """Classification metrics; predictions outside the reference labels count as wrong.

    Macro-F1 averages over the reference labels (a label never predicted has precision 0).
    """
    if labels is None:
        labels = sorted(set(references))
    index = {label: i for i, label in enumerate(labels)}
    other = len(labels)  # column for predictions that are not a known label
    matrix = np.zeros((len(labels), len(labels) + 1), dtype=int)
    for p, r in zip(predictions, references, strict=True):
        if r in index:
            matrix[index[r], index.get(p, other)] += 1
    precision, recall, f1, support = {}, {}, {}, {}
    for label, i in index.items():
        tp = int(matrix[i, i])
        predicted = int(matrix[:, i].sum())
        actual = int(matrix[i].sum())
        pr = tp / predicted if predicted else 0.0
        rc = tp / actual if actual else 0.0
        precision[label], recall[label], support[label] = pr, rc, actual
        f1[label] = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
    total = int(matrix.sum())
    accuracy = float(np.trace(matrix[:, : len(labels)]) / total) if total else math.nan
    macro = float(np.mean(list(f1.values()))) if f1 else math.nan
    confusion = tuple(tuple(int(x) for x in row[: len(labels)]) for row in matrix)
    return ClassReport(tuple(labels), accuracy, macro, precision, recall, f1, support, confusion)
