"""Dedup as a table: last notice, current state, time -> reason."""

from __future__ import annotations

import pytest

from alerter.notify.base import NotifyReason
from alerter.notify.dedup import LogEntry, reason

A, B, C = "a", "b", "c"


def entry(firing: set[str], resolved: set[str] | None = None, sent_at: float = 1000.0) -> LogEntry:
    return LogEntry(frozenset(firing), frozenset(resolved or ()), sent_at)


@pytest.mark.parametrize(
    ("last", "firing", "resolved", "now", "expected"),
    [
        (None, {A}, set(), 1000, NotifyReason.FIRST),
        (None, set(), {A}, 1000, None),
        (entry(set(), {A}), {A}, set(), 1100, NotifyReason.FIRST),
        (entry({A}), {A}, set(), 1100, None),
        (entry({A}), {A, B}, set(), 1100, NotifyReason.NEW_ALERTS),
        (entry({A, B}), {A}, set(), 1100, None),
        (entry({A, B}), {A}, {B}, 1100, NotifyReason.RESOLVED),
        (entry({A, B}, {B}), {A}, {B}, 1100, None),
        (entry({A}), set(), {A}, 1100, NotifyReason.RESOLVED),
        (entry({A}), set(), set(), 1100, NotifyReason.RESOLVED),
        (entry({A}), {A}, set(), 1000 + 3600, NotifyReason.REPEAT),
        (entry({A}), {A}, set(), 1000 + 3599, None),
        (entry({A, C}), {A}, {C}, 1000 + 3600, NotifyReason.RESOLVED),
    ],
)
def test_reason(
    last: LogEntry | None, firing: set[str], resolved: set[str], now: float, expected: NotifyReason | None
) -> None:
    assert reason(last, frozenset(firing), frozenset(resolved), now, 3600) is expected


def test_resolved_alone_is_quiet_when_resolved_are_not_sent() -> None:
    last = entry({A, B})
    assert reason(last, frozenset({A}), frozenset({B}), 1100, 3600, send_resolved=False) is None
