"""The Alertmanager receiver against a real Alertmanager started for this module, checked with amtool."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerter.errors import NotifyError
from alerter.model import Alert, AlertState, Labels
from alerter.notify.alertmanager import AlertmanagerNotifier
from alerter.notify.base import Notification, NotifyReason

AlertFactory = Callable[..., Alert]
pytestmark = pytest.mark.skipif(
    shutil.which("prometheus-alertmanager") is None or shutil.which("amtool") is None,
    reason="needs the Debian prometheus-alertmanager package (make debs)",
)
CONFIG = "route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("alertmanager")
    (root / "am.yml").write_text(CONFIG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            "prometheus-alertmanager",
            f"--config.file={root / 'am.yml'}",
            f"--storage.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "am.log").open("w"),
    )
    try:
        wait_ready(url, process, root / "am.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Startup polling: this is a real server, so waiting for it is the only way to know."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"alertmanager exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("alertmanager did not become ready in 30s")


def amtool_alerts(url: str, *matchers: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["amtool", "alert", "query", f"--alertmanager.url={url}", "-o", "json", *matchers],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return list(json.loads(out or "[]"))


def notification(alerts: list[Alert], now: float, reason: NotifyReason = NotifyReason.FIRST) -> Notification:
    return Notification("am", "g", Labels(alertname="TTFTAnomaly"), tuple(alerts), reason, now)


def test_firing_alert_is_visible_in_amtool_and_resolution_ends_it(
    alertmanager: str, make_alert: AlertFactory
) -> None:
    now = time.time()  # Alertmanager compares endsAt with its own clock, so this test lives in real time
    notifier = AlertmanagerNotifier(
        "am",
        alertmanager,
        resend_interval=60,
        generator_url=lambda a, t: f"http://alerter/alerts/{a.fingerprint}",
    )
    firing = make_alert(fired_at=now - 120, model_name="am-test-1")
    notifier.deliver(notifier.render(notification([firing], now)), "k1", None)
    found = amtool_alerts(alertmanager, "model_name=am-test-1")
    assert len(found) == 1
    alert = found[0]
    assert alert["labels"] == {"alertname": "TTFTAnomaly", "severity": "page", "model_name": "am-test-1"}
    assert alert["annotations"]["runbook_url"] == "https://runbooks.example/ttft"
    assert alert["generatorURL"] == f"http://alerter/alerts/{firing.fingerprint}"
    assert alert["status"]["state"] == "active"

    resolved = Alert(**{**firing.__dict__, "state": AlertState.RESOLVED, "resolved_at": now - 1})
    notifier.deliver(notifier.render(notification([resolved], now, NotifyReason.RESOLVED)), "k2", None)
    assert amtool_alerts(alertmanager, "model_name=am-test-1") == []


def test_firing_alerts_carry_an_end_that_a_resend_extends(make_alert: AlertFactory) -> None:
    notifier = AlertmanagerNotifier("am", "http://127.0.0.1:9", resend_interval=60)
    body = notifier.render(notification([make_alert()], 1_767_225_600.0)).body
    assert body["alerts"][0]["endsAt"] == "2026-01-01T00:04:00.000Z"
    assert body["alerts"][0]["startsAt"] == "2025-12-31T23:50:00.000Z"


def test_bad_alert_is_refused_permanently_with_alertmanagers_reason(alertmanager: str) -> None:
    notifier = AlertmanagerNotifier("am", alertmanager)
    bad = Alert(rule="", group="g", labels=Labels(), state=AlertState.FIRING, fired_at=time.time())
    with pytest.raises(NotifyError, match="HTTP 400") as caught:
        notifier.deliver(notifier.render(notification([bad], time.time())), "k", None)
    assert not caught.value.retryable


def test_unreachable_alertmanager_is_retryable(make_alert: AlertFactory) -> None:
    notifier = AlertmanagerNotifier("am", f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(NotifyError, match="cannot reach") as caught:
        notifier.deliver(notifier.render(notification([make_alert()], 1_767_225_600.0)), "k", None)
    assert caught.value.retryable


def test_url_and_interval_are_validated() -> None:
    with pytest.raises(ValueError, match="http://"):
        AlertmanagerNotifier("am", "alertmanager:9093")
    with pytest.raises(ValueError, match="resend_interval"):
        AlertmanagerNotifier("am", "http://am:9093", resend_interval=0)
