"""The generic webhook receiver: Alertmanager's webhook JSON, optionally HMAC-signed.

Anything that already consumes Alertmanager webhooks (incident tools, chat bridges) can take
alerter's notifications unchanged. With a secret, each request carries
``X-Alerter-Signature: sha256=<hex>``, an HMAC-SHA256 over ``"{timestamp}.{body}"`` with the
send time in ``X-Alerter-Timestamp``, so the receiver can reject forged or replayed requests;
``X-Alerter-Key`` is stable across retries so it can drop a repeat after a crash mid-send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from alerter.core.model import AlertState
from alerter.notify.alertmanager import alert_labels, rfc3339
from alerter.notify.base import Notification, Payload
from alerter.notify.http import post_json
from alerter.notify.secret import Secret

MAX_ALERTS = 1000


def sign(secret: Secret, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.reveal().encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier:
    """POSTs Alertmanager-compatible webhook payloads to one URL."""

    coalesce = False
    threads = False
    burst_limit = None
    resend_interval = None

    def __init__(
        self,
        name: str,
        url: str | Secret,
        *,
        hmac_secret: Secret | None = None,
        timeout: float = 10.0,
        external_url: str = "",
    ) -> None:
        plain = url.reveal() if isinstance(url, Secret) else url
        if not plain.startswith(("http://", "https://")):
            raise ValueError(f"webhook receiver {name!r}: url must start with http:// or https://")
        self.name = name
        self.url = url
        self.hmac_secret = hmac_secret
        self.timeout = timeout
        self.external_url = external_url

    def __repr__(self) -> str:
        shown = self.url if isinstance(self.url, str) else "Secret('********')"
        return f"WebhookNotifier(name={self.name!r}, url={shown!r}, signed={self.hmac_secret is not None})"

    def render(self, notification: Notification) -> Payload:
        return Payload(notification.kind, render_body(notification, self.external_url))

    def deliver(self, payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        body = json.dumps(payload.body, sort_keys=True).encode()
        headers = {"X-Alerter-Key": key}
        if self.hmac_secret is not None:
            timestamp = str(int(now))
            headers["X-Alerter-Timestamp"] = timestamp
            headers["X-Alerter-Signature"] = sign(self.hmac_secret, timestamp, body)
        post_json(self.url, body, what=f"webhook receiver {self.name}", timeout=self.timeout, headers=headers)
        return thread

    def recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        """Unknowable from here: send again; ``X-Alerter-Key`` lets the receiver drop the repeat."""
        return False, thread


def render_body(notification: Notification, external_url: str = "") -> dict[str, Any]:
    """Alertmanager's webhook payload (version 4) for one group."""
    alerts = []
    for alert in notification.alerts[:MAX_ALERTS]:
        resolved = alert.state is AlertState.RESOLVED
        ends = alert.resolved_at if resolved and alert.resolved_at is not None else None
        alerts.append(
            {
                "status": "resolved" if resolved else "firing",
                "labels": alert_labels(alert),
                "annotations": dict(alert.annotations),
                "startsAt": rfc3339(alert.fired_at or alert.active_at or notification.now),
                "endsAt": rfc3339(ends) if ends is not None else "0001-01-01T00:00:00Z",
                "generatorURL": external_url,
                "fingerprint": alert.fingerprint,
            }
        )
    labels = [alert_labels(a) for a in notification.alerts]
    common = {k: v for k, v in labels[0].items() if all(lab.get(k) == v for lab in labels)} if labels else {}
    annotations = [dict(a.annotations) for a in notification.alerts]
    common_ann = (
        {k: v for k, v in annotations[0].items() if all(a.get(k) == v for a in annotations)}
        if annotations
        else {}
    )
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": max(0, len(notification.alerts) - MAX_ALERTS),
        "status": "firing" if notification.firing else "resolved",
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": common,
        "commonAnnotations": common_ann,
        "externalURL": external_url,
        "alerts": alerts,
        "alerterReason": notification.reason.value,
        "alerterTime": notification.now,
    }
