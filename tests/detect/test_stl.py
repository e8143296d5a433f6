"""Seasonal baselines: what STL/MSTL learn, how they judge, and what they store."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from alerter import detect
from alerter.detect import stl
from alerter.detect.base import NotEnoughData
from alerter.detect.stl import StlDetector

DAY = 86400.0


def test_band_follows_the_daily_cycle(daily: Any) -> None:
    ts, vs = daily(6)
    det = detect.build({"detector": "stl"}).fit(ts, vs)
    future = ts[-1] + np.arange(1, 288) * 300.0
    expected, lower, upper = det.band(future)
    truth = 100 + 20 * np.sin(2 * np.pi * future / DAY)
    assert np.max(np.abs(expected - truth)) < 3.0  # 5-minute bins against a continuous sine
    assert np.all(upper - lower < 12) and np.all(upper - lower > 4)
    assert det.tier == "stl(1d)"


@pytest.mark.parametrize(
    ("offset", "direction", "anomalous"),
    [
        (0.0, "both", False),
        (15.0, "both", True),
        (-15.0, "both", True),
        (-15.0, "up", False),
        (15.0, "down", False),
        (15.0, "up", True),
    ],
)
def test_departures_are_judged_by_size_and_direction(
    daily: Any, offset: float, direction: str, anomalous: bool
) -> None:
    ts, vs = daily(6)
    det = detect.build({"detector": "stl", "direction": direction}).fit(ts[:-24], vs[:-24])
    verdict = det.evaluate(ts[-24:], vs[-24:] + offset)
    assert bool(verdict.fraction > 0.5) is anomalous


def test_min_deviation_widens_the_band(daily: Any) -> None:
    ts, vs = daily(5)
    narrow = detect.build({"detector": "stl"}).fit(ts, vs)
    wide = detect.build({"detector": "stl", "min_deviation": 10}).fit(ts, vs)
    gap_narrow = np.subtract(*narrow.band(ts[-5:])[::-1][:2])
    gap_wide = np.subtract(*wide.band(ts[-5:])[::-1][:2])
    assert np.allclose(gap_wide - gap_narrow, 20)  # both edges move


def test_excluding_an_incident_keeps_it_out_of_the_scale(daily: Any) -> None:
    ts, vs = daily(6)
    vs = vs.copy()
    incident = (ts >= ts[0] + 4 * DAY) & (ts < ts[0] + 4.5 * DAY)
    vs[incident] += np.linspace(0, 80, incident.sum())
    polluted = StlDetector(per_phase_scale=False).fit(ts, vs)
    clean = StlDetector(per_phase_scale=False).fit(ts, vs, exclude=[(ts[incident][0], ts[incident][-1] + 1)])
    assert clean.scale_ < polluted.scale_
    assert clean.scale_ == pytest.approx(1.0, rel=0.35)


def test_a_level_shift_is_adopted_after_adopt_after(daily: Any) -> None:
    ts, vs = daily(6)
    vs = vs + np.where(ts >= ts[-1] - 8 * 3600, 30.0, 0.0)
    adopting = detect.build({"detector": "stl", "adopt_after": "6h"}).fit(ts, vs)
    refusing = detect.build({"detector": "stl", "adopt_after": "0s"}).fit(ts, vs)
    nxt = ts[-1:] + 300
    assert not adopting.evaluate(nxt, vs[-1:]).anomalous[0]
    assert refusing.evaluate(nxt, vs[-1:]).anomalous[0]


def test_per_phase_scale_widens_the_band_where_the_series_is_noisier() -> None:
    rng = np.random.default_rng(3)
    ts = np.arange(0, 7 * DAY, 300.0)
    hour = (ts % DAY) / 3600
    noise = np.where((hour >= 12) & (hour < 14), 6.0, 1.0)
    vs = 50 + rng.normal(0, 1, ts.size) * noise
    det = detect.build({"detector": "stl"}).fit(ts, vs)
    _, lower, upper = det.band(np.array([13 * 3600.0, 3 * 3600.0]) + 7 * DAY)
    width = upper - lower
    assert width[0] > 2.5 * width[1]


def test_daily_stl_state_is_compact() -> None:
    ts = np.arange(0, 14 * DAY, 60.0)
    vs = 10 + np.sin(2 * np.pi * ts / DAY) + np.random.default_rng(0).normal(0, 0.1, ts.size)
    data = detect.build({"detector": "stl"}).fit(ts, vs).to_bytes()
    assert len(data) < 2048


def test_too_little_history_is_not_enough_data(daily: Any) -> None:
    ts, vs = daily(1.5)
    with pytest.raises(NotEnoughData, match="two full seasons"):
        detect.build({"detector": "stl"}).fit(ts, vs)


def test_mstl_learns_a_weekly_pattern_on_top_of_the_daily_one() -> None:
    rng = np.random.default_rng(5)
    ts = np.arange(0, 28 * DAY, 3600.0)
    weekend = ((ts // DAY) % 7 >= 5).astype(float)
    vs = 100 + 20 * np.sin(2 * np.pi * ts / DAY) - 30 * weekend + rng.normal(0, 1, ts.size)
    mstl = detect.build({"detector": "mstl", "history": "28d"}).fit(ts, vs)
    stl = detect.build({"detector": "stl", "history": "28d"}).fit(ts, vs)
    future = ts[-1] + np.arange(1, 7 * 24) * 3600.0
    truth = 100 + 20 * np.sin(2 * np.pi * future / DAY) - 30 * ((future // DAY) % 7 >= 5)
    assert mstl.tier == "mstl(1d,1w)"
    assert np.abs(mstl.band(future)[0] - truth).mean() < 0.5 * np.abs(stl.band(future)[0] - truth).mean()


@pytest.mark.parametrize("name", ["stl", "ewma"])
def test_an_adopted_level_brings_its_own_noise(name: str) -> None:
    rng = np.random.default_rng(9)
    ts = np.arange(0, 4 * DAY, 300.0)
    busy = ts >= ts[-1] - 8 * 3600
    vs = np.where(busy, 1000 + rng.normal(0, 100, ts.size), rng.normal(0, 1, ts.size))
    if name == "stl":
        det = detect.build({"detector": "stl", "adopt_after": "6h"}).fit(ts, vs)
        verdict = det.evaluate(ts[-1:] + 300, np.array([1150.0]))
        assert not verdict.anomalous[0]
    else:
        scores = detect.build({"detector": "ewma", "adopt_after": "6h"}).score_stream(ts, vs)
        assert np.mean(scores[ts >= ts[-1] - 1.5 * 3600] > 0.5) < 0.1


T0 = 1_767_571_200.0  # 2026-01-05T00:00Z


def _sawtooth(ts: np.ndarray) -> np.ndarray:
    out: np.ndarray = 100.0 * ((ts - T0) % DAY) / DAY
    return out


def test_a_noiseless_ramp_learned_at_5m_is_not_out_of_band_between_the_learned_instants() -> None:
    # The engine trains on a history query at ``resolution`` and judges the raw samples: every
    # 1-minute sample of a perfect sawtooth lies between two learned instants. With a zero noise
    # scale these used to be infinitely far out of band, and the alert never resolved.
    history = T0 + np.arange(0.0, 4 * DAY, 300.0)
    det = StlDetector(seasonality=["1d"]).fit(history, _sawtooth(history))
    now = T0 + 4 * DAY + 3 * 3600
    ts = now + np.arange(0.0, 3600.0, 60.0)
    verdict = det.evaluate(ts, _sawtooth(ts))
    assert not verdict.anomalous.any(), verdict.scores.max()
    # The allowance is what one step of the ramp can move, not a blind band: a jump of twice
    # that is caught at every sample.
    jumped = det.evaluate(ts, _sawtooth(ts) + 2.0)
    assert jumped.anomalous.all()


def test_samples_at_the_learned_instants_get_no_resolution_allowance() -> None:
    history = T0 + np.arange(0.0, 4 * DAY, 300.0)
    det = StlDetector(seasonality=["1d"]).fit(history, _sawtooth(history))
    ts = T0 + 4 * DAY + np.arange(0.0, 3600.0, 300.0)
    _, lower, upper = det.band(ts)
    assert det.sample_pos_ == pytest.approx(0.0, abs=1e-6)
    assert np.all(upper - lower < 1e-3)


def test_the_learned_sample_position_survives_persistence() -> None:
    history = T0 + 30.0 + np.arange(0.0, 4 * DAY, 60.0)  # 1-minute samples, 30 s past each minute
    det = StlDetector(seasonality=["1d"]).fit(history, _sawtooth(history))
    restored = detect.from_bytes(det.to_bytes())
    assert isinstance(restored, StlDetector)
    assert restored.sample_pos_ == pytest.approx(det.sample_pos_)
    ts = T0 + 4 * DAY + np.arange(0.0, 3600.0, 37.0)
    np.testing.assert_allclose(restored.band(ts)[2], det.band(ts)[2], rtol=1e-5)


def test_a_new_day_of_point_samples_stays_in_band_as_often_as_the_band_promises() -> None:
    """Three days of one sample per 5-minute bin (what a history query at ``resolution`` returns):
    the profile is the median of three noisy samples per phase and the residuals are in-sample,
    so a band from those residuals alone is too narrow for the next day. Widened by the hold-out
    factor, the next day's samples leave a 3-scale band about as often as Gaussian noise does
    (0.27%); without it, half again as often."""
    shares = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        ts = 1_699_920_000.0 + np.arange(0, 4 * DAY, 300.0)
        vs = 100 + 20 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, 2, ts.size)
        train = ts < ts[0] + 3 * DAY
        det = detect.build({"detector": "stl"}).fit(ts[train], vs[train])
        shares.append(det.evaluate(ts[~train], vs[~train]).anomalous.mean())
    assert float(np.mean(shares)) <= 0.003


def test_the_hold_out_factor_is_one_for_a_profile_every_cycle_agrees_on() -> None:
    period = 12
    component = np.tile(np.sin(np.arange(period)), 3)
    resid = np.random.default_rng(0).normal(0, 1, component.size)
    offsets = np.arange(component.size, dtype=np.int64)
    assert stl.holdout_factor(component, offsets, resid, period) == 1.0


def test_the_hold_out_factor_grows_with_how_much_the_cycles_disagree() -> None:
    period = 48
    rng = np.random.default_rng(1)
    resid = rng.normal(0, 1, 3 * period)
    offsets = np.arange(3 * period, dtype=np.int64)
    calm = stl.holdout_factor(rng.normal(0, 0.3, 3 * period), offsets, resid, period)
    noisy = stl.holdout_factor(rng.normal(0, 1.0, 3 * period), offsets, resid, period)
    assert 1.0 <= calm < noisy <= stl.HOLDOUT_MAX
