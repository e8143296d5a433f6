"""PrometheusSource against real Prometheus and VictoriaMetrics loaded with 14 simulated days."""

from __future__ import annotations

import math

import numpy as np
import pytest
import requests
from harness import DEFAULT_LABELS, ManagedProcess, SimHistory

from alerter.core.errors import SourceError
from alerter.core.model import Labels, Series
from alerter.source.parse import _fast_matrix, parse_response
from alerter.source.prometheus import PrometheusSource, merge_chunks, plan_chunks

BACKENDS = ["prometheus_source", "victoria_source"]


@pytest.fixture(params=BACKENDS)
def source(request: pytest.FixtureRequest) -> PrometheusSource:
    return request.getfixturevalue(request.param)


def _quiet_model(history: SimHistory) -> str:
    """A model that never goes silent, so its series have a point at every step."""
    silent = {f.model for f in history.fleet.faults if f.kind == "silent"}
    return next(name for name in history.model_names if name not in silent)


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("vllm:kv_cache_usage_perc", {}),
        ("vllm:generation_tokens_total", {}),
        ("vllm:time_to_first_token_seconds_bucket", {"le": "0.25"}),
        ("vllm:e2e_request_latency_seconds_sum", {}),
    ],
)
def test_fourteen_days_come_back_exactly(
    source: PrometheusSource, sim_history: SimHistory, name: str, extra: dict[str, str]
) -> None:
    model = _quiet_model(sim_history)
    labels = {"model_name": model, "engine": "0", **extra}
    selector = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    got = source.query_range(selector, sim_history.start, sim_history.end, sim_history.step)
    want_t, want_v = sim_history.expected(name, labels)
    assert len(got) == 1
    assert got[0].labels == Labels({"__name__": name, **labels, **DEFAULT_LABELS})
    assert len(want_t) > 20_000  # beyond the 11,000-point limit: the range was chunked
    np.testing.assert_array_equal(got[0].timestamps, want_t)
    np.testing.assert_array_equal(got[0].values, want_v)


def test_many_series_with_their_labels(source: PrometheusSource, sim_history: SimHistory) -> None:
    name = "vllm:time_to_first_token_seconds_bucket"
    end = sim_history.end
    got = source.query_range(name, end - 3600, end, 60)
    assert {s.labels for s in got} == set(sim_history.series_labels(name))
    assert len(got) == 2 * 23
    for series in got:
        labels = dict(series.labels)
        del labels["__name__"], labels["job"], labels["instance"]
        want_t, want_v = sim_history.expected(name, labels)
        keep = want_t >= end - 3600
        np.testing.assert_array_equal(series.values, want_v[keep])


def test_start_is_aligned_to_the_step_grid(source: PrometheusSource, sim_history: SimHistory) -> None:
    expr = f'sum(vllm:num_requests_running{{model_name="{_quiet_model(sim_history)}"}})'
    end = sim_history.end - 7200
    (a,) = source.query_range(expr, end - 3600 + 17.5, end, 300)
    (b,) = source.query_range(expr, end - 3600 + 299, end + 1, 300)
    assert np.all(a.timestamps % 300 == 0)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.timestamps[0] <= end - 3600 + 17.5 < a.timestamps[0] + 300


def test_instant_query_has_one_point_per_series(source: PrometheusSource, sim_history: SimHistory) -> None:
    at = sim_history.end - 600
    got = source.query("vllm:kv_cache_usage_perc", at)
    assert len(got) == len(sim_history.model_names)
    for series in got:
        model = series.labels["model_name"]
        want_t, want_v = sim_history.expected("vllm:kv_cache_usage_perc", {"model_name": model})
        assert series.timestamps.tolist() == [at]
        assert series.values[0] == want_v[want_t == at][0]


@pytest.mark.parametrize(("expr", "value"), [("1/0", math.inf), ("-1/0", -math.inf)])
def test_infinities_survive(
    source: PrometheusSource, sim_history: SimHistory, expr: str, value: float
) -> None:
    (scalar,) = source.query(expr, sim_history.end)
    (series,) = source.query_range(f"vector({expr})", sim_history.end - 300, sim_history.end, 60)
    assert scalar.values.tolist() == [value]
    assert series.values.tolist() == [value] * 6


def test_nan_survives_from_prometheus(prometheus_source: PrometheusSource, sim_history: SimHistory) -> None:
    (scalar,) = prometheus_source.query("0/0", sim_history.end)
    (series,) = prometheus_source.query_range("vector(0/0)", sim_history.end - 300, sim_history.end, 60)
    assert math.isnan(scalar.values[0])
    assert len(series) == 6 and np.isnan(series.values).all()


def test_victoria_drops_nan_points(victoria_source: PrometheusSource, sim_history: SimHistory) -> None:
    """VictoriaMetrics treats NaN as "no value": the series is absent rather than NaN."""
    assert victoria_source.query_range("vector(0/0)", sim_history.end - 300, sim_history.end, 60) == []


