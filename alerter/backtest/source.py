"""A ``Source`` that answers range queries from whole-range results fetched once, for backtests.

``alerter backtest`` walks a clock through days of history and the engine asks, at every tick,
for the last few minutes of each rule's expression (and, at every refit, for its training
history). Sent to Prometheus one by one that is tens of thousands of queries per rule; here the
first query of an expression at a step fetches everything up to the end of the backtest in one
(chunked) range query, and later queries are slices of that result.

Slicing is exact: a range query's value at time ``t`` depends only on ``t`` (``rate(x[5m])`` at
``t`` is computed by Prometheus from the raw samples before ``t``), so the points of a short query
are the points of a long query on the same step grid. Series without a point in the slice are
left out, as Prometheus leaves them out. Instant queries go to the wrapped source unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from alerter.core.model import Series
from alerter.source import Source

_EPS = 1e-6


@dataclass
class _Fetched:
    start: float
    end: float
    series: list[Series]


@dataclass
class PrefetchSource:
    """Serve ``query_range`` from cached whole-range results of ``source`` up to ``until``.

    ``fetches`` counts queries actually sent to ``source`` and ``served`` those answered from
    memory, for the backtest's timing table. ``enabled`` False passes every query through (so
    the benchmark can measure what prefetching saves).
    """

    source: Source
    until: float
    enabled: bool = True
    fetches: int = 0
    served: int = 0
    _cache: dict[tuple[str, float], _Fetched] = field(default_factory=dict, repr=False)

    def query(self, expr: str, at: float) -> list[Series]:
        self.fetches += 1
        return self.source.query(expr, at)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        if not self.enabled:
            self.fetches += 1
            return self.source.query_range(expr, start, end, step)
        first = math.floor(start / step) * step if step > 0 and math.isfinite(step) else start
        cached = self._cache.get((expr, step))
        if cached is None or first < cached.start - _EPS or end > cached.end + _EPS:
            cached = self._fetch(expr, first, end, step, cached)
        else:
            self.served += 1
        return _slice(cached.series, first, end)

    def _fetch(self, expr: str, start: float, end: float, step: float, old: _Fetched | None) -> _Fetched:
        """One query covering the request, what was cached before, and the rest of the backtest."""
        lo = start if old is None else min(start, old.start)
        hi = max(end, self.until, old.end if old is not None else end)
        self.fetches += 1
        fetched = _Fetched(lo, hi, self.source.query_range(expr, lo, hi, step))
        self._cache[(expr, step)] = fetched
        return fetched


def _slice(series: list[Series], start: float, end: float) -> list[Series]:
    out = []
    for s in series:
        lo = int(np.searchsorted(s.timestamps, start - _EPS, side="left"))
        hi = int(np.searchsorted(s.timestamps, end + _EPS, side="right"))
        if hi > lo:
            out.append(Series(s.labels, s.timestamps[lo:hi], s.values[lo:hi]))
    return out


__all__ = ["PrefetchSource"]
