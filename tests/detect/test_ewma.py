"""The robust EWMA: fast adaptation without being dragged around by spikes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from alerter import detect
from alerter.detect.base import NotEnoughData


def flat(
    n: int = 600, step: float = 60.0, level: float = 50.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.arange(n) * step, level + rng.normal(0, 1, n)


@pytest.mark.parametrize(
    ("bump", "direction", "flagged"),
    [
        (0.0, "both", False),
        (12.0, "both", True),
        (-12.0, "both", True),
        (-12.0, "up", False),
        (12.0, "down", False),
    ],
)
def test_a_departure_is_judged_by_size_and_direction(bump: float, direction: str, flagged: bool) -> None:
    ts, vs = flat()
    det = detect.build({"detector": "ewma", "direction": direction}).fit(ts, vs)
    assert bool(det.evaluate(ts[-1:] + 60, vs[-1:] + bump).anomalous[0]) is flagged


def test_one_spike_barely_moves_the_baseline() -> None:
    ts, vs = flat()
    vs = vs.copy()
    vs[-5] = 10_000.0
    det = detect.build({"detector": "ewma"}).fit(ts, vs)
    expected, lower, upper = det.band(ts[-1:] + 60)
    assert expected[0] == pytest.approx(50, abs=2) and upper[0] - lower[0] < 30


def test_a_level_shift_is_adopted_after_adopt_after_in_the_stream() -> None:
    ts, vs = flat(n=24 * 60)
    vs = vs + np.where(ts >= 12 * 3600, 20.0, 0.0)
    scores = detect.build({"detector": "ewma", "adopt_after": "1h"}).score_stream(ts, vs)
    after = ts >= 12 * 3600
    assert scores[after][:5].min() > 0.5  # the shift is news at first
    assert np.mean(scores[ts >= 14 * 3600] > 0.5) < 0.02  # and the new normal two hours later


def test_halflife_never_spans_fewer_than_a_few_samples() -> None:
    ts, vs = flat(n=200, step=3600.0)
    det = detect.build({"detector": "ewma", "halflife": "1m"}).fit(ts, vs)
    assert det.state_.halflife >= 6 * 3600


def test_too_few_samples_is_not_enough_data() -> None:
    with pytest.raises(NotEnoughData, match="at least 24"):
        detect.build({"detector": "ewma"}).fit(np.arange(20.0), np.ones(20))


def test_seasonal_variant_learns_the_daily_shape(daily: Any) -> None:
    ts, vs = daily(6)
    plain = detect.build({"detector": "ewma"}).fit(ts, vs)
    seasonal = detect.build({"detector": "ewma", "seasonality": ["1d"]}).fit(ts, vs)
    assert seasonal.tier == "ewma(1d)" and plain.tier == "ewma"
    future = ts[-1] + np.arange(1, 288) * 300.0
    truth = 100 + 20 * np.sin(2 * np.pi * future / 86400)
    assert (
        np.abs(seasonal.band(future)[0] - truth).mean() < 0.5 * np.abs(plain.band(future)[0] - truth).mean()
    )
    restored = detect.from_bytes(seasonal.to_bytes())
    assert np.allclose(restored.band(future)[0], seasonal.band(future)[0], rtol=1e-5)
    stream = seasonal.score_stream(ts, vs)
    assert np.mean(stream[ts > ts[0] + 3 * 86400] > 0.5) < 0.01
