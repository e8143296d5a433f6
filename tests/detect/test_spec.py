"""Validation of a rule's ``baseline:`` mapping: every problem at once, with hints."""

from __future__ import annotations

from typing import Any

import pytest

from alerter import detect
from alerter.core.errors import DetectorError
from alerter.detect.spec import SpecProblem, check

# (spec, field, words in message or hint)
BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"detector": "stll"}, "detector", "did you mean 'stl'"),
    ({"detector": "prophet"}, "detector", "expected one of"),
    ({"sensitivty": 3}, "sensitivty", "did you mean 'sensitivity'"),
    ({"sensitivity": -1}, "sensitivity", "must be > 0, got -1"),
    ({"sensitivity": 0}, "sensitivity", "must be > 0"),
    ({"sensitivity": "high"}, "sensitivity", "must be a number"),
    ({"sensitivity": True}, "sensitivity", "must be a number"),
    ({"direction": "upp"}, "direction", "did you mean 'up'"),
    ({"min_deviation": -0.1}, "min_deviation", "must be >= 0"),
    ({"history": "2x"}, "history", "invalid duration"),
    ({"history": "1d", "seasonality": ["1d"]}, "history", "two of the longest season"),
    ({"resolution": "0s"}, "resolution", "must be > 0"),
    ({"refit": -5}, "refit", "must be > 0"),
    ({"seasonality": []}, "seasonality", "non-empty list"),
    ({"seasonality": ["1d", "banana"]}, "seasonality[1]", "invalid duration"),
    ({"seasonality": ["15m"]}, "resolution", "quarter of the shortest season"),
    ({"detector": "stl", "budget": 5}, "budget", "not used by detector 'stl'"),
    ({"detector": "static"}, "above", "needs a threshold"),
    ({"detector": "static", "above": 1, "below": 2}, "below", "lower than above"),
    ({"detector": "burn_rate"}, "objective", "needs an SLO objective"),
    ({"detector": "burn_rate", "objective": 99.9}, "objective", "ratio below 1"),
    (
        {"detector": "burn_rate", "objective": 0.99, "windows": [{"long": "5m", "short": "1h", "factor": 2}]},
        "windows[0].short",
        "shorter than long",
    ),
    (
        {"detector": "burn_rate", "objective": 0.99, "windows": [{"long": "1h"}]},
        "windows[0]",
        "exactly the keys",
    ),
    ({"detector": "forecast", "period": "week"}, "budget", "needs a budget"),
    ({"detector": "forecast", "budget": 10, "period": "mnth"}, "period", "did you mean 'month'"),
    ({"detector": "forecast", "budget": 0, "period": "day"}, "budget", "must be > 0"),
    ({"adopt_after": "-1h"}, "adopt_after", "negative"),
]


@pytest.mark.parametrize(("spec", "field", "words"), BAD, ids=[f"{b[1]}-{i}" for i, b in enumerate(BAD)])
def test_each_bad_spec_names_the_field_and_says_why(spec: dict[str, Any], field: str, words: str) -> None:
    problems = detect.spec_problems(spec)
    matching = [p for p in problems if p.field == field]
    assert matching, problems
    assert any(words in f"{p.message} {p.hint}" for p in matching), matching
    with pytest.raises(DetectorError, match=field.replace("[", r"\[").replace("]", r"\]")):
        detect.build(spec)


GOOD: list[dict[str, Any]] = [
    {},
    {"detector": "stl", "seasonality": ["1d"], "history": "21d", "sensitivity": 2.5, "direction": "up"},
    {"detector": "mstl", "seasonality": ["1d", "1w"], "history": "28d", "resolution": "10m"},
    {"detector": "ewma", "halflife": "30m", "min_deviation": 0.05, "adopt_after": "0s"},
    {"detector": "static", "above": 0.5},
    {"detector": "burn_rate", "objective": 0.999, "windows": [{"long": "1h", "short": "5m", "factor": 14.4}]},
    {"detector": "forecast", "budget": 500, "period": "month", "rate_window": "6h"},
    {"detector": "forecast", "budget": 500, "period": "10d"},
    {"history": 86400 * 7, "resolution": 60.0, "refit": 600},
]


@pytest.mark.parametrize("spec", GOOD)
def test_valid_specs_have_no_problems_and_build(spec: dict[str, Any]) -> None:
    assert detect.spec_problems(spec) == []
    assert detect.build(spec).name == spec.get("detector", "auto")


def test_all_problems_are_reported_at_once() -> None:
    problems = detect.spec_problems({"sensitivity": -1, "direction": "sideways", "histroy": "1d"})
    assert {p.field for p in problems} == {"sensitivity", "direction", "histroy"}


def test_problem_renders_field_message_and_hint() -> None:
    assert (
        str(SpecProblem("sensitivity", "must be > 0, got -1", "try 3"))
        == "sensitivity: must be > 0, got -1 (try 3)"
    )


def test_defaults_are_applied_in_seconds() -> None:
    clean, problems = check({"history": "21d"})
    assert problems == []
    assert clean["history"] == 21 * 86400 and clean["resolution"] == 300 and clean["refit"] == 3600
    assert clean["sensitivity"] == 3 and clean["direction"] == "both" and clean["detector"] == "auto"


def test_a_spec_that_is_not_a_mapping_is_one_problem() -> None:
    assert [p.field for p in detect.spec_problems(["stl"])] == ["baseline"]  # type: ignore[arg-type]
