"""Two reference pagers in plain numpy, paging with the same semantics as a default rule.

Used by ``benchmarks/detection.py`` as the yardsticks the detectors are compared with. Each
reference first flags points (causally: a point is judged on earlier points only), then pages
exactly as a default baseline rule (``baseline: {}``) does (:func:`pages`):

1. every ``interval`` seconds from the first sample to the last (a tick), the points of the
   trigger window are those of a Prometheus range query at step ``interval`` (each grid point
   takes the latest sample at most ``lookback`` old), as the engine's query returns them;
2. the tick is *triggered* when at least the trigger fraction of those points is flagged, and
   has no data when the window holds none;
3. triggered ticks make the alert pending, and it fires (pages) once it has been pending for
   ``for`` seconds; it resolves at the first tick that is not triggered, after
   ``keep_firing_for``, unless it is flapping (``flap_max_transitions`` fire/resolve changes
   within ``flap_window``), in which case it is held firing, as the engine holds it. A tick
   without data keeps a firing alert firing and drops a pending one.

The references:

- :func:`rolling_zscore_flags`: ``|x - mean| > 4 std`` of the previous day's samples;
- :func:`seasonal_naive_flags`: the deviation from the value one day earlier, robust-z-scored
  against the previous day of such deviations (median and 1.4826 MAD, refreshed hourly),
  ``> 4``.

Both judge once the previous day holds a dozen samples (the detectors' ladder starts at a
dozen too), and floor their scale at 1e-6 of the level as the detectors do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alerter.config.rules import Rule
from alerter.core.alerts import Lifecycle

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DAY = 86400.0
THRESHOLD = 4.0
MIN_POINTS = 12
LOOKBACK = 300.0
"""Prometheus' lookback delta (the replay uses the larger of this and the sample spacing)."""
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Semantics:
    """How a rule pages: trigger window and fraction, ``for``, ``keep_firing_for``, flap damping."""

    window: float
    fraction: float
    for_: float
    keep_firing_for: float
    flap_window: float
    flap_max_transitions: int

    @classmethod
    def of(cls, rule: Mapping[str, object]) -> Semantics:
        """How the rule written as ``rule`` (under ``rules:``, ``alert``/``expr`` optional) pages,
        read from the rule model so that the two cannot drift apart."""
        model = Rule.model_validate({"alert": "Reference", "expr": "reference", **rule})
        life = Lifecycle()
        return cls(
            window=float(model.trigger.window),
            fraction=float(model.trigger.fraction),
            for_=float(model.for_),
            keep_firing_for=float(model.keeps_firing_for),
            flap_window=life.flap_window,
            flap_max_transitions=life.flap_max_transitions,
        )

    @classmethod
    def defaults(cls) -> Semantics:
        """A default baseline rule's (``baseline: {}``): the references page as the default rule
        pages, so that a table compares detection and not the alert state machine."""
        return cls.of({"baseline": {}})


@dataclass(frozen=True)
class Page:
    """One episode of a reference pager (``fired_at`` is never None: pending-only ones are dropped)."""

    active_at: float
    fired_at: float
    resolved_at: float | None


def _floor(level: FloatArray, scale: FloatArray) -> FloatArray:
    out: FloatArray = np.maximum(np.maximum(scale, 1e-6 * np.abs(level)), 1e-12)
    return out


def rolling_zscore_flags(
    ts: FloatArray, vs: FloatArray, window: float = DAY, threshold: float = THRESHOLD
) -> BoolArray:
    """``|z| > threshold`` against the mean and std of the samples in [t - window, t)."""
    offset = float(np.median(vs)) if vs.size else 0.0
    x = vs - offset
    csum = np.concatenate(([0.0], np.cumsum(x)))
    csq = np.concatenate(([0.0], np.cumsum(x * x)))
    idx = np.arange(ts.size)
    lo = np.searchsorted(ts, ts - window, side="left")
    n = idx - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (csum[idx] - csum[lo]) / n
        var = (csq[idx] - csq[lo]) / n - mean * mean
    std = _floor(mean + offset, np.sqrt(np.maximum(var, 0.0)))
    flags: BoolArray = (n >= MIN_POINTS) & (np.abs(x - mean) > threshold * std)
    return flags


