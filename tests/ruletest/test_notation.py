"""The input-series notation, case by case against what promtool expands it to."""

from __future__ import annotations

import math

import pytest

from alerter.ruletest.notation import NotationError, expand_values, parse_series
from alerter.ruletest.prometheus import is_stale

STALE = "stale"


def _shown(values: list[float | None]) -> list[object]:
    """Stale markers and NaN cannot be compared with ==, so name them."""
    out: list[object] = []
    for value in values:
        if value is not None and is_stale(value):
            out.append(STALE)
        elif value is not None and math.isnan(value):
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
