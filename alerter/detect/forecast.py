"""Spend forecast: will this budget period end over budget, and when is the budget gone?

Called through the registry (``detector: forecast``), typically on a cumulative spend counter
such as LiteLLM's ``litellm_spend_metric_total``. At each point: spend so far in the period
(reset-aware: a counter that drops restarted from zero) plus the recent spend rate (over
``rate_window``) times the time left gives the projected spend at the period's end. The point
is anomalous when that projection exceeds ``budget``; the verdict's reason gives the date the
budget runs out at the current rate.

Periods ``day``, ``week`` (from Monday) and ``month`` follow the UTC calendar; a duration
gives fixed periods counted from the epoch. ``fit`` learns the history's average spend rate,
used when the rate window holds too little data (just after a restart or a gap).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np

from alerter.core.model import FloatArray
from alerter.detect import hygiene
from alerter.detect.base import ArrayState, Detector, ratio_score, score_in_one_pass
from alerter.detect.registry import register
from alerter.detect.spec import PERIOD_NAMES

UTC = dt.UTC


def period_bounds(t: float, period: str | float) -> tuple[float, float]:
    """Start and end (unix seconds) of the budget period containing ``t``."""
    if not isinstance(period, str):
        start = (t // period) * period
        return start, start + period
    day = dt.datetime.fromtimestamp(t, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        first, last = day, day + dt.timedelta(days=1)
    elif period == "week":
        first = day - dt.timedelta(days=day.weekday())
        last = first + dt.timedelta(days=7)
    else:
        first = day.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1)
    return first.timestamp(), last.timestamp()


def increases(vs: FloatArray) -> FloatArray:
    """Cumulative reset-aware increase of a counter (0 at the first sample)."""
    if vs.size == 0:
        return vs
    step = np.diff(vs)
    step = np.where(step < 0, vs[1:], step)
    return np.concatenate(([0.0], np.cumsum(step)))


@register
class ForecastDetector(Detector):
    """Projected end-of-period spend against a budget."""

    name = "forecast"
    reason_from_points = True

    def _fit(self, ts: FloatArray, vs: FloatArray, params: dict[str, Any]) -> None:
        span = float(ts[-1] - ts[0]) if ts.size > 1 else 0.0
        self.rate_ = float(increases(vs)[-1] / span) if span > 0 else float("nan")

    @property
    def lookback(self) -> float:
        params = self._check_fitted() if self.is_fitted else self._validated()
        period = params["period"]
        return float(PERIOD_NAMES[period] if isinstance(period, str) else period)

    def project(self, ts: FloatArray, vs: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Spent so far in the period, spend rate per second, and projected end-of-period spend."""
        params = self._check_fitted()
        cum = increases(vs)
        bounds = [period_bounds(t, params["period"]) for t in ts]
        starts = np.array([b[0] for b in bounds])
        ends = np.array([b[1] for b in bounds])
        first = np.searchsorted(ts, starts, side="left")
        spent = cum - cum[np.minimum(first, ts.size - 1)]
        window = params["rate_window"]
        back = np.searchsorted(ts, ts - window, side="left")
        elapsed = ts - ts[back]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(elapsed >= window / 4, (cum - cum[back]) / elapsed, self.rate_)
        rate = np.nan_to_num(rate, nan=0.0)
        projected = spent + rate * np.maximum(ends - ts, 0.0)
        return spent, rate, projected

    def band(self, timestamps: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Expected: the budget spread evenly over the period; upper: the budget itself."""
        params = self._check_fitted()
        ts = hygiene.as_seconds(timestamps)
        budget = params["budget"]
        expected = np.empty(ts.shape[0])
        for i, t in enumerate(ts):
            start, end = period_bounds(float(t), params["period"])
            expected[i] = budget * (t - start) / (end - start)
        return expected, np.zeros(ts.shape[0]), np.full(ts.shape[0], budget)

    def _score(self, ts: FloatArray, vs: FloatArray) -> tuple[FloatArray, FloatArray | None]:
        if ts.size == 0:
            return np.zeros(0), None
        finite = np.isfinite(vs)
        scores = np.zeros(ts.shape[0])
        if finite.any():
            projected = self.project(ts[finite], vs[finite])[2]
            scores[finite] = ratio_score(projected / self._check_fitted()["budget"])
        return scores, None

    def _reason(self, ts: FloatArray, vs: FloatArray) -> str:
        finite = np.isfinite(vs)
        if not finite.any():
            return ""
        ts, vs = ts[finite], vs[finite]
        spent, rate, projected = self.project(ts, vs)
        budget = self._check_fitted()["budget"]
        text = (
            f"spent {spent[-1]:.6g} of {budget:.6g}; projected {projected[-1]:.6g} by the end of the period"
        )
        if projected[-1] > budget and rate[-1] > 0:
            when = ts[-1] + max(budget - spent[-1], 0.0) / rate[-1]
            stamp = dt.datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M UTC")
            text += f"; budget exhausted around {stamp}"
        return text

    def score_stream(self, timestamps: Any, values: Any) -> FloatArray:
        """Causal by construction (trailing windows, spend since period start): one pass."""
        return score_in_one_pass(self, timestamps, values)

    def _state(self) -> tuple[dict[str, Any], ArrayState]:
        return {"rate": self.rate_}, {}

    def _load_state(self, scalars: Mapping[str, Any], arrays: ArrayState) -> None:
        self.rate_ = float(scalars["rate"])