def test_silent_model_leaves_absent_points(source: PrometheusSource, sim_history: SimHistory) -> None:
    fault = next(f for f in sim_history.fleet.faults if f.kind == "silent")
    selector = f'vllm:num_requests_running{{model_name="{fault.model}"}}'
    (series,) = source.query_range(selector, fault.start - 3600, fault.end + 3600, 60)
    inside = (series.timestamps >= fault.start + 300) & (series.timestamps < fault.end)
    assert not inside.any()  # no sample and no lookback left: the points are absent, not NaN
    assert not np.isnan(series.values).any()
    assert series.timestamps[0] == math.floor((fault.start - 3600) / 60) * 60
    assert series.timestamps[-1] > fault.end + 3600 - 60


def test_long_expressions_are_posted(source: PrometheusSource, sim_history: SimHistory) -> None:
    expr = "vector(1)" + " + vector(0)" * 300
    (series,) = source.query_range(expr, sim_history.end - 600, sim_history.end, 60)
    assert len(expr) > 2000 and series.values.tolist() == [1.0] * 11


def test_compressed_responses_parse_the_same(
    prometheus: ManagedProcess, prometheus_source: PrometheusSource, sim_history: SimHistory
) -> None:
    expr = "vllm:kv_cache_usage_perc"
    start, end = sim_history.end - 86400, sim_history.end
    with PrometheusSource(prometheus.url, compression=True) as gzipped:
        a = {s.labels: s.values for s in gzipped.query_range(expr, start, end, 60)}
    b = {s.labels: s.values for s in prometheus_source.query_range(expr, start, end, 60)}
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("start", "end", "step", "limit", "want"),
    [
        (0, 100, 10, 11_000, [(0, 100)]),
        (5, 100, 10, 11_000, [(0, 100)]),
        (0, 99, 10, 11_000, [(0, 90)]),
        (0, 100, 10, 4, [(0, 30), (40, 70), (80, 100)]),
        (0, 110, 10, 4, [(0, 30), (40, 70), (80, 110)]),
        (1_700_000_030, 1_700_000_030, 60, 11_000, [(1_699_999_980, 1_699_999_980)]),
    ],
)
def test_plan_chunks(
    start: float, end: float, step: float, limit: int, want: list[tuple[float, float]]
) -> None:
    assert plan_chunks(start, end, step, limit) == want


def test_chunks_never_exceed_the_limit_and_cover_the_grid() -> None:
    chunks = plan_chunks(1_000_020.0, 1_000_020.0 + 14 * 86400, 60.0, 11_000)
    points = np.concatenate([np.arange(s, e + 1, 60.0) for s, e in chunks])
    assert all((e - s) / 60 + 1 <= 11_000 for s, e in chunks)
    np.testing.assert_array_equal(points, np.arange(1_000_020.0, 1_000_020.0 + 14 * 86400 + 1, 60.0))


def test_merge_joins_series_by_labels_and_drops_duplicate_points() -> None:
    a, b = Labels(x="1"), Labels(x="2")
    merged = merge_chunks(
        [
            [Series(a, [0, 1], [10, 11]), Series(b, [1], [21])],
            [Series(a, [1, 2], [11, 12]), Series(Labels(x="3"), [2], [32])],
        ]
    )
    by = {s.labels: (s.timestamps.tolist(), s.values.tolist()) for s in merged}
    assert by == {a: ([0, 1, 2], [10, 11, 12]), b: ([1], [21]), Labels(x="3"): ([2], [32])}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "prometheus:9090"}, "http://host:9090"),
        ({"url": "ftp://x"}, "http://host:9090"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"max_points": 1}, "max_points"),
        ({"bearer_token": "t", "basic_auth": ("u", "p")}, "either"),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"url": "http://127.0.0.1:9090", **kwargs}
    url = options.pop("url")
    assert isinstance(url, str)
    with pytest.raises(ValueError, match=message):
        PrometheusSource(url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 0, 10, 1), "empty"),
        (("up", 0, 10, 0), "step"),
        (("up", 0, 10, math.nan), "step"),
        (("up", 10, 0, 1), "before"),
        (("up", math.nan, 0, 1), "finite"),
    ],
)
def test_bad_arguments_are_bad_queries(args: tuple[str, float, float, float], message: str) -> None:
    with PrometheusSource("http://127.0.0.1:9") as source, pytest.raises(SourceError, match=message) as info:
        source.query_range(*args)
    assert info.value.kind == "bad_query" and not info.value.retryable


def test_real_bodies_take_the_fast_parser_and_agree_with_json(
    request: pytest.FixtureRequest, sim_history: SimHistory
) -> None:
    for backend in ("prometheus", "victoria"):
        url = request.getfixturevalue(backend).url
        params = {
            "query": "vllm:kv_cache_usage_perc",
            "start": sim_history.end - 5 * 86400,
            "end": sim_history.end,
            "step": 60,
        }
        body = requests.get(f"{url}/api/v1/query_range", params=params, timeout=60).content
        fast = _fast_matrix(body)
        assert fast is not None, backend
        general = parse_response(body, fast=False)
        assert len(fast) == len(general) == 2
        for a, b in zip(fast, general, strict=True):
            assert (
                a.labels == b.labels
                and np.array_equal(a.values, b.values)
                and np.array_equal(a.timestamps, b.timestamps)
            )
