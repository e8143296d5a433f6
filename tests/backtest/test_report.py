"""Comparing two rule sets' alerts and the text summary, as tables of small cases."""

from __future__ import annotations

from typing import Any

import pytest

from alerter.backtest.report import alert_times, compare, durations, text

END = 10_000.0


def _a(rule: str, model: str, active: float, resolved: float | None) -> dict[str, Any]:
    return {
        "rule": rule,
        "labels": {"model_name": model},
        "active_at": active,
        "fired_at": active,
        "resolved_at": resolved,
    }


@pytest.mark.parametrize(
    ("a", "b", "counts"),
    [
        ([_a("R", "m", 0, 100)], [_a("R", "m", 50, 200)], (0, 0, 1)),  # overlapping: the same alert
        ([_a("R", "m", 0, 100)], [_a("R", "m", 200, 300)], (1, 1, 0)),  # same series, other time
        ([_a("R", "m", 0, 100)], [_a("R", "n", 0, 100)], (1, 1, 0)),  # other series
        ([_a("R", "m", 0, 100)], [_a("S", "m", 0, 100)], (1, 1, 0)),  # other rule
        ([_a("R", "m", 0, None)], [_a("R", "m", 9_000, 9_500)], (0, 0, 1)),  # still firing at the end
        ([_a("R", "m", 0, 100)], [_a("R", "m", 0, 40), _a("R", "m", 60, 100)], (0, 1, 1)),  # one match each
        ([], [_a("R", "m", 0, 100)], (0, 1, 0)),
    ],
)
def test_compare(a: list[dict[str, Any]], b: list[dict[str, Any]], counts: tuple[int, int, int]) -> None:
    diff = compare(a, b, END)
    assert (len(diff["only_a"]), len(diff["only_b"]), len(diff["both"])) == counts
    assert len(diff["only_a"]) + len(diff["both"]) == len(a)
    assert len(diff["only_b"]) + len(diff["both"]) == len(b)


# -- how long an alert was pending and active ---------------------------------------------------


def _alert(active: float, fired: float | None, resolved: float | None) -> dict[str, Any]:
    return {
        "rule": "R",
        "labels": {"model_name": "m"},
        "active_at": active,
        "fired_at": fired,
        "resolved_at": resolved,
    }


@pytest.mark.parametrize(
    ("alert", "want", "line"),
    [
        (_alert(0, 300, 1800), (300, 1500), "1970-01-01 00:05 -> 1970-01-01 00:30 (active 25m, pending 5m)"),
        (_alert(0, 0, 600), (0, 600), "1970-01-01 00:00 -> 1970-01-01 00:10 (active 10m, pending 0s)"),
        (
            _alert(0, 300, None),
            (300, END - 300),
            "1970-01-01 00:05 -> still firing (active 2h41m40s, pending 5m)",
        ),
        (
            _alert(600, None, 900),
            (None, 300),
            "1970-01-01 00:10 -> 1970-01-01 00:15 (pending 5m, never fired)",
        ),
    ],
)
def test_active_for_counts_from_firing_and_pending_is_shown_apart(
    alert: dict[str, Any], want: tuple[float | None, float], line: str
) -> None:
    assert durations(alert, END) == want
    assert alert_times(alert, END) == line


def _doc(per_rule: list[dict[str, Any]], alerts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "a": {
            "range": {"from": 0.0, "to": END, "step": 60.0},
            "totals": {"alerts": 0, "notifications": 0, "pages_per_week": 0.0},
            "run": {"ticks": 1, "seconds": 0.0},
            "alerts": alerts or [],
            "rule_errors": {},
            "per_rule": per_rule,
        }
    }


def _peak(text: str, at: float) -> dict[str, Any]:
    return {"text": text, "at": at, "labels": {"service": "chat"}, "tier": "burn_rate", "reason": ""}


def test_the_text_summary_says_how_close_each_rule_came() -> None:
    rows = [
        {
            "rule": "Burn",
            "fired": 0,
            "stage": "points",
            "summary": "closest: x",
            "peak": _peak("13.3x of 14.4x burn over 1h/5m", 3600),
        },
        {
            "rule": "Slow",
            "fired": 0,
            "stage": "pending",
            "summary": "pending up to 5m of for 10m",
            "peak": _peak("p", 0),
        },
        {"rule": "Gone", "fired": 0, "stage": "series", "summary": "never returned a series", "peak": None},
        {"rule": "Loud", "fired": 3, "stage": "fired", "summary": "fired", "peak": _peak("28σ of 3σ", 60)},
    ]
    lines = text(_doc(rows)).splitlines()
    assert (
        "    Burn                         never fired  closest: 13.3x of 14.4x burn over 1h/5m at 1970-01-01 01:00 on service=chat"
        in lines
    )
    assert "    Slow                         never fired  pending up to 5m of for 10m" in lines
    assert "    Gone                         never fired  never returned a series" in lines
    assert (
        "    Loud                         fired 3      peak 28σ of 3σ at 1970-01-01 00:01 on service=chat"
        in lines
    )
