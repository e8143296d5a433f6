"""The Alertmanager receiver: forwards alerts to ``POST /api/v2/alerts``.

For teams whose routing, silencing and paging already live in an Alertmanager cluster (which
also deduplicates across several alerter replicas). Alertmanager resolves an alert on its own
when ``endsAt`` passes, so firing alerts carry ``endsAt = now + 4 × resend_interval`` and the
pipeline re-sends them every ``resend_interval`` (Prometheus does the same); resolved alerts
carry their resolution time. Each payload holds the group's whole state, so the outbox may drop
older undelivered payloads of a group in favour of the newest (``coalesce``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alerter.core.model import Alert, AlertState
from alerter.notify.base import Notification, Payload
from alerter.notify.http import post_json


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_labels(alert: Alert) -> dict[str, str]:
    """The alert's labels with ``alertname`` set, as Alertmanager requires."""
    return {"alertname": alert.rule, **dict(alert.labels)}


class AlertmanagerNotifier:
    """One Alertmanager (or a load balancer in front of a cluster)."""

    coalesce = True
    threads = False
    burst_limit = None

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 10.0,
        resend_interval: float = 60.0,
        generator_url: Callable[[Alert, float], str] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(
                f"alertmanager receiver {name!r}: url must start with http:// or https://, got {url!r}"
            )
        if resend_interval <= 0:
            raise ValueError(f"alertmanager receiver {name!r}: resend_interval must be > 0")
        self.name = name
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.resend_interval = resend_interval
        self.generator_url = generator_url

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier(name={self.name!r}, url={self.url!r})"

    def render(self, notification: Notification) -> Payload:
        alerts = [self._alert(a, notification.now) for a in notification.alerts]
        firing = [i for i, a in enumerate(notification.alerts) if a.state is not AlertState.RESOLVED]
        return Payload(notification.kind, {"alerts": alerts, "firing": firing})

    def _alert(self, alert: Alert, now: float) -> dict[str, Any]:
        started = alert.fired_at or alert.active_at or now
        if alert.state is AlertState.RESOLVED:
            ends = alert.resolved_at if alert.resolved_at is not None else now
        else:
            ends = now + 4 * self.resend_interval
        out: dict[str, Any] = {
            "labels": alert_labels(alert),
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(started),
            "endsAt": rfc3339(ends),
        }
        if self.generator_url is not None:
            out["generatorURL"] = self.generator_url(alert, now)
        return out

    def deliver(self, payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        """POST the alerts; firing ones get ``endsAt`` from the send time, not the render time,
        so alerts held back by an outage do not arrive already expired."""
        alerts = [dict(a) for a in payload.body["alerts"]]
        for index in payload.body.get("firing", []):
            alerts[index]["endsAt"] = rfc3339(now + 4 * self.resend_interval)
        body = json.dumps(alerts).encode()
        what = f"alertmanager receiver {self.name}"
        post_json(f"{self.url}/api/v2/alerts", body, what=what, timeout=self.timeout, headers={})
        return thread

    def recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        """Posting the same alerts again is harmless: Alertmanager merges them."""
        return False, thread
