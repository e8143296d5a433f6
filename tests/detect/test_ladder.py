"""The cold-start ladder and season detection."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from alerter import detect
from alerter.detect.base import NotEnoughData
from alerter.detect.ladder import detect_seasons

DAY, WEEK = 86400.0, 7 * 86400.0


def weekly_series(days: float, step: float = 1800.0, seasonal: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    ts = 1_700_006_400.0 + np.arange(0, days * DAY, step)
    vs = 100 + rng.normal(0, 1, ts.size)
    if seasonal:
        vs = vs + 20 * np.sin(2 * np.pi * ts / DAY) - 25 * (((ts - 1_700_006_400.0) // DAY) % 7 >= 5)
    return ts, vs


@pytest.mark.parametrize(
    ("days", "seasonal", "tier"),
    [
        (0.5, True, "ewma"),
        (2, True, "ewma"),
        (3.5, True, "stl(1d)"),
        (20, True, "stl(1d)"),
        (29, True, "mstl(1d,1w)"),
        (29, False, "ewma"),
    ],
)
def test_tier_climbs_with_history(days: float, seasonal: bool, tier: str) -> None:
    ts, vs = weekly_series(days, seasonal=seasonal)
    det = detect.build({"history": "35d"}).fit(ts, vs)
    assert det.tier == tier
    assert det.evaluate(ts[-3:], vs[-3:]).tier == tier


def test_static_guard_judges_before_anything_is_learned() -> None:
    det = detect.build({"above": 10}).fit(np.arange(3.0), np.ones(3))
    assert det.tier == "static"
    assert det.evaluate(np.array([4.0]), np.array([11.0])).anomalous[0]


def test_nothing_to_say_without_data_or_threshold() -> None:
    with pytest.raises(NotEnoughData):
        detect.build({}).fit(np.arange(3.0), np.ones(3))


def test_given_seasonality_skips_detection_but_not_the_history_rule() -> None:
    ts, vs = weekly_series(10, seasonal=False)
    assert detect.build({"seasonality": ["1d"]}).fit(ts, vs).tier == "stl(1d)"
    assert detect.build({"seasonality": ["1d", "1w"], "history": "21d"}).fit(ts, vs).tier == "stl(1d)"


@pytest.mark.parametrize(
    ("days", "daily", "weekly", "found"),
    [(10, 20.0, 0.0, [DAY]), (30, 20.0, 25.0, [DAY, WEEK]), (30, 0.0, 0.0, []), (30, 20.0, 0.0, [DAY])],
)
def test_season_detection(days: int, daily: float, weekly: float, found: list[float]) -> None:
    rng = np.random.default_rng(4)
    ts = np.arange(0, days * DAY, 3600.0)
    vs = (
        50
        + daily * np.sin(2 * np.pi * ts / DAY)
        - weekly * ((ts // DAY) % 7 >= 5)
        + rng.normal(0, 2, ts.size)
    )
    assert detect_seasons(ts, vs) == found


def test_restored_ladder_keeps_its_tier(daily: Any) -> None:
    ts, vs = daily(4)
    det = detect.build({}).fit(ts, vs)
    assert detect.from_bytes(det.to_bytes()).tier == det.tier == "stl(1d)"


def _noise(hours: float) -> tuple[np.ndarray, np.ndarray]:
    ts = 1_700_006_400.0 + np.arange(0.0, hours * 3600, 60.0)
    return ts, 100 + np.random.default_rng(4).normal(0, 1, ts.size)


def test_a_series_younger_than_a_day_is_judged_with_a_wider_band() -> None:
    from alerter.detect.ladder import LEARNING_WIDEN, AutoDetector

    ts, vs = _noise(12)
    det = detect.build({}).fit(ts, vs)
    assert isinstance(det, AutoDetector) and det.tier == "ewma" and det.widen_ == LEARNING_WIDEN
    later = ts[-1] + 60.0 * np.arange(1, 11)
    expected, lower, upper = det.band(later)
    inner_expected, inner_lower, inner_upper = det.inner_.band(later)
    np.testing.assert_allclose(expected, inner_expected)
    np.testing.assert_allclose(upper - lower, LEARNING_WIDEN * (inner_upper - inner_lower))
    half = (inner_upper - inner_expected)[0]
    # Out of the EWMA's own band but inside the learning band: not anomalous yet ...
    assert not det.evaluate(later, expected + 1.5 * half).anomalous.any()
    assert det.inner_.evaluate(later, expected + 1.5 * half).anomalous.all()
    # ... and beyond the learning band it is, with the score the wider band gives.
    beyond = det.evaluate(later, expected + 3.0 * half)
    assert beyond.anomalous.all()
    r = 3.0 / LEARNING_WIDEN
    np.testing.assert_allclose(beyond.scores, r * r / (1 + r * r), rtol=1e-6)


def test_the_learning_band_ends_after_a_day_and_survives_persistence() -> None:
    ts, vs = _noise(30)
    assert detect.build({}).fit(ts, vs).widen_ == 1.0  # type: ignore[attr-defined]
    young = detect.build({}).fit(*_noise(6))
    restored = detect.from_bytes(young.to_bytes())
    assert restored.widen_ == young.widen_  # type: ignore[attr-defined]
