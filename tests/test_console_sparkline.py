"""The terminal loss chart of `metrics` and `watch`: a diverged loss (nan, inf) or a huge range
is drawn, not a ValueError that ends the command."""

from __future__ import annotations

import math

from openai_ft.console.jobs import fmt_duration, sparkline


def test_finite_values_keep_their_blocks() -> None:
    assert sparkline([3.0, 2.0, 1.0, 0.0]) == "█▆▃▁"
    assert sparkline([1.0, 1.0]) == "▁▁"
    assert sparkline([]) == ""
    assert sparkline([float(i) for i in range(100)], width=8) == "▁▂▃▄▅▆▇█"


def test_nan_and_inf_are_marked_and_the_rest_drawn() -> None:
    assert sparkline([1.0, math.inf, 0.5]) == "█!▁"
    assert sparkline([math.nan, 1.0, -math.inf]) == "!▁!"
    assert sparkline([math.nan, math.nan]) == "!!"


def test_a_range_wider_than_a_float_holds() -> None:
    assert sparkline([1e308, -1e308, 0.0]) == "█▁▄"


def test_durations_that_are_not_numbers_show_a_dash() -> None:
    assert [fmt_duration(x) for x in (None, math.nan, math.inf, 3723.0, 65.0, 5.0)] == [
        "-",
        "-",
        "-",
        "1h02m03s",
        "1m05s",
        "5s",
    ]
