"""The day before: what a young series did at the same time yesterday, as a check on EWMA.

Called by the cold-start ladder (``detector: auto``) while its EWMA rung judges a series with at
least a day of history. EWMA knows only the recent level, so a series with a sharp daily step
(traffic switching on at 09:00, a counter reset at midnight) pages at every step until STL has
the three days it needs to learn the shape. A point the EWMA finds out of band is therefore also
compared with the same time yesterday: a departure that repeats what the series did then is the
daily pattern showing itself, not an incident, and is not anomalous. A real incident departs from
both, so it is judged exactly as before; only pages the shape of yesterday explains are dropped.
The daily STL rung asks the week before in the same way (on an hourly grid) until MSTL has the
four weeks a weekly component needs: a Saturday like last Saturday is not an incident.

"The same time yesterday" is the range the series spanned over the neighbouring bins (one bin
either side, so a step that comes a few minutes early or late still matches), widened by half the
largest step between those bins (samples between two bins lie between their values). The band
around that range uses the robust scale of day-over-day differences when history has enough of
them, and otherwise the EWMA's own noise scale times sqrt 2 (the difference of two noisy values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerter.core.model import FloatArray
from alerter.detect import hygiene
from alerter.detect.base import band_score

DAY = 86400.0
MIN_DIFFERENCES = 24
"""Day-over-day differences needed before their own scale is trusted over the EWMA's."""
EXTRA_PER_DAY = 12
"""Beyond the last day, keep 1/12 of a day (2 hours) more of it."""


@dataclass(frozen=True)
class DayBefore:
    """The last ``period`` (a day, or a week) of history on a ``step`` grid, and the noise of
    the differences between one period and the next."""

    step: float
    end: float
    values: npt.NDArray[np.float32]
    scale: float
    period: float = DAY

    @classmethod
    def learn(
        cls, ts: FloatArray, vs: FloatArray, step: float, fallback_scale: float, period: float = DAY
    ) -> DayBefore | None:
        """The last period of ``ts``/``vs`` (sorted, clean) on an epoch-aligned grid; None if short."""
        if ts.size < 2 or ts[-1] - ts[0] < period:
            return None
        bins = max(round(period / step), 4)
        step = period / bins
        grid, y = hygiene.resample(ts, vs, step)
        if y.size <= bins:
            return None
        diffs = y[bins:] - y[:-bins]
        diffs = diffs[np.isfinite(diffs)]
        if diffs.size >= MIN_DIFFERENCES:
            scale = hygiene.robust_scale(diffs)
        else:
            scale = fallback_scale * math.sqrt(2.0)
        # A little more than a day: the points a tick judges reach back a trigger window before
        # the fit, whose day before lies just beyond the last full day.
        keep = min(y.size, bins + bins // EXTRA_PER_DAY)
        level = float(np.nanmedian(y[-keep:])) if np.isfinite(y[-keep:]).any() else 0.0
        last = y[-keep:].astype(np.float32)
        return cls(step, float(grid[-1]), last, hygiene.scale_floor(level, scale), period)

    def scores(
        self, ts: FloatArray, vs: FloatArray, sensitivity: float, min_deviation: float, direction: str
    ) -> FloatArray:
        """Scores against yesterday's range (0.5 at its band edge); 1 where yesterday is unknown.

        A score of 1 leaves the EWMA's verdict as it is when the two are combined by minimum.
        """
        n = self.values.size
        start = self.end - (n - 1) * self.step  # time of values[0]
        back = ts - self.period
        index = np.floor((back - start) / self.step + 1e-7).astype(np.int64)
        known = (index >= 0) & (index < n) & np.isfinite(vs)
        out = np.ones(ts.size, dtype=np.float64)
        if not known.any():
            return out
        padded = np.concatenate(([np.nan], self.values.astype(np.float64), [np.nan]))
        at = index[known] + 1
        around = np.stack([padded[at - 1], padded[at], padded[at + 1]])
        steps = np.nan_to_num(np.abs(np.diff(around, axis=0)), nan=0.0)
        tolerance = 0.5 * steps.max(axis=0)
        low = np.fmin.reduce(around, axis=0) - tolerance  # fmin/fmax skip a missing neighbour
        high = np.fmax.reduce(around, axis=0) + tolerance
        seen = np.isfinite(padded[at])
        x = vs[known]
        nearest = np.clip(x, low, high)
        half = np.full(x.size, sensitivity * self.scale + min_deviation)
        judged = band_score(x, nearest, half, direction)
        out[np.flatnonzero(known)[seen]] = judged[seen]
        return out
