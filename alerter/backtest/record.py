"""What a backtest records while it replays: alert episodes, notifications, remediation decisions.

``alerter.backtest.replay`` hands ``RecordingNotifier`` objects to the real notification pipeline in place
of Slack, Alertmanager and webhooks (routing, grouping, muting and dedup run unchanged; delivery
appends to a list), feeds every tick's alerts to ``Episodes``, and appends the remediation
runner's events. The report module turns these values into tables, JSON and HTML.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alerter.core.model import Alert, AlertState
from alerter.notify.base import Notification, Payload
from alerter.remediate.contracts import Event


@dataclass
class Episode:
    """One series of one rule from the moment it fired until it resolved (None: still firing).

    Episodes recorded with pending ones (:class:`Episodes` ``pending=True``) start when the alert
    turned pending; ``fired_at`` is None for one that never fired, i.e. never paged.
    """

    rule: str
    group: str
    labels: dict[str, str]
    fingerprint: str
    active_at: float
    fired_at: float | None
    resolved_at: float | None = None
    peak_value: float = float("nan")
    peak_score: float = 0.0
    tier: str = ""
    chart: bytes | None = field(default=None, repr=False)

    def end(self, until: float) -> float:
        return self.resolved_at if self.resolved_at is not None else until

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "group": self.group,
            "labels": self.labels,
            "fingerprint": self.fingerprint,
            "active_at": self.active_at,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "peak_value": None if math.isnan(self.peak_value) else self.peak_value,
            "peak_score": self.peak_score,
            "tier": self.tier,
        }


class Episodes:
    """Firing periods of every alert, from the alerts the engine hands its sink each tick.

    ``pending`` also records the periods an alert was pending without firing (what a stricter
    ``for`` would have paged), and starts every episode when its alert turned pending.
    """

    def __init__(self, *, pending: bool = False) -> None:
        self.closed: list[Episode] = []
        self.open: dict[str, Episode] = {}
        self.pending = pending

    def observe(self, alert: Alert, now: float) -> Episode | None:
        """Track ``alert``; return its episode when this observation ended it."""
        fp = alert.fingerprint
        current = self.open.get(fp)
        firing = alert.state is AlertState.FIRING
        if firing or (self.pending and alert.state is AlertState.PENDING):
            if current is None:
                fired = (alert.fired_at if alert.fired_at is not None else now) if firing else None
                active = alert.active_at if alert.active_at is not None else (fired or now)
                current = Episode(alert.rule, alert.group, dict(alert.labels), fp, active, fired)
                self.open[fp] = current
            elif firing and current.fired_at is None:
                current.fired_at = alert.fired_at if alert.fired_at is not None else now
            if not math.isnan(alert.value) and not alert.value <= current.peak_value:
                current.peak_value = alert.value
            current.peak_score = max(current.peak_score, alert.score)
            current.tier = alert.tier or current.tier
            return None
        if current is None:
            return None
        ended = alert.resolved_at if alert.resolved_at is not None and current.fired_at is not None else now
        current.resolved_at = ended
        del self.open[fp]
        self.closed.append(current)
        return current

    def observe_tick(self, alerts: Sequence[Alert], now: float, group: str) -> list[Episode]:
        """Track one tick's alerts of ``group``; return the episodes that ended at this tick.

        The engine hands over every alert it keeps; one that went back to inactive without
        firing is forgotten and so simply absent, which ends its episode too.
        """
        ended = [e for e in (self.observe(a, now) for a in alerts) if e is not None]
        present = {a.fingerprint for a in alerts}
        for fp, episode in list(self.open.items()):
            if episode.group == group and fp not in present:
                episode.resolved_at = now
                del self.open[fp]
                self.closed.append(episode)
                ended.append(episode)
        return ended

    def all(self) -> list[Episode]:
        episodes = [*self.closed, *self.open.values()]
        return sorted(
            episodes, key=lambda e: (e.rule, e.active_at if e.fired_at is None else e.fired_at, e.fingerprint)
        )


@dataclass(frozen=True)
class Delivery:
    """One notification a receiver would have received."""

    at: float
    receiver: str
    kind: str
    reason: str
    group_key: str
    firing: tuple[dict[str, Any], ...]
    resolved: tuple[dict[str, Any], ...]

    @property
    def pages(self) -> bool:
        """Whether this notification tells someone about a firing severity=page alert."""
        return any(a["labels"].get("severity") == "page" for a in self.firing)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "receiver": self.receiver,
            "kind": self.kind,
            "reason": self.reason,
            "group_key": self.group_key,
            "firing": list(self.firing),
            "resolved": list(self.resolved),
        }


def _brief(alert: Alert) -> dict[str, Any]:
    return {"rule": alert.rule, "labels": dict(alert.labels), "fingerprint": alert.fingerprint}


@dataclass
class RecordingNotifier:
    """A receiver (``alerter.notify.base.Notifier``) that keeps what it would have sent.

    Thread notes (remediation decisions) are recorded too, as kind ``reply`` without alerts.
    """

    receiver: str
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.receiver

    @property
    def resend_interval(self) -> float | None:
        return None

    @property
    def coalesce(self) -> bool:
        return False

    @property
    def burst_limit(self) -> int | None:
        return None

    @property
    def threads(self) -> bool:
        return True

    def render(self, notification: Notification) -> Payload:
        body = {
            "reason": notification.reason.value,
            "group_key": notification.group_key,
            "firing": [_brief(a) for a in notification.firing],
            "resolved": [_brief(a) for a in notification.resolved],
        }
        return Payload(notification.kind, body)

    def deliver(self, payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        body = payload.body
        self.deliveries.append(
            Delivery(
                now,
                self.receiver,
                payload.kind.value,
                str(body.get("reason", "note")),
                str(body.get("group_key", "")),
                tuple(body.get("firing", ())),
                tuple(body.get("resolved", ())),
            )
        )
        return thread or key

    def recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        return False, thread


def event_json(event: Event) -> dict[str, Any]:
    return {
        "at": event.at,
        "decision": event.decision,
        "policy": event.policy,
        "target": event.target,
        "rule": event.rule,
        "alert": event.alert,
        "reason": event.reason,
        "gate": event.gate,
    }


__all__ = ["Delivery", "Episode", "Episodes", "RecordingNotifier", "event_json"]
