"""Parsing Prometheus API bodies: every result type, special values, error bodies and garbage."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from alerter.core.errors import SourceError
from alerter.core.model import Labels, Series
from alerter.source.parse import ApiError, LabelCache, _fast_matrix, parse_response


def _body(result_type: str, result: object) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}}).encode()


def test_matrix_keeps_labels_times_and_special_values() -> None:
    body = _body(
        "matrix",
        [
            {
                "metric": {"__name__": "up", "job": "a"},
                "values": [[10, "1"], [20.5, "NaN"], [30, "+Inf"], [40, "-Inf"]],
            },
            {"metric": {"job": "b"}, "values": [[10, "0.25"]]},
        ],
    )
    first, second = parse_response(body)
    assert first.labels == Labels({"__name__": "up", "job": "a"})
    np.testing.assert_array_equal(first.timestamps, [10, 20.5, 30, 40])
    assert first.values[0] == 1 and math.isnan(first.values[1])
    assert first.values[2] == math.inf and first.values[3] == -math.inf
    assert second.values.tolist() == [0.25]


def test_matrix_without_float_values_gives_an_empty_series() -> None:
    (series,) = parse_response(_body("matrix", [{"metric": {"a": "b"}, "histograms": [[1, {}]]}]))
    assert len(series) == 0


def test_vector_gives_one_point_per_series() -> None:
    series = parse_response(
        _body("vector", [{"metric": {"m": "x"}, "value": [5, "2"]}, {"metric": {}, "value": [5, "3"]}])
    )
    assert [(s.labels, s.timestamps.tolist(), s.values.tolist()) for s in series] == [
        (Labels(m="x"), [5.0], [2.0]),
        (Labels(), [5.0], [3.0]),
    ]


def test_scalar_becomes_a_series_without_labels() -> None:
    (series,) = parse_response(_body("scalar", [7, "NaN"]))
    assert series.labels == Labels() and series.timestamps.tolist() == [7.0] and math.isnan(series.values[0])


def test_string_result_is_a_bad_query() -> None:
    with pytest.raises(SourceError) as info:
        parse_response(_body("string", [7, "hello"]), "'hello'")
    assert info.value.kind == "bad_query" and info.value.query == "'hello'"


def test_error_body_is_reported_with_its_type() -> None:
    body = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}).encode()
    with pytest.raises(ApiError) as info:
        parse_response(body)
    assert (info.value.error_type, info.value.message) == ("bad_data", "parse error")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (
            b'{"status": "success", "data": {"resultType": "matrix", "result": [{"values": [[1, "1"]]}]}}',
            "unexpected",
        ),
        (
            b'{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1]]}]}}',
            "unexpected",
        ),
        (
            b'{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "x"]}]}}',
            "unexpected",
        ),
        (b'{"status": "success", "data": {"resultType": "table", "result": []}}', "resultType"),
        (b'{"status": "maybe"}', "status"),
        (b"[1, 2]", "status"),
        (b'{"status": "success", "da', "not JSON"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_garbage_is_malformed(body: bytes, detail: str) -> None:
    with pytest.raises(SourceError) as info:
        parse_response(body, "up")
    assert info.value.kind == "malformed" and info.value.retryable and detail in str(info.value)


def test_large_bodies_parse_with_the_collector_paused_and_restored() -> None:
    import gc

    points = [[i * 60, str(i / 7)] for i in range(20_000)]
    (series,) = parse_response(_body("matrix", [{"metric": {}, "values": points}]))
    assert len(series) == 20_000 and series.values[7] == 1.0
    assert gc.isenabled()


def _compact(result: list[dict[str, object]]) -> bytes:
    doc = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    return json.dumps(doc, separators=(",", ":")).encode()


def _same(a: list[Series], b: list[Series]) -> bool:
    return len(a) == len(b) and all(
        x.labels == y.labels
        and np.array_equal(x.timestamps, y.timestamps)
        and np.array_equal(x.values, y.values, equal_nan=True)
        for x, y in zip(a, b, strict=True)
    )


def test_fast_matrix_path_agrees_with_json_even_on_hostile_labels() -> None:
    hostile = {"__name__": "m", "a": 'x"],"values":[[1,"2"]]}', "b": "]]}{", "c": "ü"}
    points = [[1_700_000_000 + 60 * i, str(i / 3)] for i in range(5_000)]
    points[3][1], points[4][1], points[5][1] = "NaN", "+Inf", "-Inf"
    body = _compact(
        [
            {"metric": hostile, "values": points},
            {"metric": {}, "values": []},
            {"metric": {"x": "1"}, "values": points[:2]},
        ]
    )
    fast = _fast_matrix(body)
    assert fast is not None and _same(fast, parse_response(body, fast=False))
    assert (
        fast[0].labels == Labels(hostile) and math.isnan(fast[0].values[3]) and fast[0].values[4] == math.inf
    )


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(
            {
                "status": "success",
                "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "2"]]}]},
            }
        ).encode(),
        _compact([{"metric": {}, "values": [[1, "2"]], "histograms": [[2, {}]]}]),
        _compact([{"metric": {}, "values": [[1, "2", "3"]]}]),
        _compact([{"metric": {}, "values": [[1, "two"]]}]),
        _compact([{"values": [[1, "2"]], "metric": {}}]),
    ],
)
def test_fast_matrix_path_declines_what_it_does_not_expect(body: bytes) -> None:
    assert _fast_matrix(body) is None


def test_truncated_compact_body_is_malformed() -> None:
    body = _compact([{"metric": {}, "values": [[i, "1"] for i in range(20_000)]}])
    with pytest.raises(SourceError) as info:
        parse_response(body[: len(body) // 2])
    assert info.value.kind == "malformed"


def test_small_bodies_take_the_fast_path_and_agree_with_json() -> None:
    result = [
        {
            "metric": {"__name__": "up", "pod": f"p{i}"},
            "values": [[1_700_000_000 + 60 * k, str(k / 7)] for k in range(6)],
        }
        for i in range(50)
    ]
    body = _compact(result)
    assert len(body) < 64 * 1024
    cache = LabelCache()
    fast = _fast_matrix(body, cache)
    assert fast is not None and _same(fast, parse_response(body, fast=False))
    assert _same(parse_response(body), fast)


def test_parsed_arrays_are_read_only_views_nobody_can_write_through() -> None:
    body = _compact([{"metric": {"a": "1"}, "values": [[1, "2"], [3, "4"]]}])
    (series,) = parse_response(body)
    for array in (series.timestamps, series.values):
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array.setflags(write=True)
        assert array.base is None or not array.base.flags.writeable


def test_a_series_copies_a_view_of_an_array_someone_can_still_write() -> None:
    parent = np.arange(4.0)
    view = parent[:2]
    view.setflags(write=False)
    series = Series(Labels(), view, view)
    parent[0] = 99.0
    assert series.timestamps[0] == 0.0


def test_labels_are_built_once_per_raw_label_text_and_the_cache_is_bounded() -> None:
    cache = LabelCache(capacity=3)
    body = _compact([{"metric": {"pod": str(i)}, "values": [[1, "1"]]} for i in range(2)])
    first, second = _fast_matrix(body, cache), _fast_matrix(body, cache)
    assert first is not None and second is not None
    assert all(a.labels is b.labels for a, b in zip(first, second, strict=True))
    more = _compact([{"metric": {"pod": str(i)}, "values": [[1, "1"]]} for i in range(10)])
    parsed = _fast_matrix(more, cache)
    assert parsed is not None and [s.labels["pod"] for s in parsed] == [str(i) for i in range(10)]
    assert len(cache) <= 3