def seasonal_naive_flags(
    ts: FloatArray,
    vs: FloatArray,
    season: float = DAY,
    window: float = DAY,
    refresh: float = 3600.0,
    threshold: float = THRESHOLD,
) -> BoolArray:
    """Robust z of ``x(t) - x(t - season)`` against the deviations of [t - window, t), ``> threshold``.

    The value one season earlier is the latest sample at or before ``t - season`` at most one
    sample spacing (or ``LOOKBACK``) older; the median and MAD are recomputed every ``refresh``
    seconds from the deviations before that moment (MAD 0 falls back to 1.2533 x the mean
    absolute deviation, as for sparse counts).
    """
    flags = np.zeros(ts.size, dtype=bool)
    if ts.size < 2:
        return flags
    spacing = float(np.median(np.diff(ts)))
    back = np.searchsorted(ts, ts - season, side="right") - 1
    ok = back >= 0
    ok[ok] &= (ts[ok] - season) - ts[back[ok]] <= max(spacing, LOOKBACK) + TOLERANCE
    dev = np.full(ts.size, np.nan)
    dev[ok] = vs[ok] - vs[back[ok]]
    blocks = np.floor((ts - ts[0]) / refresh).astype(np.int64)
    for block in np.unique(blocks):
        moment = ts[0] + block * refresh
        lo, hi = np.searchsorted(ts, [moment - window, moment], side="left")
        past = dev[lo:hi]
        past = past[np.isfinite(past)]
        if past.size < MIN_POINTS:
            continue
        centre = float(np.median(past))
        spread = np.abs(past - centre)
        scale = 1.4826 * float(np.median(spread))
        if scale <= 0:
            scale = 1.2533 * float(np.mean(spread))
        level = float(np.mean(np.abs(vs[lo:hi])))
        scale = max(scale, 1e-6 * level, 1e-12)
        here = blocks == block
        flags[here] = np.abs(dev[here] - centre) > threshold * scale
    flags &= np.isfinite(dev)
    return flags


def pages(
    ts: FloatArray,
    flags: BoolArray,
    interval: float,
    rule: Semantics,
    lookback: float | None = None,
) -> list[Page]:
    """The episodes that fired, paging on point ``flags`` with ``rule``'s semantics (see the module)."""
    if ts.size < 2 or not interval > 0:
        return []
    start, end = float(ts[0]), float(ts[-1])
    spacing = float(np.median(np.diff(ts)))
    lookback = max(LOOKBACK, spacing) if lookback is None else lookback
    first = math.floor((start - rule.window) / interval)
    last = math.floor(end / interval + TOLERANCE)
    grid = np.arange(first, last + 1, dtype=np.float64) * interval
    idx = np.searchsorted(ts, grid, side="right") - 1
    valid = idx >= 0
    valid[valid] &= grid[valid] - ts[idx[valid]] <= lookback + TOLERANCE
    flagged = valid & flags[np.maximum(idx, 0)]
    have = np.concatenate(([0], np.cumsum(valid)))
    hits = np.concatenate(([0], np.cumsum(flagged)))
    count = math.floor((end - start) / interval + TOLERANCE) + 1
    ticks = start + interval * np.arange(count)
    lo = np.searchsorted(grid, ticks - rule.window, side="right")
    hi = np.searchsorted(grid, ticks + TOLERANCE, side="right")
    n = have[hi] - have[lo]
    k = hits[hi] - hits[lo]
    out: list[Page] = []
    state = "inactive"
    active_at = fired_at = 0.0
    keep_since: float | None = None
    transitions: list[float] = []
    for t, points, out_of_band in zip(ticks.tolist(), n.tolist(), k.tolist(), strict=True):
        transitions = [x for x in transitions if x > t - rule.flap_window]
        if points == 0:  # no data: a firing alert stays firing, a pending one is dropped
            if state == "pending":
                state = "inactive"
            continue
        if out_of_band / points + TOLERANCE >= rule.fraction:
            if state == "firing":
                keep_since = None
                continue
            if state != "pending":
                state, active_at = "pending", t
            if t - active_at + TOLERANCE >= rule.for_:
                state, fired_at, keep_since = "firing", t, None
                transitions.append(t)
            continue
        if state == "firing":
            keep_since = t if keep_since is None else keep_since
            if t - keep_since < rule.keep_firing_for:
                continue
            if len(transitions) >= rule.flap_max_transitions > 0:
                continue  # flapping: held firing
            out.append(Page(active_at, fired_at, t))
            transitions.append(t)
            keep_since = None
        state = "inactive"
    if state == "firing":
        out.append(Page(active_at, fired_at, None))
    return out


__all__ = ["Page", "Semantics", "pages", "rolling_zscore_flags", "seasonal_naive_flags"]
