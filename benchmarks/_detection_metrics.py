"""Judging pages: labelled events, the pages one rule sent on one series, and their tally.

Used by ``benchmarks/detection.py``. What a user feels is an alert opening, so everything here
counts *pages* (an episode that fired; its time is ``fired_at``), never points:

- an *event* is a run of labelled points (points less than ``gap`` apart belong to one run),
  or an incident of the simulator's ground truth, as a (start, end) span;
- an event's *catch window* is [start, end + tolerance]: a page needs its trigger window to
  fill, so one fired shortly after the labels end still answers the event;
- an event is *caught* when a page fires inside its catch window; its *delay* is the first
  such page's ``fired_at`` minus the event's start;
- a page inside some catch window is *true*, one outside every catch window is *false* (a page
  on normal data); pages inside an *ignored* span (the simulator's other incidents on the same
  model, which move the series without being labelled for it) are neither and are dropped;
- precision = true pages / (true + false pages), recall = caught events / events, F1 their
  harmonic mean; false pages are also given per series-week of replayed data;
- the event-window score (``_event_score``) is computed from the same pages and events.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import _event_score
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Span = tuple[float, float]

WEEK = 7 * 86400.0
MIN_TOLERANCE = 900.0
"""A catch window extends at least 15 minutes past its event's end."""


def tolerance(interval: float) -> float:
    """How long after an event's end a page still catches it: 15 min or 3 evaluations."""
    return max(MIN_TOLERANCE, 3.0 * interval)


def runs(mask: BoolArray) -> list[tuple[int, int]]:
    """(first, last) index pairs of the runs of True."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    diff = np.diff(padded)
    starts = np.flatnonzero(diff == 1)
    ends = np.flatnonzero(diff == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def label_events(ts: FloatArray, labels: BoolArray, gap: float) -> list[Span]:
    """Events of a labelled series: runs of labelled points, joined when less than ``gap`` apart."""
    out: list[Span] = []
    for first, last in runs(labels):
        start, end = float(ts[first]), float(ts[last])
        if out and start - out[-1][1] <= gap:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


@dataclass
class Outcome:
    """What one rule (or reference) did on one series, judged against its events."""

    name: str
    start: float
    end: float
    events: list[Span]
    pages: list[float]
    cpu: float
    caught: int = 0
    true_pages: int = 0
    false_pages: int = 0
    delays: list[float] = field(default_factory=list)
    score: _event_score.SeriesScore = field(default_factory=lambda: _event_score.SeriesScore(0.0, 0.0, 0.0))

    @property
    def weeks(self) -> float:
        return (self.end - self.start) / WEEK


def judge(
    name: str,
    start: float,
    end: float,
    events: Sequence[Span],
    pages: Sequence[float],
    interval: float,
    cpu: float,
    ignore: Sequence[Span] = (),
) -> Outcome:
    """Classify one series' pages and events (see the module)."""
    tol = tolerance(interval)
    catch = sorted((lo, hi + tol) for lo, hi in events)
    kept = sorted(t for t in pages if not any(lo <= t <= hi for lo, hi in ignore))
    out = Outcome(name, start, end, sorted(events), kept, cpu)
    for lo, hi in catch:
        i = bisect.bisect_left(kept, lo)
        if i < len(kept) and kept[i] <= hi:
            out.caught += 1
            out.delays.append(kept[i] - lo)
    for t in kept:
        if any(lo <= t <= hi for lo, hi in catch):
            out.true_pages += 1
        else:
            out.false_pages += 1
    out.score = _event_score.score(kept, _event_score.windows(out.events, start, end))
    return out


@dataclass
class Tally:
    """Outcomes of one row (rule or reference) pooled over the series of a data set."""

    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    @property
    def weeks(self) -> float:
        return sum(o.weeks for o in self.outcomes)

    @property
    def events(self) -> int:
        return sum(len(o.events) for o in self.outcomes)

    @property
    def caught(self) -> int:
        return sum(o.caught for o in self.outcomes)

    @property
    def pages(self) -> int:
        return sum(len(o.pages) for o in self.outcomes)

    @property
    def false_pages(self) -> int:
        return sum(o.false_pages for o in self.outcomes)

    @property
    def true_pages(self) -> int:
        return sum(o.true_pages for o in self.outcomes)

    @property
    def cpu(self) -> float:
        return sum(o.cpu for o in self.outcomes)

    @property
    def false_per_week(self) -> float:
        weeks = self.weeks
        return self.false_pages / weeks if weeks else math.nan

    @property
    def precision(self) -> float:
        judged = self.true_pages + self.false_pages
        return self.true_pages / judged if judged else 0.0

    @property
    def recall(self) -> float:
        return self.caught / self.events if self.events else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    @property
    def median_delay(self) -> float:
        delays = [d for o in self.outcomes for d in o.delays]
        return statistics.median(delays) if delays else math.nan

    @property
    def event_score(self) -> float:
        return _event_score.normalised(o.score for o in self.outcomes)

    def summary(self) -> dict[str, float | int]:
        """Every number of the row, for the JSON report."""
        return {
            "series": len(self.outcomes),
            "series_weeks": self.weeks,
            "pages": self.pages,
            "false_pages": self.false_pages,
            "false_pages_per_series_week": self.false_per_week,
            "events": self.events,
            "caught": self.caught,
            "median_delay_s": self.median_delay,
            "event_window_score": self.event_score,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "cpu_s": self.cpu,
        }


__all__ = ["Outcome", "Tally", "judge", "label_events", "runs", "tolerance"]
