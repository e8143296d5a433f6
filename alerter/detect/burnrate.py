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

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerter.core.durations import format_duration, parse_duration
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


@dataclass(frozen=True)
class WindowBurn:
    """One window pair at one point: how fast each window burns, and the factor that fires it."""

    long: float
    short: float
    factor: float
    long_burn: float
    short_burn: float

    @property
    def ratio(self) -> float:
        """min(long, short burn) / factor: above 1 the pair fires (NaN burns count as 0)."""
        burn = min(_or_zero(self.long_burn), _or_zero(self.short_burn))
        return burn / self.factor if self.factor else 0.0


@dataclass(frozen=True)
class BurnReason:
    """What a verdict's reason says: the objective and each window pair's burns."""

    objective: float
    windows: tuple[WindowBurn, ...]

    @property
    def telling(self) -> WindowBurn:
        """The pair to tell a person about: of the firing pairs the fastest (shortest long window:
        the most urgent burn, as the SRE workbook's page/ticket split has it), else the closest."""
        firing = [w for w in self.windows if w.ratio > 1]
        if firing:
            return min(firing, key=lambda w: (w.long, -w.ratio))
        return max(self.windows, key=lambda w: w.ratio)


def _or_zero(value: float) -> float:
    return value if math.isfinite(value) else 0.0


_PAIR = re.compile(
    r"(?P<long_burn>[-+0-9.eEinfa]+)x over (?P<long>\S+) and (?P<short_burn>[-+0-9.eEinfa]+)x over "
    r"(?P<short>\S+) \(fires above (?P<factor>[-+0-9.eE]+)x\)"
)
_HEAD = re.compile(r"^error budget burn \((?P<objective>[-+0-9.eE]+) objective\): ")


def format_reason(objective: float, burns: Sequence[WindowBurn]) -> str:
    """The verdict's reason: "error budget burn (0.999 objective): 18.2x over 1h and 89.6x over
    5m (fires above 14.4x); ...". ``parse_reason`` reads it back, and so does the backtest's
    near-miss report: change the two together."""
    parts = [
        f"{w.long_burn:.1f}x over {format_duration(w.long)} and {w.short_burn:.1f}x over "
        f"{format_duration(w.short)} (fires above {w.factor:g}x)"
        for w in burns
    ]
    return f"error budget burn ({objective:.4g} objective): " + "; ".join(parts)


def parse_reason(reason: str) -> BurnReason | None:
    """The numbers of a reason ``format_reason`` wrote (burns to its 0.1 precision); None for any
    other text (an alert's reason may say why it is held firing instead).

    The reason is the one text that travels with an alert from the detector to the store, the
    API and the messages, so it carries the window pairs in a form read back here.
    """
    head = _HEAD.match(reason)
    if head is None:
        return None
    pairs = []
    for m in _PAIR.finditer(reason, head.end()):
        try:
            pairs.append(
                WindowBurn(
                    long=parse_duration(m["long"]),
                    short=parse_duration(m["short"]),
                    factor=float(m["factor"]),
                    long_burn=float(m["long_burn"]),
                    short_burn=float(m["short_burn"]),
                )
            )
        except ValueError:
            return None
    if not pairs:
        return None
    return BurnReason(float(head["objective"]), tuple(pairs))


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

    def window_burns(self, ts: FloatArray, vs: FloatArray) -> list[WindowBurn]:
        """Each window pair's long and short burn at the last point (empty without points)."""
        self._check_fitted()
        if ts.size == 0:
            return []
        return [
            WindowBurn(
                long=w["long"],
                short=w["short"],
                factor=w["factor"],
                long_burn=float(trailing_mean(ts, vs, w["long"])[-1] / self.budget_),
                short_burn=float(trailing_mean(ts, vs, w["short"])[-1] / self.budget_),
            )
            for w in self.windows_
        ]

    def _reason(self, ts: FloatArray, vs: FloatArray) -> str:
        burns = self.window_burns(ts, vs)
        return format_reason(1 - self.budget_, burns) if burns else ""

    def score_stream(self, timestamps: Any, values: Any) -> FloatArray:
        """Trailing windows are causal by construction: one vectorised pass."""
        return score_in_one_pass(self, timestamps, values)
