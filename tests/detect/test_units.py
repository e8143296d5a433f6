"""Units of rule values: what ``unit:`` accepts, and numbers written in them."""

from __future__ import annotations

import math

import pytest

from alerter.detect import units


@pytest.mark.parametrize(
    ("text", "kind", "noun", "per_second"),
    [
        ("seconds", units.SECONDS, "", False),
        ("S", units.SECONDS, "", False),
        ("ms", units.SECONDS, "ms", False),
        ("bytes", units.BYTES, "", False),
        ("bytes/s", units.BYTES, "", True),
        ("ratio", units.RATIO, "", False),
        ("%", units.PERCENT, "", False),
        ("usd", units.CURRENCY, "usd", False),
        ("$", units.CURRENCY, "usd", False),
        ("EUR", units.CURRENCY, "eur", False),
        ("chf", units.CURRENCY, "chf", False),
        ("usd/s", units.CURRENCY, "usd", True),
        ("tokens", units.COUNT, "tokens", False),
        ("requests/s", units.COUNT, "requests", True),
        ("requests_per_second", units.COUNT, "requests", True),
        ("widgets/s", units.COUNT, "widgets", True),
        ("count/s", units.COUNT, "", True),
        ("°C", units.TEXT, "°C", False),
        ("GPU slots", units.TEXT, "GPU slots", False),
    ],
)
def test_unit_names(text: str, kind: str, noun: str, per_second: bool) -> None:
    unit = units.parse(text)
    assert (unit.kind, unit.noun, unit.per_second) == (kind, noun, per_second)
    assert unit.nonnegative is (kind != units.TEXT)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "must not be empty"), ("  ", "must not be empty"), ("x" * 33, "at most 32"), ("a\nb", "one line")],
)
def test_bad_units_say_what_a_unit_is(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        units.parse(text)


@pytest.mark.parametrize(
    ("unit", "values", "written"),
    [
        ("seconds", [2.42, 0.61, 0.4], ["2.42 s", "0.61 s", "0.40 s"]),
        ("seconds", [0.82, 0.31], ["820 ms", "310 ms"]),
        ("seconds", [0.0000042], ["4.20 µs"]),
        ("seconds", [150.0], ["2.50 min"]),
        ("seconds", [7200.0], ["2.00 h"]),
        ("ms", [2420.0, 610.0], ["2.42 s", "0.61 s"]),
        ("ms", [42.0], ["42.0 ms"]),
        ("bytes", [512.0], ["512 B"]),
        ("bytes", [3.5 * 2**30, 2**29], ["3.50 GiB", "0.50 GiB"]),
        ("bytes/s", [1536.0], ["1.50 KiB/s"]),
        ("ratio", [0.896, 0.06], ["89.6%", "6.0%"]),
        ("ratio", [0.001], ["0.100%"]),
        ("percent", [42.13], ["42.1%"]),
        ("usd", [1240.0, 1000.0], ["$1,240.00", "$1,000.00"]),
        ("usd", [0.00041], ["$0.000410"]),
        ("usd", [-3.5], ["-$3.50"]),
        ("eur", [12.5], ["€12.50"]),
        ("CHF", [1234.5], ["1,234.50 CHF"]),
        ("tokens", [2345.0], ["2,345 tokens"]),
        ("tokens", [2_345_000.0], ["2.35M tokens"]),
        ("requests/s", [12.3], ["12.3 requests/s"]),
        ("count/s", [0.5], ["0.500/s"]),
        ("widgets", [2.42], ["2.42 widgets"]),
    ],
)
def test_numbers_in_their_unit(unit: str, values: list[float], written: list[str]) -> None:
    scale = units.scale_for(units.parse(unit), values)
    assert [units.write(v, scale) for v in values] == written


def test_no_unit_gives_three_significant_digits() -> None:
    scale = units.scale_for(None, [0.896, 1234.5])
    assert [units.write(v, scale) for v in (0.896, 1234.5, 0.0)] == ["0.896", "1.23e+03", "0"]


def test_a_span_writes_its_unit_once() -> None:
    seconds = units.scale_for(units.parse("s"), [2.42, 0.4, 0.83])
    assert units.span(0.4, 0.83, seconds) == "0.40–0.83 s", "on the scale of the largest (2.42 s)"
    assert units.span(0.0, 0.83, seconds) == "0–0.83 s"
    alone = units.scale_for(units.parse("s"), [0.4, 0.83])
    assert units.span(0.4, 0.83, alone) == "400–830 ms"
    money = units.scale_for(units.parse("usd"), [0, 8.5])
    assert units.span(0.0, 8.5, money) == "$0–$8.50", "a symbol in front stays on both ends"


def test_what_is_not_a_number_says_so() -> None:
    assert units.write(math.nan, units.scale_for(units.parse("s"), [1.0])) == "n/a"
    assert units.number(math.inf, None) == "n/a"
