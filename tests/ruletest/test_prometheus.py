"""The remote-write encoding and the throwaway Prometheus, against the real binary."""

from __future__ import annotations

import json
import math
import struct
import urllib.request

import cramjam
import pytest

from alerter.ruletest.histogram import NativeHistogram, ServedBucket, ServedHistogram
from alerter.ruletest.prometheus import (
    PrometheusUnavailable,
    SeriesData,
    ThrowawayPrometheus,
    _varint,
    find_binary,
    is_stale,
    stale_nan,
    write_request,
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (300, b"\xac\x02"), (-1, b"\xff" * 9 + b"\x01")],
)
def test_varint(value: int, encoded: bytes) -> None:
    assert _varint(value) == encoded


def test_write_request_is_a_snappy_protobuf_with_sorted_labels() -> None:
    body = bytes(
        cramjam.snappy.decompress_raw(write_request([SeriesData({"z": "1", "__name__": "m"}, [(5, 2.0)])]))
    )
    label_name = b"\x0a\x08__name__\x12\x01m"
    label_z = b"\x0a\x01z\x12\x011"
    sample = b"\x09" + struct.pack("<d", 2.0) + b"\x10\x05"
    series = b"\x0a" + bytes([len(label_name)]) + label_name + b"\x0a" + bytes([len(label_z)]) + label_z
    series += b"\x12" + bytes([len(sample)]) + sample
    assert body == b"\x0a" + bytes([len(series)]) + series


def test_stale_marker_keeps_its_bits() -> None:
    value = stale_nan()
    assert math.isnan(value) and is_stale(value)
    assert not is_stale(math.nan)


def test_missing_binary_is_a_clear_error() -> None:
    with pytest.raises(PrometheusUnavailable, match="--prometheus PATH"):
        find_binary("/no/such/prometheus")


def _query(url: str, expr: str, at: float) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{url}/api/v1/query?query={expr}&time={at}") as reply:
        result: list[dict[str, object]] = json.load(reply)["data"]["result"]
        return result


def test_pushed_samples_are_queryable_and_stale_markers_end_the_series() -> None:
    epoch = 1_577_836_800
    samples = [(epoch * 1000, 1.0), ((epoch + 60) * 1000, 2.0), ((epoch + 120) * 1000, stale_nan())]
    with ThrowawayPrometheus(find_binary(None)) as prometheus:
        prometheus.push([SeriesData({"__name__": "m", "a": "1"}, samples)])
        assert _query(prometheus.url, "m", epoch + 90)[0]["value"] == [epoch + 90, "2"]
        assert _query(prometheus.url, "m", epoch + 150) == []
        assert _query(prometheus.url, "count_over_time(m[10m])", epoch + 150)[0]["value"] == [
            epoch + 150,
            "2",
        ]
    assert not prometheus.running


def test_a_binary_that_does_not_start_is_reported_and_cleaned_up() -> None:
    server = ThrowawayPrometheus(find_binary("false"))
    with pytest.raises(PrometheusUnavailable, match="did not start"):
        server.start()
    assert not server.running
    assert not server._dir.exists()


def test_native_histograms_are_written_and_read_back() -> None:
    """Float histograms through TimeSeries.histograms; a run of floats (stale) after them goes in a
    TimeSeries of its own, so Prometheus appends both in time order."""
    epoch = 1_577_836_800
    base = NativeHistogram(schema=0, count=4, sum=5, positive=((0, 1.0), (1, 2.0), (2, 1.0)))
    histograms = [((epoch + 60 * i) * 1000, base) for i in range(3)]
    stale = [((epoch + 180) * 1000, stale_nan())]
    with ThrowawayPrometheus(find_binary(None)) as prometheus:
        prometheus.push([SeriesData({"__name__": "h", "job": "a"}, stale, histograms)])
        (sample,) = prometheus.query("h", epoch + 90)
        assert sample.labels == {"__name__": "h", "job": "a"}
        assert sample.histogram == ServedHistogram(
            4.0,
            5.0,
            (ServedBucket(0, 0.5, 1.0, 1.0), ServedBucket(0, 1.0, 2.0, 2.0), ServedBucket(0, 2.0, 4.0, 1.0)),
        )
        assert prometheus.query("h", epoch + 200) == []
        (count,) = prometheus.query("histogram_count(h)", epoch + 120)
        assert (count.value, count.histogram) == (4.0, None)
