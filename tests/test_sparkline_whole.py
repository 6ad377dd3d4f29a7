"""Sparklines draw the whole curve, downsampled to the width (issue 10): a loss that fell early
and then flattened reads as falling, not as the noise of its last steps rescaled."""

from __future__ import annotations

import io
import math

from openai_ft.console import make_console
from openai_ft.console.jobs import WatchView, downsample, sparkline
from openai_ft.watch_types import Snapshot


def falling_then_flat(n: int = 600) -> list[float]:
    """A loss from 3.0 down to about 0.1 by step n/3, then flat with a little noise."""
    return [0.1 + 2.9 * math.exp(-i / (n / 15)) + 0.01 * ((i * 37) % 7 - 3) for i in range(n)]


def test_a_falling_loss_is_drawn_falling() -> None:
    line = sparkline(falling_then_flat(), 40)
    assert len(line) == 40
    assert line[0] == "█" and set(line[len(line) // 2 :]) == {"▁"}
    levels = ["▁▂▃▄▅▆▇█".index(c) for c in line]
    assert levels == sorted(levels, reverse=True)  # never rises: bucket means, not the noise


def test_downsample_keeps_the_whole_span_and_marks_divergence() -> None:
    assert downsample([1.0, 2.0, 3.0], 8) == [1.0, 2.0, 3.0]
    assert downsample([float(i) for i in range(100)], 4) == [12.0, 37.0, 62.0, 87.0]
    assert math.isnan(downsample([1.0] * 90 + [math.inf] * 10, 10)[-1])
    assert sparkline([1.0] * 90 + [math.nan] * 10, 10).endswith("!")


def test_the_live_view_draws_the_whole_curve_across_the_terminal() -> None:
    curve = tuple((i + 1, v) for i, v in enumerate(falling_then_flat()))
    snap = Snapshot(
        job_id="ftjob-1", status="running", model="m", step=600, total_steps=900,
        train_loss=curve[-1][1], valid_loss=None, trained_tokens=None, estimated_finish=None,
        elapsed=10.0, fine_tuned_model=None, train_curve=curve,
    )  # fmt: skip
    buf = io.StringIO()
    with WatchView(live=True, console=make_console(buf, width=80), clock=lambda: 0.0) as view:
        view(snap)
    chart = next(ln for ln in buf.getvalue().splitlines() if ln.startswith("train "))[6:].strip()
    assert 60 <= len(chart) <= 74
    assert chart[0] == "█" and chart[-1] == "▁"
