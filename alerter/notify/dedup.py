"""Whether a group needs a notification now, and why: a pure function (Alertmanager's dedup).

The pipeline calls ``reason`` at each flush of a group with what the receiver was last told
(``LogEntry``) and the group's current unmuted alerts. Sending only on a reason is what keeps a
receiver from seeing the same group state twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerter.notify.base import NotifyReason


@dataclass(frozen=True)
class LogEntry:
    """The last notification of a group: its firing and resolved fingerprints and when."""

    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: float


def reason(
    last: LogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    now: float,
    repeat_interval: float,
    *,
    send_resolved: bool = True,
) -> NotifyReason | None:
    """The reason to notify, or None when the receiver already knows this state.

    - nothing told yet, or the last notice closed the conversation: FIRST if anything fires;
    - an alert fires that was not firing in the last notice: NEW_ALERTS;
    - nothing fires any more: RESOLVED if the last notice had firing alerts (else the receiver
      never heard of them);
    - some alerts resolved since the last notice: RESOLVED (when resolved alerts are sent);
    - otherwise REPEAT once ``repeat_interval`` has passed since the last notice.
    """
    if last is None or not last.firing:
        return NotifyReason.FIRST if firing else None
    if not firing <= last.firing:
        return NotifyReason.NEW_ALERTS
    if not firing:
        return NotifyReason.RESOLVED
    if send_resolved and not resolved <= last.resolved:
        return NotifyReason.RESOLVED
    if now - last.sent_at >= repeat_interval:
        return NotifyReason.REPEAT
    return None
