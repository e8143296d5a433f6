"""Values and the receiver contract shared by the notification pipeline and its receivers.

The pipeline (``pipeline.py``) turns alert groups into ``Notification`` values, asks the group's
receiver to ``render`` them into a ``Payload`` (pure, done once, stored in the outbox) and later
to ``deliver`` that payload. Receivers (``slack.py``, ``alertmanager.py``, ``webhook.py``) satisfy
``Notifier``; tests and backtests hand in their own objects instead of patching anything.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerter.core.model import Alert, AlertState, Labels


class NotifyReason(enum.StrEnum):
    """Why a group is notified (Alertmanager's dedup reasons); shown to users and logged."""

    FIRST = "first"
    NEW_ALERTS = "new_alerts"
    RESOLVED = "resolved"
    REPEAT = "repeat"


class PayloadKind(enum.StrEnum):
    """Where a payload goes in a conversation: a new message, its thread, or closing it."""

    OPEN = "open"
    REPLY = "reply"
    CLOSE = "close"


@dataclass(frozen=True)
class Notification:
    """One group's alerts at the moment the pipeline decided to notify.

    ``alerts`` holds the unmuted firing and resolved alerts, sorted by fingerprint; ``now`` is
    the decision time, which renderers use for "since" and durations.
    """

    receiver: str
    group_key: str
    group_labels: Labels
    alerts: tuple[Alert, ...]
    reason: NotifyReason
    now: float

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.state is AlertState.FIRING)

    @property
    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.state is AlertState.RESOLVED)

    @property
    def kind(self) -> PayloadKind:
        """Open a conversation on the first notice, close it when nothing fires any more."""
        if not self.firing:
            return PayloadKind.CLOSE
        return PayloadKind.OPEN if self.reason is NotifyReason.FIRST else PayloadKind.REPLY


@dataclass(frozen=True)
class Payload:
    """What a receiver will send, rendered once and stored durably in the outbox.

    ``body`` is the main message; ``edit`` (optional) replaces the conversation's first message,
    so the top of a Slack thread always shows the group's current state; ``image`` is a PNG
    attached to the conversation when the receiver can carry files.
    """

    kind: PayloadKind
    body: Mapping[str, Any]
    edit: Mapping[str, Any] | None = None
    image: bytes | None = field(default=None, repr=False)


class Notifier(Protocol):
    """A receiver. ``deliver`` raises ``NotifyError`` saying whether a retry can help.

    ``resend_interval`` (seconds, or None) makes the pipeline re-send a firing group at least
    that often, for receivers that expire alerts on their own (Alertmanager). ``coalesce`` says
    each payload carries the group's whole state, so older undelivered ones may be dropped.
    ``threads`` says whether notes (remediation decisions) can be posted under the group's message.
    """

    @property
    def name(self) -> str: ...

    @property
    def resend_interval(self) -> float | None: ...

    @property
    def coalesce(self) -> bool: ...

    @property
    def burst_limit(self) -> int | None:
        """More groups than this opening in one flush are sent as one digest (None: never)."""
        ...

    @property
    def threads(self) -> bool:
        """True when later payloads can go into the first message's thread (Slack bot mode)."""
        ...

    def render(self, notification: Notification) -> Payload:
        """Pure: the payload for ``notification`` (no I/O, no clock)."""
        ...

    def deliver(self, payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        """Send ``payload`` at ``now``; return the conversation reference to keep for later payloads.

        ``now`` is the send time, which can be long after rendering when the receiver was
        down: time-sensitive fields (Alertmanager's ``endsAt``, a signature timestamp) use it.

        ``key`` is unique per outbox entry and stable across retries, so a receiver that can
        store it (Slack message metadata, a header) lets ``recover`` tell whether a send that
        was interrupted actually arrived.
        """
        ...

    def recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        """After a crash mid-send: ``(True, thread)`` if the receiver already has ``key``.

        Receivers that cannot look (incoming webhooks) return ``(False, thread)`` and the
        entry is sent again: at least once, never lost.
        """
        ...
