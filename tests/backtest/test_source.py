"""PrefetchSource against a real Prometheus: slices of one long query equal the short queries."""

from __future__ import annotations

import numpy as np
import pytest
from harness import SimHistory

from alerter.backtest.source import PrefetchSource
from alerter.core.model import Series
from alerter.source.prometheus import PrometheusSource

EXPRS = [
    "histogram_quantile(0.99, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket[5m])))",
    "sum by (model_name) (vllm:num_requests_waiting)",
]


def _same(got: list[Series], want: list[Series]) -> None:
    assert [s.labels for s in got] == [s.labels for s in want]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.timestamps, w.timestamps)
        np.testing.assert_array_equal(g.values, w.values)  # NaN equals NaN here


@pytest.mark.parametrize("expr", EXPRS)
def test_slices_equal_direct_queries_and_fetch_once(
    prometheus_source: PrometheusSource, sim_history: SimHistory, expr: str
) -> None:
    start = sim_history.start + 2 * 86400.0
    until = start + 6 * 3600.0
    cached = PrefetchSource(prometheus_source, until=until)
    cached.query_range(expr, start, start + 300.0, 60.0)  # the backtest's first tick
    rng = np.random.default_rng(3)
    for _ in range(12):
        # unaligned starts and ends: the slice must start at the step multiple at or before start
        lo = start + float(rng.uniform(0, 5 * 3600))
        hi = lo + float(rng.uniform(60, 3600))
        hi = min(hi, until)
        _same(cached.query_range(expr, lo, hi, 60.0), prometheus_source.query_range(expr, lo, hi, 60.0))
    assert cached.fetches == 1 and cached.served == 12


def test_earlier_start_or_other_step_fetches_again(
    prometheus_source: PrometheusSource, sim_history: SimHistory
) -> None:
    start = sim_history.start + 2 * 86400.0
    cached = PrefetchSource(prometheus_source, until=start + 3600.0)
    expr = EXPRS[1]
    cached.query_range(expr, start, start + 600.0, 60.0)
    earlier = cached.query_range(expr, start - 7200.0, start + 900.0, 60.0)
    _same(earlier, prometheus_source.query_range(expr, start - 7200.0, start + 900.0, 60.0))
    coarse = cached.query_range(expr, start - 86400.0, start, 300.0)
    _same(coarse, prometheus_source.query_range(expr, start - 86400.0, start, 300.0))
    assert cached.fetches == 3
    # beyond the cached end (a chart after the range): fetched, and still exact
    later = cached.query_range(expr, start, start + 7200.0, 60.0)
    _same(later, prometheus_source.query_range(expr, start, start + 7200.0, 60.0))
    assert cached.fetches == 4


def test_series_without_points_in_the_slice_are_left_out(
    prometheus_source: PrometheusSource, sim_history: SimHistory
) -> None:
    # a window before the history starts: Prometheus returns nothing, and so does the slice
    cached = PrefetchSource(prometheus_source, until=sim_history.start + 3600.0)
    before = sim_history.start - 7200.0
    assert cached.query_range(EXPRS[1], before, sim_history.start + 3600.0, 60.0)
    assert cached.query_range(EXPRS[1], before, before + 600.0, 60.0) == []
    assert prometheus_source.query_range(EXPRS[1], before, before + 600.0, 60.0) == []


def test_disabled_passes_every_query_through(
    prometheus_source: PrometheusSource, sim_history: SimHistory
) -> None:
    start = sim_history.start + 86400.0
    direct = PrefetchSource(prometheus_source, until=start + 3600.0, enabled=False)
    for k in range(3):
        direct.query_range(EXPRS[1], start + 60.0 * k, start + 60.0 * k + 300.0, 60.0)
    direct.query(EXPRS[1], start)
    assert direct.fetches == 4 and direct.served == 0
