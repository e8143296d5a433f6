"""Cron parsing and window evaluation: tables of expressions and instants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerter.core.cron import fire_times, parse_cron, window_open, windows_between, zone


def ts(text: str, tz: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone(tz) if tz != "UTC" else UTC).timestamp()


@pytest.mark.parametrize(
    ("expression", "field", "values"),
    [
        ("*/15 * * * *", "minutes", {0, 15, 30, 45}),
        ("5-10/2 * * * *", "minutes", {5, 7, 9}),
        ("0 1,13 * * *", "hours", {1, 13}),
        ("0 0 * jan-mar *", "months", {1, 2, 3}),
        ("0 0 * * SUN", "weekdays", {0}),
        ("0 0 * * 7", "weekdays", {0}),
        ("0 0 * * mon-fri", "weekdays", {1, 2, 3, 4, 5}),
        ("0 0 10/10 * *", "days", {10, 20, 30}),
    ],
)
def test_fields_parse(expression: str, field: str, values: set[int]) -> None:
    assert getattr(parse_cron(expression), field) == frozenset(values)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 2 * *", "5 fields"),
        ("60 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 0 0 * *", "day-of-month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * * funday", "day-of-week"),
        ("*/0 * * * *", "step"),
        ("10-5 * * * *", "reversed"),
    ],
)
def test_bad_expressions_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cron(expression)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-01-04 02:00", True),  # Sunday, the window's first minute
        ("2026-01-04 03:59", True),
        ("2026-01-04 04:00", False),  # two hours later it is closed
        ("2026-01-04 01:59", False),
        ("2026-01-05 02:30", False),  # Monday
    ],
)
def test_weekly_window(moment: str, expected: bool) -> None:
    cron = parse_cron("0 2 * * SUN")
    assert (window_open(cron, 7200, zone("UTC"), ts(moment)) is not None) is expected


def test_window_reports_its_start() -> None:
    cron = parse_cron("30 1 * * *")
    assert window_open(cron, 3600, zone("UTC"), ts("2026-03-03 02:10")) == ts("2026-03-03 01:30")


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    cron = parse_cron("0 0 1 * MON")
    assert cron.matches(datetime(2026, 1, 1, tzinfo=UTC))  # the 1st, a Thursday
    assert cron.matches(datetime(2026, 1, 5, tzinfo=UTC))  # a Monday
    assert not cron.matches(datetime(2026, 1, 6, tzinfo=UTC))


def test_windows_follow_the_local_clock_across_daylight_saving() -> None:
    berlin = zone("Europe/Berlin")
    cron = parse_cron("0 2 * * *")
    winter, summer = ts("2026-01-10 02:30", "Europe/Berlin"), ts("2026-07-10 02:30", "Europe/Berlin")
    assert window_open(cron, 3600, berlin, winter) is not None
    assert window_open(cron, 3600, berlin, summer) is not None
    assert window_open(cron, 3600, zone("UTC"), summer) is None, "02:30 Berlin summer time is 00:30 UTC"


def test_unknown_timezone_has_a_hint() -> None:
    with pytest.raises(ValueError, match="IANA"):
        zone("Mars/Olympus")


def test_fire_times_walk_days_and_respect_the_range() -> None:
    cron = parse_cron("0 2 * * SUN")
    times = fire_times(cron, zone("UTC"), ts("2026-01-01 00:00"), ts("2026-01-31 23:59"))
    assert times == [ts(f"2026-01-{d:02d} 02:00") for d in (4, 11, 18, 25)]
    assert fire_times(cron, zone("UTC"), ts("2026-01-04 02:00"), ts("2026-01-04 02:00")) == [
        ts("2026-01-04 02:00")
    ]


def test_fire_times_across_the_spring_forward_gap() -> None:
    # 2026-03-29 Europe/Berlin jumps from 02:00 to 03:00: a 02:30 job runs at 03:30 local time.
    berlin = zone("Europe/Berlin")
    cron = parse_cron("30 2 * * *")
    times = fire_times(
        cron, berlin, ts("2026-03-28 00:00", "Europe/Berlin"), ts("2026-03-30 23:00", "Europe/Berlin")
    )
    assert len(times) == 3
    assert times[1] == ts("2026-03-29 01:30")  # UTC: 03:30 CEST


def test_windows_between_clips_and_merges() -> None:
    cron = parse_cron("0 * * * *")
    merged = windows_between(cron, 5400, zone("UTC"), ts("2026-01-01 00:30"), ts("2026-01-01 03:00"))
    assert merged == [(ts("2026-01-01 00:30"), ts("2026-01-01 03:00"))]
    daily = windows_between(
        parse_cron("0 2 * * *"), 3600, zone("UTC"), ts("2026-01-01 02:30"), ts("2026-01-03 00:00")
    )
    assert daily == [
        (ts("2026-01-01 02:30"), ts("2026-01-01 03:00")),
        (ts("2026-01-02 02:00"), ts("2026-01-02 03:00")),
    ]


def test_every_five_minutes_over_three_weeks_is_enumerated_exactly() -> None:
    cron = parse_cron("*/5 * * * *")
    start = ts("2026-01-01 00:00")
    assert len(fire_times(cron, zone("UTC"), start, start + 21 * 86400 - 1)) == 21 * 288
