"""Native histograms: Go's %g, spans, and reading the HTTP API's buckets back as promtool compares."""

from __future__ import annotations

import pytest

from alerter.config.gotemplate.values import format_float_v
from alerter.ruletest.histogram import (
    NativeHistogram,
    ServedBucket,
    ServedHistogram,
    from_api,
    same_histogram,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (1e6, "1e+06"), (123456.0, "123456"), (0.0001, "0.0001"), (1e-5, "1e-05"), (-2.5, "-2.5")],
)
def test_histogram_numbers_print_as_go_g(value: float, text: str) -> None:
    """fmt's %g: shortest digits, %e from exponent 6 on or below -4 (Go's strconv 'g', -1)."""
    assert format_float_v(value) == text


def test_spans_are_offset_then_gaps() -> None:
    """prompb BucketSpan: the first offset is the first index, each later one the gap."""
    side = ((-2, 1.0), (-1, 0.0), (3, 2.0), (4, 1.0), (9, 1.0))
    assert NativeHistogram.spans(side) == [(-2, 2), (3, 2), (4, 1)]


def _served(*buckets: tuple[int, float, float, float], count: float = 4, total: float = 5) -> ServedHistogram:
    return ServedHistogram(count, total, tuple(ServedBucket(*b) for b in buckets))


def test_served_buckets_read_back_in_the_expected_schema() -> None:
    # As Prometheus 2.42 serves {{schema:1 z_bucket:1 z_bucket_w:0.001 buckets:[1 0 1] offset:-1
    # n_buckets:[1]}}: negative first, then the zero bucket, the positive buckets; empty ones left out.
    served = _served(
        (1, -1.0, -0.7071067811865475, 1),
        (3, -0.001, 0.001, 1),
        (0, 0.5, 0.7071067811865475, 1),
        (0, 1.0, 1.414213562373095, 1),  # Go's table value, one ulp from Python's 2 ** 0.5
    )
    parsed = from_api(served, [1])
    assert parsed is not None
    assert parsed.test_expression() == (
        "{{schema:1 count:4 sum:5 z_bucket:1 z_bucket_w:0.001 offset:-1 buckets:[1 0 1] n_buckets:[1]}}"
    )
    assert from_api(served, [0]) is None  # schema 0 has no bound at 2^0.5


def test_histograms_compare_by_what_the_api_shows() -> None:
    served = _served((0, 0.5, 1.0, 1), (0, 1.0, 2.0, 2), (0, 2.0, 4.0, 1))
    expected = NativeHistogram(count=4, sum=5, positive=((0, 1.0), (1, 2.0), (2, 1.0)))
    assert same_histogram(expected, served) == (
        True,
        "{{count:4 sum:5 buckets:[1 2 1]}}",
        "{{count:4 sum:5 buckets:[1 2 1]}}",
    )
    # The API carries no counter-reset hint and no width of an empty zero bucket.
    hinted = NativeHistogram(count=4, sum=5, zero_threshold=0.01, positive=expected.positive, reset_hint=2)
    assert same_histogram(hinted, served)[0]
    wrong = NativeHistogram(count=4, sum=5, positive=((0, 2.0), (1, 1.0), (2, 1.0)))
    assert same_histogram(wrong, served) == (
        False,
        "{{count:4 sum:5 buckets:[2 1 1]}}",
        "{{count:4 sum:5 buckets:[1 2 1]}}",
    )


def test_buckets_no_schema_describes_are_shown_by_their_bounds() -> None:
    served = _served((0, 0.5, 0.6, 4))
    ok, _, shown = same_histogram(NativeHistogram(count=4, sum=5), served)
    assert not ok and shown == "{{count:4 sum:5 buckets:[(0.5,0.6]:4]}}"
