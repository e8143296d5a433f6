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
import re
from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Projection:
    """The forecast at one point: spent so far in the period, the budget, the projected spend at
    the period's end (``period_end``, unix seconds) and when the budget runs out at the current
    rate (None when the projection stays within it)."""

    spent: float
    budget: float
    projected: float
    period_end: float
    exhausted_at: float | None


_STAMP = "%Y-%m-%d %H:%M UTC"
_NUMBER = r"[-+0-9.eEinfa]+"
_REASON = re.compile(
    rf"^spent (?P<spent>{_NUMBER}) of (?P<budget>{_NUMBER}); projected (?P<projected>{_NUMBER}) by "
    r"the end of the period \(ends (?P<end>\d{4}-\d\d-\d\d \d\d:\d\d UTC)\)"
    r"(?:; budget exhausted around (?P<when>\d{4}-\d\d-\d\d \d\d:\d\d UTC))?$"
)


def _stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, UTC).strftime(_STAMP)


def _unstamp(text: str) -> float:
    return dt.datetime.strptime(text, _STAMP).replace(tzinfo=UTC).timestamp()


def format_reason(p: Projection) -> str:
    """The verdict's reason: "spent 812 of 1000; projected 1240 by the end of the period (ends
    2027-01-01 00:00 UTC); budget exhausted around 2026-12-24 13:00 UTC". ``parse_reason`` reads
    it back: change the two together."""
    text = (
        f"spent {p.spent:.6g} of {p.budget:.6g}; projected {p.projected:.6g} by the end of the "
        f"period (ends {_stamp(p.period_end)})"
    )
    if p.exhausted_at is not None:
        text += f"; budget exhausted around {_stamp(p.exhausted_at)}"
    return text


def parse_reason(reason: str) -> Projection | None:
    """The numbers of a reason ``format_reason`` wrote (six significant digits, times to the
    minute); None for any other text. The reason is what travels with an alert to the store,
    the API and the messages, so the forecast is read back from it."""
    m = _REASON.match(reason)
    if m is None:
        return None
    try:
        return Projection(
            float(m["spent"]),
            float(m["budget"]),
            float(m["projected"]),
            _unstamp(m["end"]),
            _unstamp(m["when"]) if m["when"] else None,
        )
    except ValueError:
        return None


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

    def projection(self, ts: FloatArray, vs: FloatArray) -> Projection | None:
        """The forecast at the last point with a value (None without one)."""
        finite = np.isfinite(vs)
        if not finite.any():
            return None
        ts, vs = ts[finite], vs[finite]
        spent, rate, projected = self.project(ts, vs)
        params = self._check_fitted()
        budget = params["budget"]
        end = period_bounds(float(ts[-1]), params["period"])[1]
        exhausted = None
        if projected[-1] > budget and rate[-1] > 0:
            exhausted = float(ts[-1] + max(budget - spent[-1], 0.0) / rate[-1])
        return Projection(float(spent[-1]), float(budget), float(projected[-1]), end, exhausted)

    def _reason(self, ts: FloatArray, vs: FloatArray) -> str:
        found = self.projection(ts, vs)
        return format_reason(found) if found is not None else ""

    def score_stream(self, timestamps: Any, values: Any) -> FloatArray:
        """Causal by construction (trailing windows, spend since period start): one pass."""
        return score_in_one_pass(self, timestamps, values)

    def _state(self) -> tuple[dict[str, Any], ArrayState]:
        return {"rate": self.rate_}, {}

    def _load_state(self, scalars: Mapping[str, Any], arrays: ArrayState) -> None:
        self.rate_ = float(scalars["rate"])
