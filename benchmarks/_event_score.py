"""The event-window score of the Numenta Anomaly Benchmark, for pages rather than points.

Implemented from the published description (Lavin & Ahmad 2015, "Evaluating Real-time Anomaly
Detection Algorithms - the Numenta Anomaly Benchmark"); used by ``benchmarks/detection.py``.

- Each labelled event gets a *window* centred on it, of total length 10% of the series'
  length divided by the number of events in the series, never shorter than the event itself.
  Overlapping windows are merged; windows are clipped to the series' span.
- Detections are page times (an alert's ``fired_at``).
- The earliest detection inside a window scores ``A_TP * sigma(y)``, where ``y`` is its
  relative position in the window: -1 at the window's start, 0 at its end, and
  ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` (0.987 at the start, 0 at the end). Later detections
  in the same window count for nothing.
- A window without a detection costs ``A_FN``.
- A detection outside every window is a false positive scoring ``A_FP * sigma(y)``, with ``y``
  its distance after the end of the preceding window relative to that window's length
  (``y > 0``, so ``sigma(y) < 0``: right after a window it costs little, far away almost
  ``A_FP``); with no window before it, it costs ``A_FP``.
- A data set's score sums the raw scores of its series, then normalises:
  ``100 * (S - S_null) / (S_perfect - S_null)``, where ``S_null`` is the score of never
  detecting anything (``-A_FN`` per window) and ``S_perfect`` that of detecting every window
  at its start. 100 is perfect, 0 is as good as staying silent, below 0 worse than silent.

The standard profile is ``A_TP = 1``, ``A_FP = 0.11``, ``A_FN = 1``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WINDOW_SHARE = 0.1
"""Share of a series' length covered by its events' windows, all together."""

Span = tuple[float, float]


@dataclass(frozen=True)
class Profile:
    """Weights of true positives, false positives and false negatives."""

    tp: float = 1.0
    fp: float = 0.11
    fn: float = 1.0


STANDARD = Profile()


@dataclass(frozen=True)
class SeriesScore:
    """One series' raw score and the scores of a silent and a perfect detector on it."""

    raw: float
    null: float
    perfect: float

    def __add__(self, other: SeriesScore) -> SeriesScore:
        return SeriesScore(self.raw + other.raw, self.null + other.null, self.perfect + other.perfect)


def sigma(y: float) -> float:
    """The scaled sigmoid: 0.987 at y = -1 (window start), 0 at y = 0 (window end), -> -1 far after."""
    return 2.0 / (1.0 + math.exp(min(5.0 * y, 700.0))) - 1.0


def windows(events: Sequence[Span], start: float, end: float, share: float = WINDOW_SHARE) -> list[Span]:
    """The scoring windows of ``events`` ((first, last) times) in a series spanning [start, end].

    Each window is centred on its event and ``share * (end - start) / len(events)`` long, or
    as long as the event when that is longer; overlapping windows merge; all are clipped to
    [start, end].
    """
    if not events:
        return []
    length = share * (end - start) / len(events)
    spans = []
    for first, last in sorted(events):
        half = max(length, last - first) / 2.0
        middle = (first + last) / 2.0
        spans.append((max(start, middle - half), min(end, middle + half)))
    merged: list[Span] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def score(detections: Iterable[float], spans: Sequence[Span], profile: Profile = STANDARD) -> SeriesScore:
    """Score detection times against the (sorted, disjoint) windows ``spans`` of one series."""
    starts = [lo for lo, _ in spans]
    first_in: dict[int, float] = {}
    raw = 0.0
    for t in sorted(detections):
        index = bisect.bisect_right(starts, t) - 1
        if index >= 0 and t <= spans[index][1]:
            if index not in first_in:
                first_in[index] = t
            continue
        if index < 0:
            raw -= profile.fp
            continue
        lo, hi = spans[index]
        width = hi - lo
        y = (t - hi) / width if width > 0 else math.inf
        raw += profile.fp * sigma(y)
    for index, (lo, hi) in enumerate(spans):
        first = first_in.get(index)
        if first is None:
            raw -= profile.fn
        else:
            y = (first - hi) / (hi - lo) if hi > lo else 0.0
            raw += profile.tp * sigma(y)
    n = len(spans)
    return SeriesScore(raw, -profile.fn * n, profile.tp * sigma(-1.0) * n)


def normalised(scores: Iterable[SeriesScore]) -> float:
    """``100 * (S - S_null) / (S_perfect - S_null)`` over the summed scores (NaN without windows)."""
    total = SeriesScore(0.0, 0.0, 0.0)
    for s in scores:
        total = total + s
    span = total.perfect - total.null
    return 100.0 * (total.raw - total.null) / span if span > 0 else math.nan


__all__ = ["STANDARD", "WINDOW_SHARE", "Profile", "SeriesScore", "normalised", "score", "sigma", "windows"]
