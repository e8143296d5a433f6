"""Training hygiene: turn raw samples into something a baseline can be fitted on.

Called by every detector's ``fit`` and ``score_stream`` (and by the baseline cache, which uses
:func:`as_seconds` and :func:`clean` directly). Real Prometheus data arrives with gaps,
duplicate and out-of-order timestamps, NaN for "no traffic", negative spikes where a counter
reset confused a ``delta``/``irate`` expression, and periods nobody wants learned as normal
(maintenance windows, the rule's own past incidents). Each of those is handled here once, so
the detectors only ever see sorted, unique, finite samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from alerter.core.errors import DetectorError
from alerter.core.model import FloatArray

Interval = tuple[float, float]

#: Share of samples that must be non-negative before negative ones are treated as
#: counter-reset artefacts rather than as data (gauges such as deltas may legitimately dip).
NONNEGATIVE_SHARE = 0.99
#: Tail quantiles used by :func:`robust_scale`: the furthest one with ``TAIL_POINTS``
#: residuals beyond it, kept within [TAIL_LOW, TAIL_HIGH].
TAIL_POINTS, TAIL_LOW, TAIL_HIGH = 10, 0.99, 0.999
#: Upper bound of the tail factor: heavy tails may widen a band up to this many times its
#: MAD width, but an incident left in the training data cannot widen it without limit.
TAIL_MAX_FACTOR = 6.0


def tail_quantile(n: int) -> float:
    """The furthest quantile of ``n`` residuals that still has a few residuals beyond it."""
    return min(max(1 - TAIL_POINTS / n, TAIL_LOW), TAIL_HIGH)


def as_seconds(timestamps: npt.ArrayLike) -> FloatArray:
    """Unix seconds as float64 from float/int seconds or any ``datetime64`` unit.

    Detectors accept both because backtests read CSV files (datetime64) and the engine hands
    over Prometheus samples (float seconds); everything downstream works in seconds.
    """
    arr = np.asarray(timestamps)
    if arr.ndim != 1:
        raise DetectorError(f"timestamps must be 1-D, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.datetime64):
        out = arr.astype("datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
        out[np.isnat(arr)] = np.nan
        return out
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise DetectorError(f"timestamps must be unix seconds or datetime64, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def as_values(values: npt.ArrayLike, n: int) -> FloatArray:
    """Values as float64, checked against the number of timestamps."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DetectorError(f"values must be 1-D with one value per timestamp ({n}), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DetectorError(f"values must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def parse_intervals(exclude: Iterable[Sequence[float]] | None) -> list[Interval]:
    """Validated ``(start, end)`` pairs in seconds; raise on reversed or malformed pairs."""
    out: list[Interval] = []
    for i, pair in enumerate(exclude or ()):
        if len(pair) != 2:
            raise DetectorError(f"exclude[{i}] must be a (start, end) pair, got {pair!r}")
        start, end = (float(as_seconds(np.asarray([p]))[0]) for p in pair)
        if not end >= start:
            raise DetectorError(f"exclude[{i}] ends before it starts: ({start}, {end})")
        out.append((start, end))
    return out


def excluded_mask(ts: FloatArray, intervals: Sequence[Interval]) -> npt.NDArray[np.bool_]:
    """True for samples inside any ``[start, end)`` interval."""
    mask = np.zeros(ts.shape, dtype=bool)
    for start, end in intervals:
        mask |= (ts >= start) & (ts < end)
    return mask


def drop_reset_artefacts(values: FloatArray) -> FloatArray:
    """NaN out negative samples of an otherwise non-negative series.

    A counter reset turns ``delta()``/``irate()``-style expressions briefly negative; learning
    those spikes would widen every band. Series that are genuinely signed are left alone.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return values
    negative = values < 0
    if 0 < negative.sum() <= (1 - NONNEGATIVE_SHARE) * finite.size:
        values = values.copy()
        values[negative] = np.nan
    return values


def clean(
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    exclude: Iterable[Sequence[float]] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Sorted, unique, finite samples outside the excluded intervals.

    Duplicate timestamps are averaged (two scrapes of one instant are one observation).
    """
    ts = as_seconds(timestamps)
    vs = as_values(values, ts.shape[0])
    vs = drop_reset_artefacts(vs)
    keep = np.isfinite(ts) & np.isfinite(vs)
    intervals = parse_intervals(exclude)
    if intervals:
        keep &= ~excluded_mask(ts, intervals)
    ts, vs = ts[keep], vs[keep]
    if ts.size == 0:
        return ts, vs
    order = np.argsort(ts, kind="stable")
    ts, vs = ts[order], vs[order]
    unique, inverse, counts = np.unique(ts, return_inverse=True, return_counts=True)
    if unique.size != ts.size:
        vs = np.bincount(inverse, weights=vs) / counts
        ts = unique
    return ts, vs


def native_step(ts: FloatArray) -> float:
    """Median spacing of sorted timestamps (0 when fewer than two)."""
    if ts.size < 2:
        return 0.0
    return float(np.median(np.diff(ts)))


def bin_index(ts: FloatArray, step: float) -> npt.NDArray[np.int64]:
    """Index of the ``step``-wide, epoch-aligned bin of each timestamp.

    The small epsilon keeps a timestamp that is an exact multiple of ``step`` in its own bin
    despite floating-point division (``t / step`` can land a hair below the integer).
    """
    return np.floor(ts / step + 1e-7).astype(np.int64)


def resample(ts: FloatArray, vs: FloatArray, step: float) -> tuple[FloatArray, FloatArray]:
    """Mean per ``step``-wide bin on a grid aligned to the epoch; empty bins are NaN.

    Grid alignment to the epoch (not to the first sample) keeps the phase of a seasonal
    profile identical between fits, which is what makes a stored profile reusable.
    """
    if ts.size == 0:
        return ts, vs
    bins = bin_index(ts, step)
    first = int(bins[0])
    idx = bins - first
    size = int(idx[-1]) + 1
    sums = np.bincount(idx, weights=vs, minlength=size)
    counts = np.bincount(idx, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    grid = (first + np.arange(size)) * step
    return grid.astype(np.float64), out.astype(np.float64)


def fill_gaps(vs: FloatArray) -> FloatArray:
    """Linear interpolation over NaN (constant at the edges), as STL needs a complete grid."""
    missing = np.isnan(vs)
    if not missing.any() or missing.all():
        return vs
    idx = np.arange(vs.size)
    out = vs.copy()
    out[missing] = np.interp(idx[missing], idx[~missing], vs[~missing])
    return out


def mad_scale(residuals: FloatArray) -> float:
    """1.4826·MAD, falling back to 1.2533·mean absolute deviation when MAD is 0.

    The fallback matters for sparse count series (mostly zeros) where MAD is 0 although the
    series clearly varies; a zero scale would make every non-zero sample "infinitely" odd.
    """
    r = residuals[np.isfinite(residuals)]
    if r.size == 0:
        return 0.0
    dev = np.abs(r - np.median(r))
    mad = 1.4826 * float(np.median(dev))
    return mad if mad > 0 else 1.2533 * float(np.mean(dev))


def tail_factor(standardised: FloatArray) -> float:
    """How much wider than Gaussian the tail of MAD-standardised residuals is (>= 1).

    A far tail quantile of ``|z|`` divided by its Gaussian value (e.g. the 99.9th
    percentile / 3.29 with 10k residuals, see :func:`tail_quantile`), capped at
    ``TAIL_MAX_FACTOR`` so that a long incident left in the training data cannot blow the
    band up without limit. Below 20 residuals the tail is not estimable and the factor is 1.
    """
    z = np.abs(standardised[np.isfinite(standardised)])
    if z.size < 20:
        return 1.0
    q = tail_quantile(z.size)
    factor = float(np.quantile(z, q)) / NormalDist().inv_cdf((1 + q) / 2)
    return min(max(factor, 1.0), TAIL_MAX_FACTOR)


def robust_scale(residuals: FloatArray) -> float:
    """Robust standard deviation that still respects heavy tails: MAD scale x tail factor.

    Production metrics are heavy-tailed; MAD alone draws a band that the ordinary bumps
    cross every day, which is exactly the noise that gets alerting switched off, while a
    plain standard deviation lets one incident widen the band for weeks. MAD is insensitive
    to the odd outlier; the tail factor widens it as much as the residuals' own tail demands.
    """
    mad = mad_scale(residuals)
    if mad <= 0:
        return mad
    r = residuals[np.isfinite(residuals)]
    return mad * tail_factor((r - np.median(r)) / mad)


def scale_floor(level: float, scale: float) -> float:
    """Never let a band collapse to zero width: at least 1e-6 of the level, and positive."""
    return max(scale, 1e-6 * abs(level), 1e-12)


def shift_to_adopt(
    ts: FloatArray, residuals: FloatArray, scale: float, threshold: float, adopt_after: float
) -> float:
    """Level change to adopt when the last ``adopt_after`` seconds sit consistently off-band.

    A deploy that legitimately moves latency should alert for a while and then become the
    new normal. Adopted when at least 80% of the recent residuals lie beyond ``threshold``
    scales on the same side; returns the median recent residual (0 when nothing to adopt).
    """
    if adopt_after <= 0 or ts.size == 0 or scale <= 0:
        return 0.0
    start = ts[-1] - adopt_after
    if ts[0] > start:
        return 0.0
    recent = residuals[ts >= start]
    recent = recent[np.isfinite(recent)]
    if recent.size < 3:
        return 0.0
    z = recent / scale
    for side in (1.0, -1.0):
        if np.mean(side * z > threshold) >= 0.8:
            return float(np.median(recent))
    return 0.0
