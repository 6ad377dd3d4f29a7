"""McNemar's exact test for any number of discordant pairs, and which test runs on which scores."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import accumulate

import numpy as np
import pytest
from scipy import stats as sps

from openai_ft.evaluate.stats import compare, mcnemar_exact


def exact_p(b: int, c: int) -> float:
    """The two-sided exact McNemar p-value in rational arithmetic (the reference)."""
    n, k = b + c, min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def splits(n: int) -> set[int]:
    """Discordant splits b of n worth checking: the extremes, the middle, and one in between."""
    return {0, min(1, n), max(0, n // 2 - 1), n // 3, n}


def test_mcnemar_exact_equals_rational_arithmetic_for_n_0_to_2000() -> None:
    # Pascal's triangle row by row, in integers; the p-value is the exact fraction
    # 2 * (C(n, 0) + ... + C(n, k)) / 2^n, capped at 1.
    row = [1]
    for n in range(0, 2001):
        if n:
            row = [1, *(row[i] + row[i - 1] for i in range(1, n)), 1]
        tails = list(accumulate(row[: n // 2 + 1]))
        for b in splits(n):
            k = min(b, n - b)
            want = float(min(Fraction(1), Fraction(2 * tails[k], 1 << n)))
            assert mcnemar_exact(b, n - b) == want, (b, n - b)
            if n % 7 == 0:
                assert mcnemar_exact(n - b, b) == want, (n - b, b)


def test_mcnemar_exact_agrees_with_scipy_binomtest() -> None:
    for n in (1, 2, 10, 1023, 1024, 1025, 2000, 5000, 20_000, 20_001, 80_000):
        for b in splits(n):
            want = sps.binomtest(b, n, 0.5).pvalue if n else 1.0
            assert mcnemar_exact(b, n - b) == pytest.approx(want, rel=1e-9, abs=1e-300)
            assert mcnemar_exact(n // 2, n - n // 2) == pytest.approx(1.0, rel=1e-12)


def test_1024_or_more_discordant_pairs_do_not_overflow() -> None:
    # These raised OverflowError (float(2**n)) after every request had been paid.
    assert mcnemar_exact(0, 1024) == 2.0**-1023
    assert mcnemar_exact(600, 700) == pytest.approx(sps.binomtest(600, 1300, 0.5).pvalue)
    assert mcnemar_exact(5000, 5000) == 1.0
    assert 0.0 <= mcnemar_exact(0, 3000) < 1e-300
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_comparison_with_thousands_of_examples_reports_a_p_value() -> None:
    a = np.array([1.0] * 1500 + [0.0] * 600)
    b = np.array([0.0] * 1500 + [1.0] * 600)
    c = compare("ft", "base", "exact", a, b, binary=True)
    assert c.test == "mcnemar_exact"
    assert c.p_value == pytest.approx(sps.binomtest(600, 2100, 0.5).pvalue, rel=1e-9)


def test_averaged_pass_fail_scores_use_the_permutation_test() -> None:
    # With --n 5 a pass/fail scorer gives averages. The model is worse on every example
    # (0.6 vs 1.0); rounding at 0.5 made both 1 and McNemar said p = 1.0.
    model = np.full(40, 0.6)
    base = np.ones(40)
    c = compare("ft", "base", "exact", model, base, binary=True)
    assert c.test == "paired_permutation"
    assert c.p_value < 0.001 and c.losses == 40 and c.ci95[1] < 0
    # 0/1 values of a pass/fail scorer keep McNemar.
    zero_one = compare("ft", "base", "exact", np.zeros(40), np.ones(40), binary=True)
    assert zero_one.test == "mcnemar_exact" and zero_one.p_value == exact_p(0, 40)
