"""Where metric data comes from: the ``Source`` protocol the evaluator queries.

The evaluator, baselines and backtests depend only on this protocol, so tests and backtests can
hand in any object with these two methods. The production implementation is
``alerter.source.prometheus.PrometheusSource`` (Prometheus, VictoriaMetrics, Thanos, Mimir);
it is not imported here so that importing the protocol never pulls in an HTTP client.
"""

from __future__ import annotations

from typing import Protocol

from alerter.core.model import Series

__all__ = ["ERROR_KINDS", "Source"]

ERROR_KINDS = frozenset(
    {"unreachable", "timeout", "bad_query", "too_many_samples", "server_error", "malformed", "auth"}
)
"""Every ``SourceError.kind`` a source may raise."""


class Source(Protocol):
    """A PromQL-speaking metrics store.

    Times are unix seconds. Failures raise ``alerter.core.errors.SourceError`` whose ``kind`` is one
    of ``ERROR_KINDS`` and whose ``retryable`` tells the caller whether the next tick may succeed.
    """

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        """Evaluate ``expr`` at every multiple of ``step`` from the one at or before ``start`` to ``end``.

        One Series per label set. Aligning to multiples of ``step`` makes repeated queries land on
        the same grid, so consecutive evaluations see identical values for overlapping points.
        """
        ...

    def query(self, expr: str, at: float) -> list[Series]:
        """Evaluate ``expr`` once at ``at``; each Series holds one point."""
        ...
