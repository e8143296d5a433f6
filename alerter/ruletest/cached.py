"""A Source that answers a test's repeated queries of one expression from one range query.

Called by :mod:`alerter.ruletest.run`, which hands it to the engine instead of the plain
Prometheus source. A test walks a clock step by step and the engine queries every rule at every
step: one HTTP round trip per rule per step, most of a test's time. But when an expression
reads only input series (all of them written before the walk starts), its value at every step
is known in advance, so the first query of it asks Prometheus once for the whole walk, on the
same grid (multiples of ``step``) the source aligns every query to, and each later query is cut
from that answer. A Prometheus range query evaluates each of its steps as an instant query at
that time, so the cut is what the query itself would have returned.

Expressions that read what the walk writes (recording rules' series, ``ALERTS``) are not
``cacheable``: they go to Prometheus at every step, after those writes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from alerter.core.model import Series
from alerter.source import Source


class CachedSource:
    """``Source`` that serves ``cacheable`` expressions from one range query up to ``end``."""

    def __init__(self, source: Source, cacheable: Callable[[str], bool], end: float) -> None:
        self.source = source
        self.cacheable = cacheable
        self.end = end
        self._answers: dict[tuple[str, float], tuple[float, list[Series]]] = {}
        self.range_queries = 0
        """Range queries sent to Prometheus for cached expressions (for tests and benchmarks)."""

    def query(self, expr: str, at: float) -> list[Series]:
        return self.source.query(expr, at)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        if end > self.end or not self.cacheable(expr):
            return self.source.query_range(expr, start, end, step)
        first = math.floor(start / step) * step
        key = (expr, step)
        known = self._answers.get(key)
        if known is None or first < known[0]:
            known = (first, self.source.query_range(expr, first, self.end, step))
            self._answers[key] = known
            self.range_queries += 1
        out = []
        for series in known[1]:
            keep = (series.timestamps >= first - 1e-9) & (series.timestamps <= end + 1e-9)
            if keep.any():
                out.append(Series(series.labels, series.timestamps[keep], series.values[keep]))
        return out
