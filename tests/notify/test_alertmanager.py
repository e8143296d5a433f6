"""The Alertmanager receiver against a real Alertmanager started for this module, checked with amtool."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from alerter.core.errors import NotifyError
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify.alertmanager import AlertmanagerNotifier
from alerter.notify.base import Notification, NotifyReason

AlertFactory = Callable[..., Alert]
Amtool = Callable[..., list[dict[str, Any]]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def notification(alerts: list[Alert], now: float, reason: NotifyReason = NotifyReason.FIRST) -> Notification:
    return Notification("am", "g", Labels(alertname="TTFTAnomaly"), tuple(alerts), reason, now)


def test_firing_alert_is_visible_in_amtool_and_resolution_ends_it(
    alertmanager: str, amtool: Amtool, make_alert: AlertFactory
) -> None:
    now = time.time()  # Alertmanager compares endsAt with its own clock, so this test lives in real time
    notifier = AlertmanagerNotifier(
        "am",
        alertmanager,
        resend_interval=60,
        generator_url=lambda a, t: f"http://alerter/alerts/{a.fingerprint}",
    )
    firing = make_alert(fired_at=now - 120, model_name="am-test-1")
    notifier.deliver(notifier.render(notification([firing], now)), "k1", None, now)
    found = amtool(alertmanager, "model_name=am-test-1")
    assert len(found) == 1
    alert = found[0]
    assert alert["labels"] == {"alertname": "TTFTAnomaly", "severity": "page", "model_name": "am-test-1"}
    assert alert["annotations"]["runbook_url"] == "https://runbooks.example/ttft"
    assert alert["generatorURL"] == f"http://alerter/alerts/{firing.fingerprint}"
    assert alert["status"]["state"] == "active"

    resolved = Alert(**{**firing.__dict__, "state": AlertState.RESOLVED, "resolved_at": now - 1})
    notifier.deliver(notifier.render(notification([resolved], now, NotifyReason.RESOLVED)), "k2", None, now)
    assert amtool(alertmanager, "model_name=am-test-1") == []


def test_firing_alerts_carry_an_end_that_a_resend_extends(make_alert: AlertFactory) -> None:
    notifier = AlertmanagerNotifier("am", "http://127.0.0.1:9", resend_interval=60)
    body = notifier.render(notification([make_alert()], 1_767_225_600.0)).body
    assert body["alerts"][0]["endsAt"] == "2026-01-01T00:04:00.000Z"
    assert body["alerts"][0]["startsAt"] == "2025-12-31T23:50:00.000Z"


def test_bad_alert_is_refused_permanently_with_alertmanagers_reason(alertmanager: str) -> None:
    notifier = AlertmanagerNotifier("am", alertmanager)
    bad = Alert(rule="", group="g", labels=Labels(), state=AlertState.FIRING, fired_at=time.time())
    with pytest.raises(NotifyError, match="HTTP 400") as caught:
        notifier.deliver(notifier.render(notification([bad], time.time())), "k", None, time.time())
    assert not caught.value.retryable


def test_unreachable_alertmanager_is_retryable(make_alert: AlertFactory) -> None:
    notifier = AlertmanagerNotifier("am", f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(NotifyError, match="cannot reach") as caught:
        notifier.deliver(
            notifier.render(notification([make_alert()], 1_767_225_600.0)), "k", None, 1_767_225_600.0
        )
    assert caught.value.retryable


def test_url_and_interval_are_validated() -> None:
    with pytest.raises(ValueError, match="http://"):
        AlertmanagerNotifier("am", "alertmanager:9093")
    with pytest.raises(ValueError, match="resend_interval"):
        AlertmanagerNotifier("am", "http://am:9093", resend_interval=0)


def test_alert_held_back_by_an_outage_arrives_active(
    alertmanager: str, amtool: Amtool, make_alert: AlertFactory
) -> None:
    now = time.time()
    notifier = AlertmanagerNotifier("am", alertmanager, resend_interval=60)
    rendered = notifier.render(
        notification([make_alert(fired_at=now - 7200, model_name="am-late")], now - 3600)
    )
    notifier.deliver(rendered, "k", None, now)
    [alert] = amtool(alertmanager, "model_name=am-late")
    assert alert["status"]["state"] == "active", "endsAt counts from the send time"
