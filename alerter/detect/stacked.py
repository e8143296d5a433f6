"""Many fitted detectors judged at once: their parameters stacked as arrays, one row per series.

Called by the engine's batch evaluation (``engine.batch``) at every tick of a baseline rule. A
rule judges thousands of series against windows of a handful of points, and per series the
Python around ``Detector.evaluate`` costs far more than its arithmetic. Detectors of one shape
(the same kind, grid step, seasons and phase buckets, the same ``sensitivity``,
``min_deviation`` and ``direction``) are stacked here: their fitted attributes become
(series x ...) arrays, and a window of values (series x points) on one set of timestamps is
judged in a few numpy operations.

Each operation is the one the detector applies to one series (``StlDetector._expect`` and
``_resolution_error``, ``EwmaDetector._expect``, ``Detector._halfwidth`` and ``band_score``,
``AutoDetector.band``, ``_widened`` and ``_unless_yesterday``, ``DayBefore.scores``), in the same
order and on the same dtypes, applied element by element to a row. So every row is bit for bit
the verdict the detector gives for that series: ``tests/engine/test_batch.py`` holds the two to
``np.array_equal`` over many ticks. Only what is read from a fitted detector is used, never how
it was fitted. A detector of another kind, or a subclass that overrides what is mirrored here,
has no stack key and is judged alone.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from alerter.core.model import BoolArray, FloatArray
from alerter.detect import hygiene
from alerter.detect.base import Detector, band_score
from alerter.detect.daybefore import DayBefore
from alerter.detect.ewma import EwmaDetector
from alerter.detect.ladder import AutoDetector
from alerter.detect.stl import MstlDetector, StlDetector

_SEASONAL = (StlDetector, MstlDetector)


@dataclass(frozen=True)
class Judged:
    """What ``Detector.evaluate`` returns per series, as (series x points) arrays."""

    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    scores: FloatArray
    anomalous: BoolArray
    scale: FloatArray


@dataclass(frozen=True)
class Row:
    """One fitted detector's part of a stack: its key and the values its row is made of.

    Built once per fitted detector (the caller keeps it while the detector is in use): reading
    the attributes costs microseconds, which a tick cannot pay per series.
    """

    key: Hashable
    tier: str
    inner: tuple[float, ...]
    """Seasonal: level, slope, end, horizon, sample position. EWMA: mean, scale."""
    profiles: tuple[FloatArray, ...]
    """Seasonal: one profile per season, then the phase scales. EWMA: the profile, if any."""
    day: tuple[float, float, float, FloatArray] | None = None
    """The day (or week) before: its start, its last point's index, its band's half-width, its values."""


def _plain(cls: type[Detector]) -> bool:
    """Whether ``cls`` judges as ``Detector.evaluate`` with ``Detector.band``/``_score`` does."""
    return (
        cls.evaluate is Detector.evaluate
        and cls.band is Detector.band
        and cls._score is Detector._score
        and cls._halfwidth is Detector._halfwidth
        and not cls.reason_from_points
    )


def _auto_plain(cls: type[Detector]) -> bool:
    """Whether an ``auto`` detector class is the ladder as mirrored here."""
    return (
        cls is AutoDetector
        and cls.evaluate is Detector.evaluate
        and not cls.reason_from_points
        and cls._halfwidth is Detector._halfwidth
    )


def _judging(params: dict[str, Any]) -> tuple[Any, Any, Any]:
    return params["sensitivity"], params["min_deviation"], params["direction"]


def _inner_row(detector: Detector) -> tuple[Hashable, tuple[float, ...], tuple[FloatArray, ...]] | None:
    """The key, scalars and arrays of a fitted STL, MSTL or EWMA detector (None: another kind)."""
    cls = type(detector)
    if not _plain(cls) or not detector.is_fitted or detector.lookback != 0.0:
        return None
    params = _judging(detector.params_)
    if cls in _SEASONAL and isinstance(detector, StlDetector) and cls._expect is StlDetector._expect:
        periods = tuple(int(p) for p in detector.periods_)
        profiles = tuple(np.asarray(p).astype(np.float64) for p in detector.profiles_)
        phase = np.asarray(detector.phase_scale_).astype(np.float64)
        if len(profiles) != len(periods) or any(
            p.shape != (n,) for p, n in zip(profiles, periods, strict=True)
        ):
            return None
        key = ("seasonal", float(detector.step_), periods, int(phase.size), params)
        scalars = (
            float(detector.level_),
            float(detector.slope_),
            float(detector.end_),
            float(detector.horizon_),
            float(detector.sample_pos_),
        )
        return key, scalars, (*profiles, phase)
    if cls is EwmaDetector and isinstance(detector, EwmaDetector) and cls._expect is EwmaDetector._expect:
        state = detector.state_
        scale = hygiene.scale_floor(state.mean, math.sqrt(state.var))
        if not isinstance(state.mean, float):
            return None  # np.full would take another dtype from it
        mean = state.mean
        if state.profile:
            profile = np.asarray(state.profile)
            if profile.dtype != np.float64:
                return None
            return ("ewma", float(state.step), int(profile.size), params), (mean, scale), (profile,)
        return ("ewma", 0.0, 0, params), (mean, scale), ()
    return None


def row(detector: Detector) -> Row | None:
    """The detector's row, or None when it cannot be stacked and must be judged alone."""
    try:
        return _row(detector)
    except (AttributeError, ValueError, TypeError, ArithmeticError):
        # What the detector would raise judging alone, it raises there.
        return None


