"""Event-wise scoring of causal anomaly scores, and the two reference detectors.

Used by ``benchmarks/detection.py``. Point-wise metrics reward long labelled spans and punish
nothing a pager cares about; here an anomaly event is a run of labelled points, an alarm is a
run of points whose score exceeds the threshold, and:

- an event is *detected* when an alarm point falls inside it or at most ``tolerance`` before it;
- alarm runs less than ``tolerance`` apart are one alarm (an alert keeps firing through a
  short dip, as ``keep_firing_for`` does);
- an alarm is *true* when it touches an event (with the same tolerance), otherwise it is a
  *false alert*;
- precision = true alarms / alarms, recall = detected events / events, F1 their harmonic mean;
- delay = first alarm point minus event start (0 when the alarm came early).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from alerter.detect.base import band_score

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def runs(mask: BoolArray) -> list[tuple[int, int]]:
    """(first, last) index pairs of the runs of True."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    diff = np.diff(padded)
    starts = np.flatnonzero(diff == 1)
    ends = np.flatnonzero(diff == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def merge(spans: list[tuple[int, int]], ts: FloatArray, gap: float) -> list[tuple[int, int]]:
    """Join alarm runs less than ``gap`` apart: a pager keeps firing through a short dip."""
    out: list[tuple[int, int]] = []
    for first, last in spans:
        if out and ts[first] - ts[out[-1][1]] <= gap:
            out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


@dataclass
class Tally:
    """Counts pooled over series; the ratios are micro-averages."""

    events: int = 0
    detected: int = 0
    alarms: int = 0
    true_alarms: int = 0
    false_alarms: int = 0
    weeks: float = 0.0
    delays: list[float] = field(default_factory=list)
    fit_seconds: list[float] = field(default_factory=list)
    stream_seconds: float = 0.0
    points: int = 0

    @property
    def precision(self) -> float:
        return self.true_alarms / self.alarms if self.alarms else 0.0

    @property
    def recall(self) -> float:
        return self.detected / self.events if self.events else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_series(
    tally: Tally, ts: FloatArray, labels: BoolArray, scores: FloatArray, threshold: float, tolerance: float
) -> None:
    """Add one series' events, alarms and delays to ``tally`` (``ts`` sorted, seconds)."""
    alarm = scores > threshold
    events = runs(labels)
    alarm_runs = merge(runs(alarm), ts, tolerance)
    alarm_idx = np.flatnonzero(alarm)
    tally.events += len(events)
    tally.weeks += (ts[-1] - ts[0]) / (7 * 86400) if ts.size > 1 else 0.0
    for first, last in events:
        lo = int(np.searchsorted(ts, ts[first] - tolerance, side="left"))
        hits = alarm_idx[(alarm_idx >= lo) & (alarm_idx <= last)]
        if hits.size:
            tally.detected += 1
            tally.delays.append(max(0.0, float(ts[hits[0]] - ts[first])))
    for first, last in alarm_runs:
        tally.alarms += 1
        hi = int(np.searchsorted(ts, ts[last] + tolerance, side="right"))
        if labels[first:hi].any():
            tally.true_alarms += 1
        else:
            tally.false_alarms += 1


def rolling_zscore(
    ts: FloatArray, vs: FloatArray, window: float = 86400.0, sensitivity: float = 3.0
) -> FloatArray:
    """Reference: z-score against the mean and std of the previous ``window`` (causal).

    Scored with the same mapping as the detectors (0.5 at ``sensitivity`` standard deviations)
    so that both are compared at the same threshold.
    """
    finite = np.isfinite(vs)
    clean = np.where(finite, vs, 0.0)
    csum = np.concatenate(([0.0], np.cumsum(clean)))
    csq = np.concatenate(([0.0], np.cumsum(clean * clean)))
    ccount = np.concatenate(([0], np.cumsum(finite)))
    idx = np.arange(ts.size)
    lo = np.searchsorted(ts, ts - window, side="left")
    n = ccount[idx] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (csum[idx] - csum[lo]) / n
        var = (csq[idx] - csq[lo]) / n - mean * mean
        std = np.sqrt(np.maximum(var, 0.0))
    std = np.maximum(std, 1e-9)
    scores = band_score(vs, mean, sensitivity * std, "both")
    scores[n < 12] = 0.0
    return scores


def static_percentile(ts: FloatArray, vs: FloatArray, tail: float = 0.5, blocks: int = 48) -> FloatArray:
    """Reference: alarm beyond the (100-tail)th / tail-th percentile of all earlier points.

    Thresholds are recomputed at ``blocks`` evenly spaced moments, causally.
    """
    scores = np.zeros(ts.size)
    edges = np.linspace(0, ts.size, blocks + 1).astype(int)
    for lo, hi in itertools.pairwise(edges):
        if lo < 12:
            continue
        low, high = np.nanpercentile(vs[:lo], [tail, 100 - tail])
        block = vs[lo:hi]
        scores[lo:hi] = ((block > high) | (block < low)).astype(float)
    return scores
