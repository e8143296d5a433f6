"""Spend forecast against a budget per period."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from alerter import detect
from alerter.detect.forecast import increases, parse_reason, period_bounds

DAY = 86400.0
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()  # a Sunday, first of the month


@pytest.mark.parametrize(
    ("period", "at", "bounds"),
    [
        ("day", "2026-03-10T15:00", ("2026-03-10", "2026-03-11")),
        ("week", "2026-03-11T15:00", ("2026-03-09", "2026-03-16")),
        ("month", "2026-03-31T23:00", ("2026-03-01", "2026-04-01")),
        ("month", "2026-12-05T00:00", ("2026-12-01", "2027-01-01")),
    ],
)
def test_calendar_periods_in_utc(period: str, at: str, bounds: tuple[str, str]) -> None:
    def ts(text: str) -> float:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()

    assert period_bounds(ts(at), period) == (ts(bounds[0]), ts(bounds[1]))


def test_a_counter_reset_is_not_negative_spend() -> None:
    assert increases(np.array([1.0, 3.0, 0.5, 2.5])).tolist() == [0.0, 2.0, 2.5, 4.5]


@pytest.mark.parametrize(("per_day", "overrun"), [(10.0, False), (40.0, True)])
def test_projected_overrun_is_flagged_with_its_date(per_day: float, overrun: bool) -> None:
    ts = START + np.arange(0, 10 * DAY, 3600.0)
    spend = per_day * (ts - START) / DAY
    det = detect.build({"detector": "forecast", "budget": 1000, "period": "month"}).fit(ts, spend)
    verdict = det.evaluate(ts[-24:], spend[-24:] + 0.0)
    window = ts >= START  # evaluate needs the whole period so far: that is its lookback
    verdict = det.evaluate(ts[window], spend[window])
    assert bool(verdict.anomalous[-1]) is overrun
    assert ("budget exhausted around 2026-03-26" in verdict.reason) is overrun
    assert det.lookback == 31 * DAY


def test_spend_restarts_with_each_period() -> None:
    ts = START + np.arange(0, 3 * DAY, 600.0)
    spend = 100 * (ts - START) / DAY  # 100 a day against 120 a day
    scores = detect.build({"detector": "forecast", "budget": 120, "period": "day"}).score_stream(ts, spend)
    assert scores.max() < 0.5
    hot = detect.build({"detector": "forecast", "budget": 80, "period": "day"}).score_stream(ts, spend)
    assert np.mean(hot[ts > START + 1.5 * DAY] > 0.5) > 0.9


def test_the_reason_reads_back_as_numbers() -> None:
    """``parse_reason`` is how the forecast reaches a message (``detect.explain``)."""
    ts = START + np.arange(0, 10 * DAY, 3600.0)
    spend = 40.0 * (ts - START) / DAY
    det = detect.build({"detector": "forecast", "budget": 1000, "period": "month"}).fit(ts, spend)
    verdict = det.evaluate(ts, spend)
    found = parse_reason(verdict.reason)
    assert found is not None
    assert found.budget == 1000 and found.projected == pytest.approx(1240.0)
    assert found.spent == pytest.approx(spend[-1], rel=1e-5)
    assert found.period_end == dt.datetime(2026, 4, 1, tzinfo=dt.UTC).timestamp()
    assert found.exhausted_at == dt.datetime(2026, 3, 26, tzinfo=dt.UTC).timestamp()
    calm = detect.build({"detector": "forecast", "budget": 2000, "period": "month"}).fit(ts, spend)
    within = parse_reason(calm.evaluate(ts, spend).reason)
    assert within is not None and within.exhausted_at is None
    assert parse_reason("no data") is None
