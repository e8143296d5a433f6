"""The generic webhook receiver against a local HTTP server that records what it got."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alerter.core.errors import NotifyError
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify.base import Notification, NotifyReason
from alerter.notify.secret import Secret
from alerter.notify.webhook import WebhookNotifier, render_body, sign

AlertFactory = Callable[..., Alert]
T0 = 1_767_225_600.0


@dataclass
class Receiver:
    url: str
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.got.append((dict(self.headers.items()), body))
            status, headers = state.answers.pop(0) if state.answers else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"refused")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook/s3cr3t-path"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def group(make_alert: AlertFactory) -> Notification:
    alerts = (make_alert(pod="a"), make_alert(pod="b", state=AlertState.RESOLVED))
    return Notification("hooks", "g1", Labels(alertname="TTFTAnomaly"), alerts, NotifyReason.NEW_ALERTS, T0)


def test_body_is_alertmanager_webhook_v4(make_alert: AlertFactory) -> None:
    body = render_body(group(make_alert), "http://alerter:9464")
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hooks"
    assert body["groupLabels"] == {"alertname": "TTFTAnomaly"}
    assert body["commonLabels"] == {
        "alertname": "TTFTAnomaly",
        "severity": "page",
        "model_name": "llama3-70b",
    }
    assert body["commonAnnotations"]["runbook_url"] == "https://runbooks.example/ttft"
    firing, resolved = body["alerts"]
    assert firing["status"] == "firing" and firing["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["status"] == "resolved" and resolved["endsAt"] == "2026-01-01T00:00:00.000Z"
    assert firing["labels"]["pod"] == "a" and firing["startsAt"] == "2025-12-31T23:50:00.000Z"


def test_signed_delivery_verifies_with_the_shared_secret(
    receiver: Receiver, make_alert: AlertFactory
) -> None:
    secret = Secret("hmac-key")
    notifier = WebhookNotifier("hooks", receiver.url, hmac_secret=secret)
    notifier.deliver(notifier.render(group(make_alert)), "key-1", None, T0 + 30)
    [(headers, body)] = receiver.got
    assert headers["X-Alerter-Key"] == "key-1" and headers["X-Alerter-Timestamp"] == str(int(T0 + 30)), (
        "send time"
    )
    expected = hmac.new(b"hmac-key", str(int(T0 + 30)).encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-Alerter-Signature"] == f"sha256={expected}" == sign(secret, str(int(T0 + 30)), body)
    assert json.loads(body)["groupKey"] == "g1"


def test_unsigned_delivery_has_no_signature(receiver: Receiver, make_alert: AlertFactory) -> None:
    notifier = WebhookNotifier("hooks", receiver.url)
    notifier.deliver(notifier.render(group(make_alert)), "key-1", None, T0 + 30)
    assert "X-Alerter-Signature" not in receiver.got[0][0]


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (500, {}, True, None),
        (429, {"Retry-After": "12"}, True, 12.0),
        (400, {}, False, None),
        (404, {}, False, None),
    ],
)
def test_failures_say_whether_to_retry(
    receiver: Receiver,
    make_alert: AlertFactory,
    status: int,
    headers: dict[str, str],
    retryable: bool,
    retry_after: float | None,
) -> None:
    receiver.answers.append((status, headers))
    notifier = WebhookNotifier("hooks", Secret(receiver.url))
    with pytest.raises(NotifyError) as caught:
        notifier.deliver(notifier.render(group(make_alert)), "k", None, T0 + 30)
    assert caught.value.retryable is retryable and caught.value.retry_after == retry_after
    assert "s3cr3t-path" not in str(caught.value) and "s3cr3t-path" not in repr(notifier)


def test_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        WebhookNotifier("hooks", "ftp://x")
