"""Synthetic series on which no detector should ever page after its first day.

Used by ``benchmarks/detection.py`` (``--sets synthetic``). Each case is regular by
construction (no anomaly at all), 14 days at a 1-minute step unless noted, with fixed seeds,
starting on a Monday at 00:00 UTC:

- ``sine``: a noiseless daily sine;
- ``square``: 20 at night and 80 by day, switching at 09:00 and 21:00 UTC;
- ``sawtooth``: a ramp from 0 to 100 over each day, falling back at midnight;
- ``constant``: 42, always;
- ``drift``: a slow linear trend (+2 a day from 100) with small Gaussian noise (sd 0.5);
- ``counts``: Poisson counts (integers) with a daily rate between 2 and 18;
- ``weekly``: a daily sine on weekdays at full level and on weekends at half level, with
  noise (sd 1), 28 days at a 5-minute step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DAY = 86400.0
START = 1_767_571_200.0
"""2026-01-05T00:00Z, a Monday."""
LEARNING = DAY
"""Pages in the first day are the cold start; the cases are scored after it."""


@dataclass(frozen=True)
class Case:
    name: str
    timestamps: FloatArray
    values: FloatArray


def _grid(days: float, step: float) -> FloatArray:
    out: FloatArray = START + np.arange(0.0, days * DAY, step)
    return out


def cases(days: float = 14.0, weekly_days: float = 28.0) -> list[Case]:
    """Every case; ``days`` (and ``weekly_days`` for ``weekly``) set their lengths."""
    ts = _grid(days, 60.0)
    hour = ((ts - START) % DAY) / 3600.0
    day_phase = ((ts - START) % DAY) / DAY
    elapsed = (ts - START) / DAY
    rng = np.random.default_rng(11)
    out = [
        Case("sine", ts, 100.0 + 30.0 * np.sin(2 * np.pi * day_phase)),
        Case("square", ts, np.where((hour >= 9.0) & (hour < 21.0), 80.0, 20.0)),
        Case("sawtooth", ts, 100.0 * day_phase),
        Case("constant", ts, np.full(ts.size, 42.0)),
        Case("drift", ts, 100.0 + 2.0 * elapsed + rng.normal(0.0, 0.5, ts.size)),
        Case(
            "counts",
            ts,
            np.random.default_rng(12)
            .poisson(10.0 + 8.0 * np.sin(2 * np.pi * (day_phase - 0.25)))
            .astype(np.float64),
        ),
    ]
    wts = _grid(weekly_days, 300.0)
    weekday = np.floor((wts - START) / DAY) % 7
    level = np.where(weekday >= 5, 0.5, 1.0)
    wphase = ((wts - START) % DAY) / DAY
    noise = np.random.default_rng(13).normal(0.0, 1.0, wts.size)
    out.append(Case("weekly", wts, level * (100.0 + 40.0 * np.sin(2 * np.pi * (wphase - 0.25))) + noise))
    return out


__all__ = ["DAY", "LEARNING", "START", "Case", "cases"]
