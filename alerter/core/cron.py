"""Five-field cron expressions, for maintenance windows (``0 2 * * SUN`` + a duration).

A pure parser in ``core``, so the config loader refuses a bad expression at load time rather
than at the first evaluation. ``notify.mute`` asks whether a window is open at ``now``; the
baseline trainer asks the same to keep maintenance out of training. Standard Vixie-cron semantics: ``*``, ranges, steps, lists,
month and weekday names, 0 and 7 both Sunday, and when both day-of-month and day-of-week are
restricted a day matching either one fires. Evaluated in the window's IANA timezone, so
``0 2 * * *`` in ``Europe/Berlin`` follows daylight saving time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day-of-week", 0, 7, {name: i for i, name in enumerate(_DAYS)}),
)


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the allowed values of each field."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, moment: datetime) -> bool:
        """True when ``moment`` (wall-clock time of the window's zone) is a firing minute."""
        return moment.minute in self.minutes and moment.hour in self.hours and self.matches_day(moment.date())

    def matches_day(self, day: date) -> bool:
        """True when the expression fires on ``day`` at all (month, day of month, day of week)."""
        if day.month not in self.months:
            return False
        day_ok = day.day in self.days
        weekday_ok = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok


def parse_cron(text: str) -> Cron:
    """Parse ``text``; raise ValueError naming the bad field and what is allowed."""
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(
            f"cron {text!r} must have 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    sets = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])
    return Cron(text, sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] != "*", parts[4] != "*")


def _field(part: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for item in part.split(","):
        body, _, step_text = item.partition("/")
        step = _number(step_text, name, names={}) if step_text else 1
        if step < 1:
            raise ValueError(f"cron {name}: step must be >= 1 in {item!r}")
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, stop = _number(first, name, names), _number(last, name, names)
        else:
            start = _number(body, name, names)
            stop = high if step_text else start
        if not (low <= start <= high and low <= stop <= high) or start > stop:
            raise ValueError(f"cron {name}: {item!r} is outside {low}-{high} or reversed")
        values.update(range(start, stop + 1, step))
    return frozenset(values)


def _number(text: str, name: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        allowed = f" or a name ({', '.join(names)})" if names else ""
        raise ValueError(f"cron {name}: {text!r} is not a number{allowed}")
    return int(text)


def zone(name: str) -> ZoneInfo:
    """The IANA timezone ``name``; ValueError with a hint when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (use an IANA name like UTC or Europe/Berlin)") from None


def fire_times(cron: Cron, tz: ZoneInfo, start: float, end: float) -> list[float]:
    """Every firing instant in ``[start, end]``, ascending, walking days rather than minutes.

    Wall-clock times are read in ``tz``; a time skipped by a daylight-saving jump fires at the
    same offset after it, one repeated by the jump back fires once (its first occurrence).
    """
    out: list[float] = []
    day = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, tz).date()
    hours, minutes = sorted(cron.hours), sorted(cron.minutes)
    while day <= last:
        if cron.matches_day(day):
            for hour in hours:
                for minute in minutes:
                    t = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).timestamp()
                    if start <= t <= end:
                        out.append(t)
        day += timedelta(days=1)
    return sorted(set(out))


def window_open(cron: Cron, duration: float, tz: ZoneInfo, now: float) -> float | None:
    """The start of the window containing ``now`` (a firing in ``(now - duration, now]``), or None."""
    starts = [t for t in fire_times(cron, tz, now - duration, now) if t > now - duration]
    return starts[-1] if starts else None


def windows_between(
    cron: Cron, duration: float, tz: ZoneInfo, start: float, end: float
) -> list[tuple[float, float]]:
    """The windows overlapping ``[start, end]``, clipped to it and merged where they overlap."""
    merged: list[tuple[float, float]] = []
    for begin in fire_times(cron, tz, start - duration, end):
        lo, hi = max(begin, start), min(begin + duration, end)
        if hi <= lo:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
