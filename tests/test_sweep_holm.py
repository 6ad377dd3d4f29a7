"""Holm's step-down correction against a hand-computed example."""

from __future__ import annotations

import pytest

from openai_ft.evaluate.stats import holm


def test_holm_matches_a_hand_computed_example() -> None:
    # m = 4. Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04,
    # raised to 0.06 so that adjusted p-values never decrease down the order).
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_edge_cases() -> None:
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # 0.5 x 2 = 1.0; 0.6 raised to 1.0
    assert holm([0.02]) == pytest.approx([0.02])  # one comparison: unchanged
    assert holm([]) == []
    # Ties keep their order and both get the larger multiplier's step-down value.
    assert holm([0.01, 0.01, 0.2]) == pytest.approx([0.03, 0.03, 0.2])
