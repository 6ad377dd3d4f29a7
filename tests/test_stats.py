"""Statistics against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from openai_ft.evaluate.stats import (
    bootstrap_ci,
    classification_report,
    compare,
    mcnemar_exact,
    paired_bootstrap_diff,
    permutation_p_value,
)


def test_mcnemar_exact_known_values() -> None:
    # b=1, c=9: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024.
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    # Agrees with the binomial test for a larger textbook table (b=121, c=59).
    assert mcnemar_exact(121, 59) == pytest.approx(sps.binomtest(59, 180, 0.5).pvalue)


def test_bootstrap_ci_contains_analytic_ci_for_large_sample() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.6, 0.2, size=2000)
    mean, lo, hi = bootstrap_ci(x)
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert mean == pytest.approx(x.mean())
    assert lo == pytest.approx(mean - 1.96 * se, abs=se * 0.15)
    assert hi == pytest.approx(mean + 1.96 * se, abs=se * 0.15)
    assert bootstrap_ci(x) == (mean, lo, hi)  # fixed seed: reproducible


def test_paired_diff_and_compare() -> None:
    a = [1.0] * 30 + [0.0] * 10
    b = [1.0] * 20 + [0.0] * 20
    diff, lo, hi = paired_bootstrap_diff(a, b)
    assert diff == pytest.approx(0.25)
    assert 0 < lo < diff < hi
    c = compare("ft", "base", "exact", a, b, binary=True)
    assert (c.wins, c.ties, c.losses) == (10, 30, 0)
    assert c.p_value == pytest.approx(mcnemar_exact(10, 0)) and c.test == "mcnemar_exact"
    assert permutation_p_value([0.5] * 5, [0.5] * 5) == 1.0
    graded = compare(
        "ft", "base", "bleu", np.linspace(0.5, 1, 50), np.linspace(0.4, 0.9, 50), binary=False
    )
    assert graded.test == "paired_permutation" and graded.p_value < 0.001


def test_classification_report_known_values() -> None:
    refs = ["a", "a", "a", "b", "b", "c"]
    preds = ["a", "a", "b", "b", "c", "zzz"]
    rep = classification_report(preds, refs)
    assert rep.labels == ("a", "b", "c")
    assert rep.accuracy == pytest.approx(3 / 6)
    assert rep.precision == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.0})
    assert rep.recall == pytest.approx({"a": 2 / 3, "b": 0.5, "c": 0.0})
    assert rep.macro_f1 == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    assert rep.confusion == ((2, 1, 0), (0, 1, 1), (0, 0, 0))
