"""The day before: the ladder's EWMA rung does not page on what the series did at this time yesterday."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from alerter import detect
from alerter.backtest import replay_series
from alerter.detect import ladder
from alerter.detect.daybefore import DayBefore
from alerter.detect.ladder import AutoDetector

DAY = 86400.0
T0 = 1_767_571_200.0  # 2026-01-05T00:00Z, a Monday


def _square(ts: np.ndarray, switch_hour: float = 9.0) -> np.ndarray:
    hour = ((ts - T0) % DAY) / 3600.0
    out: np.ndarray = np.where((hour >= switch_hour) & (hour < 21.0), 80.0, 20.0)
    return out


def _fitted(days: float, values: Callable[[np.ndarray], np.ndarray] = _square) -> AutoDetector:
    history = T0 + np.arange(0.0, days * DAY, 300.0)
    det = detect.build({}).fit(history, values(history))
    assert isinstance(det, AutoDetector)
    return det


def test_a_daily_step_seen_yesterday_is_not_anomalous_for_the_ewma_rung() -> None:
    det = _fitted(1 + 8 / 24)  # fitted at 08:00 on day 2: EWMA knows only "20"
    assert det.tier == "ewma" and det.day_before_ is not None
    ts = T0 + DAY + 9 * 3600 + np.arange(-300.0, 900.0, 60.0)  # 08:55 - 09:14
    verdict = det.evaluate(ts, _square(ts))
    assert not verdict.anomalous.any()
    # Without yesterday the same points are far out of the EWMA's band.
    assert (det.inner_.evaluate(ts, _square(ts)).scores > 0.5).sum() >= 10


def test_a_value_yesterday_did_not_have_is_still_anomalous() -> None:
    det = _fitted(1 + 8 / 24)
    ts = T0 + DAY + 9 * 3600 + np.arange(0.0, 600.0, 60.0)
    verdict = det.evaluate(ts, np.full(ts.size, 200.0))
    assert verdict.anomalous.all()
    # Away from the step yesterday's range is narrow: a drop to 5 by day is out of it. (Within
    # a bin of the step the range is the whole step, widened by half of it, by design.)
    later = ts + 3 * 3600
    assert det.evaluate(later, np.full(ts.size, 5.0)).anomalous.all()


def test_a_step_a_few_minutes_early_still_matches_yesterday() -> None:
    det = _fitted(1 + 8 / 24)
    ts = T0 + DAY + 9 * 3600 + np.arange(-240.0, 300.0, 60.0)
    verdict = det.evaluate(ts, _square(ts, switch_hour=9.0 - 4 / 60))
    assert not verdict.anomalous.any()


def test_where_yesterday_is_missing_the_ewma_verdict_stands() -> None:
    history = T0 + np.arange(0.0, (1 + 8 / 24) * DAY, 300.0)
    values = _square(history)
    gap = (history >= T0 + 8.5 * 3600) & (history < T0 + 10 * 3600)
    det = detect.build({}).fit(history[~gap], values[~gap])
    assert isinstance(det, AutoDetector) and det.day_before_ is not None
    ts = T0 + DAY + 9 * 3600 + np.arange(0.0, 600.0, 60.0)
    np.testing.assert_allclose(
        det.evaluate(ts, _square(ts)).scores, det.inner_.evaluate(ts, _square(ts)).scores
    )


def test_yesterday_sees_the_rules_past_firing_periods() -> None:
    # The cold-start page at yesterday's step is left out of training as an incident; the day
    # before must still know the step happened, or it pages again every day.
    history = T0 + np.arange(0.0, (1 + 8 / 24) * DAY, 300.0)
    det = detect.build({}).fit(history, _square(history), exclude=[(T0 + 9 * 3600, T0 + 15 * 3600)])
    ts = T0 + DAY + 9 * 3600 + np.arange(0.0, 600.0, 60.0)
    assert not det.evaluate(ts, _square(ts)).anomalous.any()


def test_under_a_day_of_history_there_is_no_day_before() -> None:
    assert _fitted(0.9).day_before_ is None
    ts = T0 + np.arange(0.0, 0.9 * DAY, 300.0)
    assert DayBefore.learn(ts, _square(ts), 300.0, 1.0) is None


def test_stl_rungs_keep_no_day_before() -> None:
    assert _fitted(4.0).tier == "stl(1d)"
    assert _fitted(4.0).day_before_ is None


def test_the_day_before_survives_persistence() -> None:
    det = _fitted(1 + 8 / 24)
    restored = detect.from_bytes(det.to_bytes())
    assert isinstance(restored, AutoDetector) and restored.day_before_ is not None
    ts = T0 + DAY + 9 * 3600 + np.arange(-300.0, 900.0, 37.0)
    values = _square(ts) + np.linspace(0.0, 50.0, ts.size)
    np.testing.assert_allclose(restored.evaluate(ts, values).scores, det.evaluate(ts, values).scores)


@pytest.mark.parametrize("name", ["square", "sawtooth"])
def test_a_daily_shape_pages_only_on_its_first_day(name: str) -> None:
    ts = T0 + np.arange(0.0, 2.6 * DAY, 60.0)
    values = _square(ts) if name == "square" else 100.0 * ((ts - T0) % DAY) / DAY
    episodes = replay_series({"baseline": {}}, ts, values)
    late = [e for e in episodes if e.fired_at is not None and e.fired_at >= T0 + DAY]
    assert late == []


def _weekly(ts: np.ndarray) -> np.ndarray:
    """A daily cycle, at half its level on Saturdays and Sundays."""
    weekend = (np.floor((ts - T0) / DAY) % 7) >= 5
    daily = 100.0 + 40.0 * np.sin(2 * np.pi * ((ts - T0) % DAY) / DAY)
    noise = np.random.default_rng(5).normal(0.0, 1.0, ts.size)
    out: np.ndarray = np.where(weekend, 0.5, 1.0) * daily + noise
    return out


def test_a_daily_stl_asks_last_week_about_a_weekend() -> None:
    # Twelve days: STL has its three days, MSTL not its four weeks; the second Saturday is as
    # low as the first, which a daily profile of mostly weekdays calls an incident.
    history = T0 + np.arange(0.0, 12 * DAY, 300.0)
    det = detect.build({}).fit(history, _weekly(history))
    assert isinstance(det, AutoDetector) and det.tier == "stl(1d)"
    assert det.day_before_ is not None and det.day_before_.period == 7 * DAY
    ts = T0 + 12 * DAY + 3 * 3600 + np.arange(0.0, 3600.0, 300.0)  # Saturday of week two
    assert det.inner_.evaluate(ts, _weekly(ts)).anomalous.all()
    assert not det.evaluate(ts, _weekly(ts)).anomalous.any()
    # A Saturday unlike last Saturday is still an incident.
    assert det.evaluate(ts, _weekly(ts) + 150.0).anomalous.all()


def test_under_a_week_a_daily_stl_keeps_no_week_before() -> None:
    history = T0 + np.arange(0.0, 6 * DAY, 300.0)
    det = detect.build({}).fit(history, _weekly(history))
    assert isinstance(det, AutoDetector) and det.tier == "stl(1d)" and det.day_before_ is None


def test_an_incident_last_week_does_not_excuse_one_this_week() -> None:
    # Two hours on Saturday: longer than any incident of the simulator, shorter than a pattern.
    history = T0 + np.arange(0.0, 12 * DAY, 300.0)
    values = _weekly(history)
    start, end = T0 + 5 * DAY + 2 * 3600, T0 + 5 * DAY + 4 * 3600
    values[(history >= start) & (history < end)] += 150.0
    ts = T0 + 12 * DAY + 3 * 3600 + np.arange(0.0, 1800.0, 300.0)  # the same hours a week later
    remembered = detect.build({}).fit(history, values)
    assert not remembered.evaluate(ts, _weekly(ts) + 150.0).anomalous.any()  # what the week saw
    # Training leaves the rule's own past incidents out, and so does the week before.
    det = detect.build({}).fit(history, values, exclude=[(start, end)])
    assert det.evaluate(ts, _weekly(ts) + 150.0).anomalous.all()


def test_a_weekend_that_paged_for_hours_last_week_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    # Last Saturday paged from midnight for five hours (the daily profile knew only weekdays)
    # and the page is one of the rule's firing periods. Training leaves it out; the week before
    # keeps it: a departure that lasted hours is the week's shape, not an incident.
    history = T0 + np.arange(0.0, 12 * DAY, 300.0)
    paged = [(T0 + 5 * DAY, T0 + 5 * DAY + 5 * 3600)]
    det = detect.build({}).fit(history, _weekly(history), exclude=paged)
    assert isinstance(det, AutoDetector) and det.tier == "stl(1d)"
    ts = T0 + 12 * DAY + 3 * 3600 + np.arange(0.0, 3600.0, 300.0)  # Saturday of week two, 03:00
    assert det.inner_.evaluate(ts, _weekly(ts)).anomalous.all()
    assert not det.evaluate(ts, _weekly(ts)).anomalous.any()
    assert det.evaluate(ts, _weekly(ts) + 150.0).anomalous.all()
    # The same five hours left out of the week before: this Saturday pages again.
    monkeypatch.setattr(ladder, "WEEK_KEEPS_LONGER", 6 * 3600.0)
    forgetful = detect.build({}).fit(history, _weekly(history), exclude=paged)
    assert forgetful.evaluate(ts, _weekly(ts)).anomalous.all()
