"""What the evaluator's shortcuts rely on: detectors without lookback judge each point on its own,
and restored detectors that share parameters stay independent of each other."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from alerter import detect

from .test_contract import SPECS


def _data(name: str, daily: Any) -> tuple[np.ndarray, np.ndarray]:
    ts, vs = daily(5)
    if name == "burn_rate":
        vs = np.abs(vs - 100) / 2000
    if name == "forecast":
        vs = np.cumsum(np.abs(vs)) / 100
    return ts, vs


@pytest.mark.parametrize("name", sorted(SPECS))
def test_without_lookback_the_window_alone_gives_the_same_verdict(name: str, daily: Any) -> None:
    ts, vs = _data(name, daily)
    det = detect.build(SPECS[name]).fit(ts[:-12], vs[:-12])
    if det.lookback != 0.0 or det.reason_from_points:
        pytest.skip(f"{name} needs the points before the window; the evaluator judges them all")
    recent_ts, recent_vs = ts[-12:].copy(), vs[-12:].copy()
    recent_vs[3] = np.nan
    recent_vs[-1] = vs[-1] + 500.0  # one gross departure, so the scores are not all alike
    since = recent_ts[5]
    whole = det.evaluate(recent_ts, recent_vs)
    keep = whole.timestamps > since
    window = det.evaluate(recent_ts[recent_ts > since], recent_vs[recent_ts > since])
    for field in ("timestamps", "values", "expected", "lower", "upper", "scores", "anomalous"):
        assert np.array_equal(getattr(window, field), getattr(whole, field)[keep], equal_nan=True), field
    assert window.reason == whole.reason and window.tier == whole.tier
    assert window.anomalous[-1]


def test_restored_detectors_share_parameters_but_hand_out_copies(daily: Any) -> None:
    ts, vs = daily(5)
    blob = detect.build({"detector": "stl", "sensitivity": 4}).fit(ts, vs).to_bytes()
    a, b = detect.from_bytes(blob), detect.from_bytes(blob)
    assert a.params_ is b.params_
    params = a.get_params()
    params["sensitivity"] = 1
    assert b.get_params()["sensitivity"] == 4 and a.get_params()["sensitivity"] == 4
    other = detect.from_bytes(detect.build({"detector": "stl", "sensitivity": 2}).fit(ts, vs).to_bytes())
    assert other.params_["sensitivity"] == 2 and a.params_["sensitivity"] == 4
    future = ts[-1] + np.arange(1, 20) * 300.0
    half_a, half_b, half_other = (d.band(future)[2] - d.band(future)[0] for d in (a, b, other))
    assert np.array_equal(half_a, half_b) and (half_a > half_other).all()
