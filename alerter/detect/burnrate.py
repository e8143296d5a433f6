"""Multi-window SLO error-budget burn rate, for error-ratio series.

Called through the registry (``detector: burn_rate``). The input series is an error ratio in
[0, 1] (e.g. failed / all requests per scrape). Burn rate over a window is the mean error
ratio in it divided by the error budget ``1 - objective``; a window pair fires when both its
long and its short window burn faster than ``factor``: the long window proves the burn is
significant, the short one that it is still happening (so the alert resolves quickly).
The default pairs are the SRE workbook's page-worthy ones: 1h/5m at 14.4x (2% of a 30-day
budget in an hour) and 6h/30m at 6x (5% in six hours).

Nothing is learned; ``lookback`` asks the engine for the longest window of data so that
``evaluate`` can compute every window from the points it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from alerter.core.durations import format_duration
from alerter.core.model import FloatArray
from alerter.detect import hygiene
from alerter.detect.base import ArrayState, Detector, ratio_score, score_in_one_pass
from alerter.detect.registry import register


def trailing_mean(ts: FloatArray, vs: FloatArray, window: float) -> FloatArray:
    """Mean of the samples in ``(t - window, t]`` for each sorted timestamp (NaN ignored)."""
    finite = np.isfinite(vs)
    csum = np.concatenate(([0.0], np.cumsum(np.where(finite, vs, 0.0))))
    ccount = np.concatenate(([0], np.cumsum(finite)))
    hi = np.searchsorted(ts, ts, side="right")
    lo = np.searchsorted(ts, ts - window, side="right")
    count = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), np.nan)


@register
class BurnRateDetector(Detector):
    """Fires when any long/short window pair burns the error budget faster than its factor."""

    name = "burn_rate"
    reason_from_points = True

    def _fit(self, ts: FloatArray, vs: FloatArray, params: dict[str, Any]) -> None:
        self.windows_ = [dict(w) for w in params["windows"]]
        self.budget_ = 1.0 - params["objective"]

    def _load_state(self, scalars: Mapping[str, Any], arrays: ArrayState) -> None:
        self._fit(np.empty(0), np.empty(0), self._check_fitted())

    @property
    def lookback(self) -> float:
        params = self._check_fitted() if self.is_fitted else self._validated()
        return float(max(w["long"] for w in params["windows"]))

    def burn_ratios(self, ts: FloatArray, vs: FloatArray) -> FloatArray:
        """Per point, the largest over pairs of min(long, short burn) / factor; > 1 fires."""
        self._check_fitted()
        best = np.zeros(ts.shape[0])
        for w in self.windows_:
            long_burn = trailing_mean(ts, vs, w["long"]) / self.budget_
            short_burn = trailing_mean(ts, vs, w["short"]) / self.budget_
            ratio = np.fmin(long_burn, short_burn) / w["factor"]
            best = np.fmax(best, np.nan_to_num(ratio, nan=0.0))
        return best

    def band(self, timestamps: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Expected: the budgeted error ratio; upper: the ratio that fires the most sensitive pair."""
        self._check_fitted()
        n = hygiene.as_seconds(timestamps).shape[0]
        upper = self.budget_ * min(w["factor"] for w in self.windows_)
        return np.full(n, self.budget_), np.zeros(n), np.full(n, upper)

    def _score(self, ts: FloatArray, vs: FloatArray) -> tuple[FloatArray, FloatArray | None]:
        return ratio_score(self.burn_ratios(ts, vs)), None

    def _reason(self, ts: FloatArray, vs: FloatArray) -> str:
        if ts.size == 0:
            return ""
        parts = []
        for w in self.windows_:
            long_burn = trailing_mean(ts, vs, w["long"])[-1] / self.budget_
            short_burn = trailing_mean(ts, vs, w["short"])[-1] / self.budget_
            parts.append(
                f"{long_burn:.1f}x over {format_duration(w['long'])} and {short_burn:.1f}x over "
                f"{format_duration(w['short'])} (fires above {w['factor']:g}x)"
            )
        return f"error budget burn ({1 - self.budget_:.4g} objective): " + "; ".join(parts)

    def score_stream(self, timestamps: Any, values: Any) -> FloatArray:
        """Trailing windows are causal by construction: one vectorised pass."""
        return score_in_one_pass(self, timestamps, values)
