"""Multi-window error-budget burn rate."""

from __future__ import annotations

import numpy as np
import pytest

from alerter import detect
from alerter.detect.burnrate import WindowBurn, format_reason, parse_reason

STEP = 60.0


def ratio_series(
    background: float, burst: float, burst_minutes: int, hours: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    ts = np.arange(0, hours * 3600, STEP)
    vs = np.full(ts.size, background)
    if burst_minutes:
        vs[-burst_minutes:] = burst
    return ts, vs


@pytest.mark.parametrize(
    ("background", "burst", "minutes", "fires"),
    [
        (0.0005, 0.0005, 0, False),  # half the budget: fine
        (0.0005, 0.1, 2, False),  # a blip: the long window is not convinced
        (0.0005, 0.02, 70, True),  # 20x for over an hour: the 1h/5m pair fires
        (0.0080, 0.0080, 0, True),  # 8x for 8 hours: the 6h/30m pair fires
        (0.0050, 0.0050, 0, False),  # 5x: below both factors
    ],
)
def test_fires_only_when_long_and_short_windows_both_burn(
    background: float, burst: float, minutes: int, fires: bool
) -> None:
    ts, vs = ratio_series(background, burst, minutes)
    det = detect.build({"detector": "burn_rate", "objective": 0.999}).fit(ts, vs)
    window = ts >= ts[-1] - det.lookback
    verdict = det.evaluate(ts[window], vs[window])
    assert bool(verdict.anomalous[-1]) is fires
    assert "over 1h" in verdict.reason and "objective" in verdict.reason


def test_lookback_is_the_longest_window() -> None:
    det = detect.build({"detector": "burn_rate", "objective": 0.99})
    assert det.lookback == 6 * 3600
    custom = detect.build(
        {"detector": "burn_rate", "objective": 0.99, "windows": [{"long": "3d", "short": "6h", "factor": 1}]}
    )
    assert custom.lookback == 3 * 86400


def test_stream_resolves_soon_after_the_burn_stops() -> None:
    ts, vs = ratio_series(0.0, 0.05, 0, hours=4)
    burning = (ts >= 3600) & (ts < 2 * 3600)
    vs[burning] = 0.05
    scores = detect.build({"detector": "burn_rate", "objective": 0.999}).score_stream(ts, vs)
    assert scores[burning][-1] > 0.5
    assert scores[ts >= 2 * 3600 + 1800].max() < 0.5  # both short windows have cleared


def test_the_reason_reads_back_as_numbers() -> None:
    """``parse_reason`` is how the reason's numbers reach a message (``detect.explain``)."""
    ts, vs = ratio_series(0.0005, 0.02, 70)
    det = detect.build(
        {
            "detector": "burn_rate",
            "objective": 0.999,
            "windows": [{"long": "1h30m", "short": "5m", "factor": 9}],
        }
    ).fit(ts, vs)
    verdict = det.evaluate(ts, vs)
    found = parse_reason(verdict.reason)
    assert found is not None and found.objective == 0.999
    (pair,) = found.windows
    assert (pair.long, pair.short, pair.factor) == (5400.0, 300.0, 9.0)
    assert pair.long_burn == pytest.approx(np.mean(vs[-90:]) / 0.001, abs=0.05)
    assert pair.short_burn == pytest.approx(20.0, abs=0.05) and pair.ratio > 1
    burns = [WindowBurn(3600.0, 300.0, 14.4, float("nan"), 2.0)]
    again = parse_reason(format_reason(0.99, burns))
    assert again is not None and np.isnan(again.windows[0].long_burn) and again.windows[0].ratio == 0.0
    assert parse_reason("flapping: 5 changes within 1h; held firing") is None
    assert parse_reason("error budget burn (0.999 objective): nothing") is None
