"""CachedSource: one range query per cacheable expression, cut per step as the query would answer."""

from __future__ import annotations

import numpy as np

from alerter.core.model import Labels, Series
from alerter.ruletest.cached import CachedSource


class _Recorder:
    """A source answering ``x`` on the 60 s grid with value = timestamp, recording every query."""

    def __init__(self) -> None:
        self.ranges: list[tuple[str, float, float, float]] = []

    def query(self, expr: str, at: float) -> list[Series]:
        raise AssertionError("not used")

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        self.ranges.append((expr, start, end, step))
        first = np.floor(start / step) * step
        ts = np.arange(first, end + 1e-9, step)
        return [Series(Labels(__name__=expr), ts, ts.copy())]


def test_cacheable_expression_is_asked_once_and_cut_per_step() -> None:
    inner = _Recorder()
    cached = CachedSource(inner, lambda expr: expr == "x", end=600.0)
    answers = [cached.query_range("x", t, t, 60.0) for t in (0.0, 60.0, 120.0, 600.0)]
    assert inner.ranges == [("x", 0.0, 600.0, 60.0)]
    assert [a[0].timestamps.tolist() for a in answers] == [[0.0], [60.0], [120.0], [600.0]]
    # Off the grid, the window starts at the grid point before it, as the source aligns it.
    assert cached.query_range("x", 90.0, 90.0, 60.0)[0].timestamps.tolist() == [60.0]
    assert cached.range_queries == 1


def test_other_expressions_and_later_times_go_to_the_source() -> None:
    inner = _Recorder()
    cached = CachedSource(inner, lambda expr: expr == "x", end=600.0)
    cached.query_range("ALERTS", 60.0, 60.0, 60.0)
    cached.query_range("x", 660.0, 660.0, 60.0)
    assert inner.ranges == [("ALERTS", 60.0, 60.0, 60.0), ("x", 660.0, 660.0, 60.0)]