def _row(detector: Detector) -> Row | None:
    if not _auto_plain(type(detector)):
        inner = _inner_row(detector)
        if inner is None:
            return None
        key, scalars, arrays = inner
        return Row(("plain", key), detector.tier, scalars, arrays)
    if not isinstance(detector, AutoDetector) or not detector.is_fitted or detector.lookback != 0.0:
        return None
    inner = _inner_row(detector.inner_)
    if inner is None:
        return None
    key, scalars, arrays = inner
    widen = float(detector.widen_)
    day = detector.day_before_
    day_key: Hashable = None
    day_row = None
    if day is not None:
        if type(day) is not DayBefore or type(day).scores is not _DAY_SCORES:
            return None
        sensitivity, min_deviation, direction = _judging(detector.params_)
        n = day.values.size
        start = day.end - (n - 1) * day.step  # as DayBefore.scores places values[0]
        half = sensitivity * day.scale + min_deviation
        day_key = (float(day.step), float(day.period), direction)
        day_row = (float(start), float(n), float(half), day.values.astype(np.float64))
    return Row(("auto", key, widen, day_key), detector.tier, scalars, arrays, day_row)


_DAY_SCORES = DayBefore.scores


class Stack:
    """The rows of one key, stacked; :meth:`judge` gives every row's verdict arrays at once."""

    def __init__(self, rows: Sequence[Row]) -> None:
        if not rows:
            raise ValueError("a stack needs at least one row")
        self.key = rows[0].key
        if any(r.key != self.key for r in rows):
            raise ValueError("every row of a stack has the same key")
        self.size = len(rows)
        wrapper, inner_key = self.key[0], self.key[1]  # type: ignore[index]
        self._auto = wrapper == "auto"
        self._kind: str = inner_key[0]
        self._step: float = inner_key[1]
        self._shape: Any = inner_key[2]
        self._sensitivity, self._min_deviation, self._direction = inner_key[-1]
        # Column vectors of scalars and (rows x n) matrices: row i is rows[i].
        scalars = np.array([r.inner for r in rows], dtype=np.float64)
        self._scalars = [scalars[:, j : j + 1] for j in range(scalars.shape[1])]
        count = len(rows[0].profiles)
        self._arrays = [np.stack([r.profiles[j] for r in rows]) for j in range(count)]
        if self._auto:
            widen, day_key = self.key[2], self.key[3]  # type: ignore[index]
            self._widen: float = widen
            self._day_key: Any = day_key
            if day_key is not None:
                days = [r.day for r in rows]
                if any(d is None for d in days):
                    raise ValueError("every row of a day-before stack has a day before")
                known = [d for d in days if d is not None]
                self._day_start = np.array([d[0] for d in known])[:, None]
                self._day_n = np.array([int(d[1]) for d in known], dtype=np.int64)[:, None]
                self._day_half = np.array([d[2] for d in known])
                width = max(d[3].size for d in known)
                padded = np.full((len(known), width + 2), np.nan)
                for i, d in enumerate(known):
                    padded[i, 1 : 1 + d[3].size] = d[3]
                self._day_values = padded

    # -- the detectors' formulas, one row per series -------------------------------------

    def _expect(self, ts: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``StlDetector._expect`` / ``EwmaDetector._expect`` of every row at ``ts``."""
        m = ts.shape[0]
        if self._kind == "ewma":
            mean, scale = self._scalars
            expected = np.repeat(mean, m, axis=1)
            if self._shape:
                bins = hygiene.bin_index(ts, self._step) % self._shape
                expected = expected + self._arrays[0][:, bins]
            return expected, np.repeat(scale, m, axis=1)
        level, slope, end, horizon, sample_pos = self._scalars
        periods: tuple[int, ...] = self._shape
        profiles = self._arrays[: len(periods)]
        phase_scale = self._arrays[len(periods)]
        bins = hygiene.bin_index(ts, self._step)
        ahead = np.clip(ts - end, 0.0, horizon)
        expected = level + slope * ahead
        seasonal = np.zeros((self.size, m))
        for period, profile in zip(periods, profiles, strict=True):
            here = profile[:, bins % period]
            expected = expected + here
            seasonal += here
        buckets = phase_scale.shape[1]
        scale = phase_scale[:, (bins % periods[0]) * buckets // periods[0]]
        after = np.zeros((self.size, m))
        before = np.zeros((self.size, m))
        for period, profile in zip(periods, profiles, strict=True):
            after += profile[:, (bins + 1) % period]
            before += profile[:, (bins - 1) % period]
        offset = ts / self._step - bins - sample_pos
        error = np.where(offset >= 0, offset * np.abs(after - seasonal), -offset * np.abs(seasonal - before))
        return expected.astype(np.float64), np.maximum(scale, error)

    def _widened(self, scores: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = scores / (1.0 - scores) / self._widen**2
            out: FloatArray = np.where(scores >= 1.0, 1.0, r2 / (1.0 + r2))
        return out

    def _yesterday(self, ts: FloatArray, vs: FloatArray) -> FloatArray:
        """``DayBefore.scores`` of every row, judged on the points it knows."""
        step, period, direction = self._day_key
        back = ts - period
        index = np.floor((back - self._day_start) / step + 1e-7).astype(np.int64)
        known = (index >= 0) & (index < self._day_n) & np.isfinite(vs)
        out = np.ones(vs.shape, dtype=np.float64)
        if not known.any():
            return out
        rows, cols = np.nonzero(known)
        at = index[rows, cols] + 1
        padded = self._day_values
        around = np.stack([padded[rows, at - 1], padded[rows, at], padded[rows, at + 1]])
        steps = np.nan_to_num(np.abs(np.diff(around, axis=0)), nan=0.0)
        tolerance = 0.5 * steps.max(axis=0)
        low = np.fmin.reduce(around, axis=0) - tolerance
        high = np.fmax.reduce(around, axis=0) + tolerance
        seen = np.isfinite(padded[rows, at])
        x = vs[rows, cols]
        nearest = np.clip(x, low, high)
        half = self._day_half[rows]
        judged = band_score(x, nearest, half, direction)
        out[rows[seen], cols[seen]] = judged[seen]
        return out

    def judge(self, ts: FloatArray, vs: FloatArray) -> Judged:
        """Every row's verdict arrays for the values ``vs`` (rows x points) at ``ts`` (points).

        ``ts`` must be finite and sorted (``Detector.evaluate`` sorts and drops the others);
        a NaN value is judged as ``evaluate`` judges it (score 0), so a point a series lacks
        can be given as NaN and left out of its verdict afterwards.
        """
        if vs.shape != (self.size, ts.shape[0]):
            raise ValueError(f"values must have shape ({self.size}, {ts.shape[0]}), got {vs.shape}")
        expected, scale = self._expect(ts)
        half = self._sensitivity * scale + self._min_deviation
        lower, upper = expected - half, expected + half
        scores = band_score(vs, expected, half, self._direction)
        if self._auto:
            if self._widen != 1.0:
                lower = expected - self._widen * (expected - lower)
                upper = expected + self._widen * (upper - expected)
                scores = self._widened(scores)
            if self._day_key is not None:
                scores = np.minimum(scores, self._yesterday(ts, vs))
        scores = np.where(np.isfinite(vs), scores, 0.0)
        return Judged(expected, lower, upper, scores, scores > 0.5, scale)


def group(rows: Sequence[Row | None]) -> dict[Hashable, npt.NDArray[np.intp]]:
    """Positions of the stackable rows, by key, in order."""
    out: dict[Hashable, list[int]] = {}
    for i, r in enumerate(rows):
        if r is not None:
            out.setdefault(r.key, []).append(i)
    return {k: np.asarray(v, dtype=np.intp) for k, v in out.items()}
