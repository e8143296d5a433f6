"""The input-series notation, case by case against what promtool expands it to."""

from __future__ import annotations

import math

import pytest

from alerter.ruletest.histogram import NativeHistogram
from alerter.ruletest.notation import NotationError, Value, expand_values, parse_histogram, parse_series
from alerter.ruletest.prometheus import is_stale

STALE = "stale"


def _shown(values: list[Value]) -> list[object]:
    """Stale markers and NaN cannot be compared with ==, so name them."""
    out: list[object] = []
    for value in values:
        if isinstance(value, float) and is_stale(value):
            out.append(STALE)
        elif isinstance(value, float) and math.isnan(value):
            out.append("nan")
        else:
            out.append(value)
    return out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("7", [7.0]),
        ("1 2 3", [1.0, 2.0, 3.0]),
        ("-2+4x3", [-2.0, 2.0, 6.0, 10.0]),
        (" 1-2x4", [1.0, -1.0, -3.0, -5.0, -7.0]),
        ("1x4", [1.0] * 5),
        ("1x0", [1.0]),
        ("0+10x2", [0.0, 10.0, 20.0]),
        ("0x3", [0.0] * 4),  # not hexadecimal: promtool disallows hex in series values
        ("_", [None]),
        ("_x3", [None, None, None]),
        ("_x0", []),
        ("1 _ 3 stale", [1.0, None, 3.0, STALE]),
        ("stale 5", [STALE, 5.0]),
        ("Inf -Inf +inf NaN", [math.inf, -math.inf, math.inf, "nan"]),
        ("1e3 .5 1. -0.25 +4", [1000.0, 0.5, 1.0, -0.25, 4.0]),
        ("1e+2x1", [100.0, 100.0]),
        ("0.1+0.1x2", [0.1, 0.2, 0.30000000000000004]),  # added step by step, like promtool
        ("1\t2\n3", [1.0, 2.0, 3.0]),
    ],
)
def test_values_expand_like_promtool(text: str, expected: list[object]) -> None:
    assert _shown(expand_values(text)) == expected


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("1 2 oops", 4, "invalid series value 'oops'"),
        ("1x", 0, "invalid series value"),
        ("x3", 0, "invalid series value"),
        ("1+x3", 0, "invalid series value"),
        ("1+2", 0, "invalid series value"),
        ("1 stalex2", 2, "invalid series value"),
        ("Infx2", 0, "invalid series value"),
        ("0xA", 0, "invalid series value"),
        ("1 1+1x9999999", 2, "more than"),
    ],
)
def test_bad_values_name_the_word(text: str, offset: int, fragment: str) -> None:
    with pytest.raises(NotationError) as caught:
        expand_values(text)
    assert caught.value.offset == offset
    assert fragment in caught.value.message
    assert caught.value.hint


def test_stale_hint_says_it_stands_alone() -> None:
    with pytest.raises(NotationError, match="stands alone"):
        expand_values("stalex3")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("up", {"__name__": "up"}),
        ("vllm:num_requests_waiting", {"__name__": "vllm:num_requests_waiting"}),
        (
            'vllm:e2e{model_name="llama", le="0.5"}',
            {"__name__": "vllm:e2e", "model_name": "llama", "le": "0.5"},
        ),
        ('foo{a=\'single\', b="x\\"y"}', {"__name__": "foo", "a": "single", "b": 'x"y'}),
        ('foo { a = "1" , }', {"__name__": "foo", "a": "1"}),
        ('{__name__="foo", job="x"}', {"__name__": "foo", "job": "x"}),
        ("foo{}", {"__name__": "foo"}),
    ],
)
def test_series_labels(text: str, expected: dict[str, str]) -> None:
    assert parse_series(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{a="b"}', "no metric name"),
        ('foo{a=~"b"}', "expected = after label"),
        ('foo{a="b"', "expected , or }"),
        ('foo{a="b}', "unterminated label value"),
        ("foo{a=b}", "expected a quoted label value"),
        ('foo{a="1",a="2"}', "given twice"),
        ("foo bar", "unexpected 'bar'"),
        ("9foo", "unexpected"),
        ('foo{a="\\q"}', "unknown escape"),
        ('foo{"a"="b"}', "expected a label name"),
    ],
)
def test_bad_series(text: str, fragment: str) -> None:
    with pytest.raises(NotationError, match=fragment.replace("(", r"\(")):
        parse_series(text)


def test_expected_samples_may_have_no_name() -> None:
    assert parse_series("{}", require_name=False) == {}
    assert parse_series('{job="x"}', require_name=False) == {"job": "x"}


# -- native histograms: promql/parser/generated_parser.y (series_item, histogram_series_value,
# histogram_desc_item, bucket_set) and lex.go (lexHistogram, lexBuckets), prometheus/prometheus.


def _histograms(text: str) -> list[str]:
    values = expand_values(text)
    assert all(isinstance(v, NativeHistogram) for v in values)
    return [v.test_expression() for v in values if isinstance(v, NativeHistogram)]


