"""Seasonal baselines: robust STL (one season) and MSTL (several), stored as compact profiles.

Called through the registry (``detector: stl`` / ``mstl``) and by the cold-start ladder once a
series has days (daily STL) or weeks (daily+weekly MSTL) of history.

Fitting resamples the history to ``resolution`` (never finer than the data itself), fills
gaps linearly, and decomposes it with statsmodels' robust STL, passing the LOESS ``*_jump``
settings (``ceil(window / 10)``, as the original Fortran does) and few robustness
iterations: without them a daily STL on two weeks at 5-minute resolution takes ~200 ms,
with them ~45 ms. Several seasons are peeled off in turn, shortest first (the MSTL algorithm),
with jumps chosen per season, which statsmodels' MSTL cannot do.

What is kept is small: for each season the last learned cycle (float32), the trend's final
level and slope, and the robust scale of the residuals (MAD), optionally per phase bucket
of the shortest season because latency is noisier at the daily peak than at night. The
expected value at time t is ``level + slope·min(t - end, horizon) + Σ profile[phase(t)]``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from alerter.core.durations import format_duration
from alerter.core.model import FloatArray
from alerter.detect import hygiene
from alerter.detect.base import ArrayState, Detector, NotEnoughData, band_score
from alerter.detect.ewma import CLIP
from alerter.detect.registry import register

#: Phase buckets per shortest season for the per-phase scale (hourly for a daily season).
PHASE_BUCKETS = 24
#: Pseudo-count pulling a bucket's scale towards the global scale (small buckets are noisy).
SHRINK = 20.0
#: A phase bucket may widen the band (noisy peak hours) but never narrow it below the
#: global scale: quiet hours with few samples would otherwise page on ordinary noise.
PHASE_MIN = 1.0
#: Upper bound of grid bins per cycle of the longest season.
MAX_CYCLE_BINS = 1008
#: Share of grid bins that must hold real samples for a fit to be trusted.
MIN_COVERAGE = 0.5
#: Cycles of the shortest season whose median is the stored profile (see ``_last_cycles``).
PROFILE_CYCLES = 3
#: The band's scale is widened by at most this factor for the profile's own estimation error.
HOLDOUT_MAX = 2.0


def _odd(x: float) -> int:
    n = math.ceil(x)
    return n if n % 2 else n + 1


@functools.lru_cache(maxsize=256)
def _tier_name(name: str, seasons: tuple[float, ...]) -> str:
    """``stl(1d)``: asked at every evaluation of every series, and the same few names each time."""
    return f"{name}({','.join(format_duration(s) for s in seasons)})"


_SHARED: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _shared(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """One tuple per distinct value (every series of a rule has the same seasons and periods)."""
    if len(_SHARED) >= 1024:
        _SHARED.clear()
    return _SHARED.setdefault(values, values)


def stl_kwargs(period: int, seasonal: int) -> dict[str, Any]:
    """Robust STL settings with LOESS jumps of a tenth of each window."""
    trend = _odd(1.5 * period / (1 - 1.5 / seasonal))
    low_pass = _odd(period + 1)
    return {
        "period": period,
        "seasonal": seasonal,
        "trend": trend,
        "low_pass": low_pass,
        "robust": True,
        # Local-constant seasonal smoothing: a local line extrapolates a recent incident at
        # the series' end into the last cycles of the profile; a constant (with robustness
        # weights) leaves it in the residuals where it belongs.
        "seasonal_deg": 0,
        "seasonal_jump": math.ceil(seasonal / 10),
        "trend_jump": math.ceil(trend / 10),
        "low_pass_jump": math.ceil(low_pass / 10),
    }


def decompose(y: FloatArray, periods: Sequence[int], iterate: int = 2) -> tuple[FloatArray, FloatArray]:
    """Trend and per-season components (rows) of a complete, evenly spaced series."""
    # Imported here: statsmodels takes seconds to import, and ``alerter check`` (which only
    # validates specs) must not pay for it.
    from statsmodels.tsa.seasonal import STL

    seasonal = np.zeros((len(periods), y.size))
    deseason = y.copy()
    trend = np.zeros_like(y)
    for _ in range(iterate if len(periods) > 1 else 1):
        for i, period in enumerate(periods):
            deseason = deseason + seasonal[i]
            res = STL(deseason, **stl_kwargs(period, 7 + 4 * i)).fit(inner_iter=2, outer_iter=3)
            seasonal[i] = res.seasonal
            trend = res.trend
            deseason = deseason - seasonal[i]
    return trend, seasonal


def _last_cycles(
    component: FloatArray, bins: np.ndarray, period: int, cycles: int = PROFILE_CYCLES
) -> FloatArray:
    """The seasonal profile by phase: median of the component over its last few cycles.

    STL's last cycle is a boundary estimate that a recent incident can bend; the median of
    three cycles is what the season normally looks like.
    """
    k = max(min(cycles, component.size // period), 1)
    tail = component[-k * period :].reshape(k, period)
    profile = np.median(tail, axis=0)
    return profile[np.argsort(bins[-period:] % period)]


def holdout_factor(
    component: FloatArray, offsets: npt.NDArray[np.int64], resid: FloatArray, period: int
) -> float:
    """How much farther new samples fall from the stored profile than training samples from STL's curve.

    The stored profile is the median of the last ``PROFILE_CYCLES`` cycles of the seasonal
    component, so it carries the noise of a few samples per phase, and the residuals the scale
    is measured on are in-sample: the curve was fitted to those very samples. Both make the band
    too narrow exactly when history holds one sample per phase and cycle (a history query at
    ``resolution`` returns point samples): on three days of a 1-minute latency series sampled
    every 5 minutes, the residual scale was 0.045 where the noise is 0.07. Each of the last
    cycles is judged against the median of the others, as a new day is judged against the
    profile, and the ratio of that out-of-sample scale to the in-sample one (1 to ``HOLDOUT_MAX``)
    widens the band. With several samples per bin, or many cycles, the ratio is close to 1.

    ``offsets`` are the grid positions of the raw samples whose residuals are ``resid``.
    """
    k = min(PROFILE_CYCLES, component.size // period)
    if k < 2:
        return 1.0
    first = component.size - k * period
    tail = component[first:].reshape(k, period)
    others = np.stack([np.median(np.delete(tail, j, axis=0), axis=0) for j in range(k)])
    shift = (tail - others).reshape(-1)
    at = offsets - first
    inside = (at >= 0) & (at < shift.size)
    if inside.sum() < 20:
        return 1.0
    own = resid[inside]
    base = hygiene.mad_scale(own)
    if not base > 0:
        return 1.0
    held_out = hygiene.mad_scale(own + shift[at[inside]])
    return min(max(held_out / base, 1.0), HOLDOUT_MAX)


def _phase_scales(phase: np.ndarray, resid: FloatArray, buckets: int) -> tuple[float, FloatArray]:
    """Global and per-phase-bucket scales: MAD per bucket, then one shared tail factor.

    Each bucket's MAD is shrunk towards the global MAD (few samples per bucket are noisy)
    and kept within [PHASE_MIN, 4] times it; the tail factor is estimated once on residuals
    standardised by their bucket's scale, so a noisy peak hour widens its own band without
    passing for a heavy tail everywhere else.
    """
    glob = hygiene.mad_scale(resid)
    out = np.full(buckets, glob, dtype=np.float64)
    for b in range(buckets):
        r = resid[phase == b]
        if r.size >= 3:
            s = hygiene.mad_scale(r)
            out[b] = math.sqrt((r.size * s * s + SHRINK * glob * glob) / (r.size + SHRINK))
    out = np.clip(out, PHASE_MIN * glob, 4.0 * glob)
    if glob <= 0:
        return glob, out
    factor = hygiene.tail_factor((resid - np.median(resid)) / out[phase])
    return glob * factor, out * factor


@register
class StlDetector(Detector):
    """Robust STL around one or more seasons (default one day)."""

    name = "stl"
    default_seasonality: tuple[float, ...] = (86400.0,)
    periods_: Sequence[int]
    seasons_: Sequence[float]

    def _periods(self, params: Mapping[str, Any]) -> list[float]:
        return list(params["seasonality"] or self.default_seasonality)

    def _fit(self, ts: FloatArray, vs: FloatArray, params: dict[str, Any]) -> None:
        seasons = self._periods(params)
        # Never finer than the data, nor than MAX_CYCLE_BINS per longest season: a weekly
        # season at 5 minutes would cost four times the fit for no visible difference.
        step = max(params["resolution"], hygiene.native_step(ts), seasons[-1] / MAX_CYCLE_BINS)
        step = seasons[0] / max(round(seasons[0] / step), 1)
        periods = [max(round(s / step), 2) for s in seasons]
        grid, y = hygiene.resample(ts, vs, step)
        observed = np.isfinite(y)
        if y.size < 2 * periods[-1] or observed.mean() < MIN_COVERAGE:
            raise NotEnoughData(
                f"{self.tier_for(seasons)} needs two full seasons ({format_duration(2 * seasons[-1])}) "
                f"of history with at least {MIN_COVERAGE:.0%} coverage, got {format_duration(y.size * step)}"
            )
        trend, seasonal = decompose(hygiene.fill_gaps(y), periods)
        bins = np.round(grid / step).astype(np.int64)
        # The band judges raw samples, which are noisier than bin means: scale comes from
        # the raw samples' residuals around the fitted curve, not from the grid's.
        raw_bins = hygiene.bin_index(ts, step)
        resid = vs - (trend + seasonal.sum(axis=0))[raw_bins - bins[0]]
        self.step_, self.periods_, self.seasons_ = step, periods, seasons
        # Where inside its bin the profile was learned (0: at the bin start, as a history query
        # at ``resolution`` gives it; about 0.4 for the mean of five 1-minute samples).
        self.sample_pos_ = float(np.mean(ts / step - raw_bins)) if ts.size else 0.0
        self.profiles_ = [_last_cycles(seasonal[i], bins, p) for i, p in enumerate(periods)]
        quarter = max(periods[0] // 4, 1)
        self.level_ = float(trend[-1])
        self.slope_ = float((trend[-1] - trend[-1 - quarter]) / (quarter * step))
        self.end_ = float(grid[-1])
        self.horizon_ = quarter * step
        buckets = min(PHASE_BUCKETS, periods[0]) if params["per_phase_scale"] else 1
        phase = (raw_bins % periods[0]) * buckets // periods[0]
        scale, phase_scale = _phase_scales(phase, resid, buckets)
        widen = holdout_factor(seasonal[0], raw_bins - bins[0], resid, periods[0])
        scale, phase_scale = scale * widen, phase_scale * widen
        self.scale_ = hygiene.scale_floor(self.level_, scale)
        self.phase_scale_ = np.maximum(phase_scale, self.scale_ if buckets == 1 else 0.0)
        self.phase_scale_ = np.array([hygiene.scale_floor(self.level_, s) for s in self.phase_scale_])
        # Judged against the stored model (level + median profile), not STL's own boundary
        # estimates, which bend towards a recent shift and would hide it.
        residuals = vs - self._expect(ts)[0]
        shift = hygiene.shift_to_adopt(
            ts, residuals, self.scale_, params["sensitivity"], params["adopt_after"]
        )
        if shift:
            # The new normal brings its own noise: a series that jumped from idle to busy
            # must not be judged by the idle period's scale.
            recent = residuals[ts >= ts[-1] - params["adopt_after"]]
            noise = hygiene.scale_floor(self.level_, hygiene.mad_scale(recent))
            self.level_ += shift
            self.scale_ = max(self.scale_, noise)
            self.phase_scale_ = np.maximum(self.phase_scale_, noise)

    def tier_for(self, seasons: Sequence[float]) -> str:
        return _tier_name(self.name, tuple(seasons))

    @property
    def tier(self) -> str:
        if self.is_fitted:
            return self.tier_for(self.seasons_)
        return self.tier_for(self._periods({"seasonality": self._raw.get("seasonality")}))

    def _expect(self, ts: FloatArray) -> tuple[FloatArray, FloatArray]:
        bins = hygiene.bin_index(ts, self.step_)
        ahead = np.clip(ts - self.end_, 0.0, self.horizon_)
        expected = self.level_ + self.slope_ * ahead
        seasonal = np.zeros(ts.size)
        for period, profile in zip(self.periods_, self.profiles_, strict=True):
            here = profile[bins % period]
            expected = expected + here
            seasonal += here
        buckets = self.phase_scale_.size
        scale = self.phase_scale_[(bins % self.periods_[0]) * buckets // self.periods_[0]]
        return expected.astype(np.float64), np.maximum(scale, self._resolution_error(ts, bins, seasonal))

    def _resolution_error(self, ts: FloatArray, bins: npt.NDArray[np.int64], here: FloatArray) -> FloatArray:
        """How far the truth may be from the profile between the instants it was learned at.

        ``here`` is the seasonal profile at ``bins``, as ``_expect`` already summed it. The profile
        holds one value per ``step``; a sample taken elsewhere in its bin lies
        somewhere towards the neighbouring bin's value. On a noiseless ramp (a sawtooth, a
        steady climb) the residual scale is zero, so without this every sample between the
        learned instants would be infinitely far out of band; it is zero at those instants, so
        a series judged at its training resolution is judged exactly as before.
        """
        after = np.zeros(ts.size)
        before = np.zeros(ts.size)
        for period, profile in zip(self.periods_, self.profiles_, strict=True):
            after += profile[(bins + 1) % period]
            before += profile[(bins - 1) % period]
        offset = ts / self.step_ - bins - self.sample_pos_
        error: FloatArray = np.where(
            offset >= 0, offset * np.abs(after - here), -offset * np.abs(here - before)
        )
        return error

    def _stream_block(self, ts: FloatArray, vs: FloatArray) -> FloatArray:
        """Between refits, let the level follow the data through a robust EWMA of residuals.

        A refit re-estimates the trend only every so often; without this a slow drift
        between refits would read as an anomaly. Residuals are clipped at ``CLIP`` scales
        (one spike moves the level by a bounded amount); the half-life is a quarter season.
        """
        params = self._check_fitted()
        expected, scale = self._expect(ts)
        half = self._halfwidth(scale)
        halflife = self.seasons_[0] / 4
        offsets = np.zeros(ts.size)
        offset, last = 0.0, self.trained_until_
        for i, (t, x, e, s) in enumerate(
            zip(ts.tolist(), vs.tolist(), expected.tolist(), scale.tolist(), strict=True)
        ):
            offsets[i] = offset
            alpha = 1.0 - 0.5 ** (max(t - last, 0.0) / halflife)
            r = x - e - offset
            offset += alpha * min(max(r, -CLIP * s), CLIP * s)
            last = t
        return band_score(vs, expected + offsets, half, params["direction"])

    def _state(self) -> tuple[dict[str, Any], ArrayState]:
        scalars = {
            "step": self.step_,
            "periods": self.periods_,
            "seasons": self.seasons_,
            "level": self.level_,
            "slope": self.slope_,
            "end": self.end_,
            "horizon": self.horizon_,
            "scale": self.scale_,
            "sample_pos": self.sample_pos_,
        }
        arrays: ArrayState = {f"profile{i}": p.astype(np.float32) for i, p in enumerate(self.profiles_)}
        arrays["phase_scale"] = self.phase_scale_.astype(np.float32)
        return scalars, arrays

    def _load_state(self, scalars: Mapping[str, Any], arrays: ArrayState) -> None:
        self.step_ = float(scalars["step"])
        self.periods_ = _shared(tuple(int(p) for p in scalars["periods"]))
        self.seasons_ = _shared(tuple(float(s) for s in scalars["seasons"]))
        self.level_, self.slope_ = float(scalars["level"]), float(scalars["slope"])
        self.end_, self.horizon_ = float(scalars["end"]), float(scalars["horizon"])
        self.scale_ = float(scalars["scale"])
        self.sample_pos_ = float(scalars.get("sample_pos", 0.0))
        # Kept as stored (float32): a restored baseline holds half the bytes, and adding a
        # float32 profile to the float64 level gives exactly what converting it first would.
        self.profiles_ = [arrays[f"profile{i}"].astype(np.float32) for i in range(len(self.periods_))]
        if any(p.size != n for p, n in zip(self.profiles_, self.periods_, strict=True)):
            raise ValueError("seasonal profile length does not match its period")
        self.phase_scale_ = arrays["phase_scale"].astype(np.float32)


@register
class MstlDetector(StlDetector):
    """Several seasons at once (default daily and weekly), peeled off shortest first."""

    name = "mstl"
    default_seasonality = (86400.0, 7 * 86400.0)