def test_histogram_literal_with_every_key() -> None:
    text = (
        "{{schema:1 sum:-2.5 count:9 z_bucket:1 z_bucket_w:0.001 buckets:[1 0 2] offset:-2"
        " n_buckets:[3 -1] n_offset:4 counter_reset_hint:not_reset}}"
    )
    (value,) = expand_values(text)
    assert value == NativeHistogram(
        schema=1,
        count=9.0,
        sum=-2.5,
        zero_count=1.0,
        zero_threshold=0.001,
        positive=((-2, 1.0), (-1, 0.0), (0, 2.0)),
        negative=((4, 3.0), (5, -1.0)),
        reset_hint=2,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{}}", ["{{}}"]),
        ("{{ }}", ["{{}}"]),
        ("{{count:1 }}", ["{{count:1}}"]),
        ("{{buckets:[1 2 ]}}", ["{{buckets:[1 2]}}"]),
        ("{{SCHEMA:2 Count:1 counter_reset_hint:GAUGE}}", ["{{schema:2 count:1 counter_reset_hint:gauge}}"]),
        ("{{sum:Inf count:NaN}}", ["{{count:NaN sum:+Inf}}"]),
        ("{{count:1}}x2", ["{{count:1}}"] * 3),
        ("{{count:1}}x0", ["{{count:1}}"]),
        (
            "{{count:2 buckets:[1 1]}}+{{count:1 buckets:[1] offset:1}}x2",
            ["{{count:2 buckets:[1 1]}}", "{{count:3 buckets:[1 2]}}", "{{count:4 buckets:[1 3]}}"],
        ),
        (
            "{{count:4 sum:8 buckets:[2 2]}}-{{count:1 sum:2 buckets:[1]}}x2",
            [
                "{{count:4 sum:8 buckets:[2 2]}}",
                "{{count:3 sum:6 buckets:[1 2]}}",
                "{{count:2 sum:4 offset:1 buckets:[2]}}",
            ],
        ),
        # The increment's finer schema is reduced to the base's: schema 1 buckets 1 and 2
        # (upper bounds 2^0.5, 2^1) both fall into schema 0 bucket 1 (upper bound 2).
        (
            "{{schema:0 count:1 buckets:[1]}}+{{schema:1 count:2 buckets:[1 1] offset:1}}x1",
            ["{{count:1 buckets:[1]}}", "{{count:3 buckets:[1 2]}}"],
        ),
    ],
)
def test_histogram_items_expand_like_promtool(text: str, expected: list[str]) -> None:
    assert _histograms(text) == expected


def test_histograms_mix_with_floats_blanks_and_stale() -> None:
    values = expand_values("1 {{count:1}} _ stale {{count:2}}x1")
    assert values[0] == 1.0 and values[2] is None
    assert isinstance(values[3], float) and is_stale(values[3])
    assert [v.count for v in values if isinstance(v, NativeHistogram)] == [1.0, 2.0, 2.0]


def test_adding_a_wider_zero_bucket_merges_the_buckets_inside_it() -> None:
    """FloatHistogram.Add reconciles zero buckets to the wider threshold: bucket -1 of schema 0
    ((0.25, 0.5]) lies inside a threshold of 0.5 and joins the zero bucket."""
    (_, added) = expand_values("{{count:2 buckets:[1 1] offset:-1}}+{{count:1 z_bucket:1 z_bucket_w:0.5}}x1")
    assert isinstance(added, NativeHistogram)
    assert added.test_expression() == "{{count:3 z_bucket:2 z_bucket_w:0.5 buckets:[1]}}"


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("{{count:1", 0, "unterminated histogram"),
        ("{{ count:1}}", 2, "space after {{"),
        ("{{cont:1}}", 2, "bad histogram descriptor 'cont'"),
        ("{{custom_values:[1 2]}}", 2, "bad histogram descriptor"),
        ("{{count 1}}", 7, "missing `:`"),
        ("{{count:1 count:2}}", 10, "duplicate key 'count'"),
        ("{{schema:1.5}}", 10, "unexpected '.'"),
        ("{{schema:9}}", 0, "schema 9 is out of range"),
        ("{{z_bucket_w:-1}}", 13, "unsigned number"),
        ("{{buckets:[ 1]}}", 11, "buckets needs a number"),
        ("{{buckets:[1,2]}}", 12, "expected a space or ]"),
        ("{{buckets:1}}", 10, "needs a list of counts"),
        ("{{counter_reset_hint:maybe}}", 21, "invalid counter_reset_hint"),
        ("{{count:1}}{{count:2}}", 11, "after a histogram"),
        ("{{count:1}}+{{count:1}}", 23, "needs a repetition"),
        ("{{count:1}}+1x2", 12, "expected a histogram after '+'"),
        ("{{count:1}}x", 11, "whole number after x"),
        ("1 {{schema:1}}+{{schema:0}}x2", 2, "cannot merge from schema 0 to 1"),
        ("{{count:1}}x9999999", 11, "more than"),
    ],
)
def test_bad_histograms_name_the_place(text: str, offset: int, fragment: str) -> None:
    with pytest.raises(NotationError) as caught:
        expand_values(text)
    assert fragment in caught.value.message
    assert caught.value.offset == offset
    assert caught.value.hint


def test_expected_histogram_is_exactly_one() -> None:
    assert parse_histogram("{{count:1}}").count == 1.0
    with pytest.raises(NotationError, match="expected one histogram"):
        parse_histogram("{{count:1}} {{count:2}}")
    with pytest.raises(NotationError, match="expected one histogram"):
        parse_histogram("1")
