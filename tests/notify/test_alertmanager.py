"""The Alertmanager receiver against a real Alertmanager started for this module, checked with amtool."""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness import GarbageServer, Reply, self_signed_certificate

from alerter.config import load
from alerter.config.engine import Receiver
from alerter.config.engine import Route as RouteConfig
from alerter.core.errors import ConfigError, ConfigErrors, NotifyError
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify import alertmanager as alertmanager_module
from alerter.notify import http
from alerter.notify import route as routing
from alerter.notify.alertmanager import AlertmanagerNotifier, alert_labels, match_refusals, refusal
from alerter.notify.base import Notification, NotifyReason
from alerter.notify.pipeline import Pipeline
from alerter.notify.secret import Secret
from alerter.notify.sender import PartialDelivery
from alerter.notify.wiring import notifiers_from_config
from alerter.store.sqlite import Store

AlertFactory = Callable[..., Alert]
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC: Alertmanager validates without its clock
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


# -- a batch with invalid alerts -------------------------------------------------------------
# Alertmanager stores the valid alerts of a batch and answers 400 with the errors of the others,
# joined by "; " and naming no alert (postAlertsHandler in prometheus/alertmanager api/v2/api.go;
# the errors are prometheus/common model.Alert.Validate's, model/alert.go).


def with_labels(alert: Alert, **labels: str) -> Alert:
    return Alert(**{**alert.__dict__, "labels": alert.labels.with_(**labels)})


def test_a_batch_with_an_invalid_alert_delivers_the_others_and_names_the_bad_one(
    alertmanager: str, amtool: Amtool, make_alert: AlertFactory
) -> None:
    now = time.time()
    notifier = AlertmanagerNotifier("am", alertmanager)
    good = make_alert(fired_at=now - 60, model_name="am-partial-good")
    bad = with_labels(make_alert(fired_at=now - 60, model_name="am-partial-bad"), **{"http.status": "500"})
    other = make_alert(fired_at=now - 60, model_name="am-partial-good2")
    payload = notifier.render(notification([good, bad, other], now))
    with pytest.raises(PartialDelivery) as caught:
        notifier.deliver(payload, "k", None, now)
    assert caught.value.refused == 1 and not caught.value.retryable
    message = str(caught.value)
    assert "refused 1 of 3 alert(s) (HTTP 400)" in message
    assert 'model_name="am-partial-bad"' in message and 'invalid name "http.status"' in message
    assert "am-partial-good" not in message
    assert [a["labels"]["model_name"] for a in amtool(alertmanager, "model_name=~am-partial-.*")] == [
        "am-partial-good",
        "am-partial-good2",
    ]


def test_a_refused_alert_is_left_out_of_later_sends_of_its_group(
    alertmanager: str, make_alert: AlertFactory, garbage_server: GarbageServer
) -> None:
    now = time.time()
    notifier = AlertmanagerNotifier("am", alertmanager)
    good = make_alert(fired_at=now - 60, model_name="am-resend-good")
    bad = make_alert(rule="", fired_at=now - 60, model_name="")
    bad = Alert(**{**bad.__dict__, "labels": Labels()})
    with pytest.raises(PartialDelivery, match="at least one label pair required"):
        notifier.deliver(notifier.render(notification([good, bad], now)), "k1", None, now)
    notifier.url = garbage_server.url  # the resend goes where its body can be read
    garbage_server.reply = Reply(status=200, body=b"", content_type="application/json")
    later = now + 60
    assert notifier.deliver(notifier.render(notification([good, bad], later)), "k2", None, later) is None
    [request] = garbage_server.requests
    assert [a["labels"] for a in json.loads(request.body)] == [alert_labels(good)]


def test_an_alert_refused_for_its_end_alone_is_sent_again_once_its_end_is_valid(
    alertmanager: str, make_alert: AlertFactory, garbage_server: GarbageServer
) -> None:
    """A firing alert whose start lies beyond ``now + 4 × resend_interval`` (a clock ahead of
    ours) ends before it starts; later sends move its end past the start."""
    now = time.time()
    notifier = AlertmanagerNotifier("am", alertmanager, resend_interval=60)
    good = make_alert(fired_at=now - 60, model_name="am-ends-good")
    ahead = make_alert(fired_at=now + 600, model_name="am-ends-ahead")
    payload = notifier.render(notification([good, ahead], now))
    with pytest.raises(PartialDelivery, match="start time must be before end time"):
        notifier.deliver(payload, "k1", None, now)
    notifier.url = garbage_server.url
    garbage_server.reply = Reply(status=200, body=b"", content_type="application/json")
    notifier.deliver(payload, "k2", None, now + 60)
    notifier.deliver(payload, "k3", None, now + 400)
    sent = [[a["labels"]["model_name"] for a in json.loads(r.body)] for r in garbage_server.requests]
    assert sent == [["am-ends-good"], ["am-ends-good", "am-ends-ahead"]]


@pytest.mark.parametrize(
    ("alert", "errors"),
    [
        ({"labels": {"alertname": "A"}, "startsAt": "2026-01-01T00:00:00.000Z"}, []),
        ({"labels": {"alertname": "", "x": ""}}, ["at least one label pair required"]),
        ({"labels": {"alertname": "A", "1x": "v"}}, ['invalid label set: invalid name "1x"']),
        (
            {"labels": {"alertname": "A", "a.b": "v", 'c"d': "v"}},
            ['invalid label set: invalid name "a.b"', 'invalid label set: invalid name "c\\"d"'],
        ),
        (
            {"labels": {"alertname": "A"}, "annotations": {"run-book": ""}},
            ['invalid annotations: invalid name "run-book"'],
        ),
        (
            {"labels": {"alertname": "A", "ok": "\t"}, "annotations": {"x\ty": "v"}},
            ['invalid annotations: invalid name "x\\ty"'],
        ),
    ],
)
def test_refusal_gives_alertmanagers_errors(alert: dict[str, Any], errors: list[str]) -> None:
    assert refusal(alert) == errors


def test_refusals_are_matched_to_alerts_only_when_they_explain_the_whole_answer() -> None:
    good = {"labels": {"alertname": "A"}}
    no_labels: dict[str, Any] = {"labels": {}}
    dotted = {"labels": {"alertname": "A", "a.b": "v"}}
    answer = 'at least one label pair required; invalid label set: invalid name "a.b"'
    assert match_refusals([good, no_labels, good, dotted], answer) == [
        (1, "at least one label pair required"),
        (3, 'invalid label set: invalid name "a.b"'),
    ]
    assert match_refusals([good, no_labels, good, dotted], "at least one label pair required") is None
    assert match_refusals([good, dotted], answer) is None
    assert match_refusals([good], "some rule of a newer Alertmanager") is None


class _Unjudging(AlertmanagerNotifier):
    """A notifier that cannot tell which alerts a server refuses, as against a server whose rules
    differ from Alertmanager 0.25's, so it must find them by sending halves again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.posts = 0

    def _post(self, alerts: Sequence[dict[str, Any]]) -> None:
        self.posts += 1
        super()._post(alerts)


def test_refused_alerts_the_local_rules_do_not_explain_are_found_by_halving(
    alertmanager: str, amtool: Amtool, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alertmanager_module, "match_refusals", lambda alerts, answer: None)
    now = time.time()
    notifier = _Unjudging("am", alertmanager)
    alerts = [make_alert(fired_at=now - 60, model_name=f"am-halving-{i}") for i in range(8)]
    alerts[5] = with_labels(alerts[5], **{"bad.name": "x"})
    with pytest.raises(PartialDelivery) as caught:
        notifier.deliver(notifier.render(notification(alerts, now)), "k", None, now)
    assert caught.value.refused == 1 and 'model_name="am-halving-5"' in str(caught.value)
    assert notifier.posts == 1 + 2 + 2 + 2, "the batch, then halves down to the bad alert"
    found = {a["labels"]["model_name"] for a in amtool(alertmanager, "model_name=~am-halving-.*")}
    assert found == {f"am-halving-{i}" for i in range(8) if i != 5}


def test_a_batch_of_only_invalid_alerts_fails_permanently_and_is_not_sent_again(
    alertmanager: str, make_alert: AlertFactory
) -> None:
    now = time.time()
    notifier = _Unjudging("am", alertmanager)
    bad = with_labels(make_alert(fired_at=now - 60, model_name="am-all-bad"), **{"a-b": "x"})
    with pytest.raises(NotifyError, match="refused 1 of 1") as caught:
        notifier.deliver(notifier.render(notification([bad], now)), "k", None, now)
    assert not caught.value.retryable and not isinstance(caught.value, PartialDelivery)
    assert notifier.deliver(notifier.render(notification([bad], now + 60)), "k2", None, now + 60) is None
    assert notifier.posts == 1


def test_resends_through_the_pipeline_report_a_bad_alert_once_and_never_fail_the_good_ones(
    alertmanager: str, make_alert: AlertFactory, tmp_path: Path
) -> None:
    notifier = AlertmanagerNotifier("am", alertmanager, resend_interval=60)
    route = routing.build(RouteConfig.model_validate({"receiver": "am", "group_by": [], "group_wait": "0s"}))
    with Store(tmp_path / "state.db") as store:
        pipeline = Pipeline(store, route, {"am": notifier})
        good = make_alert(model_name="am-pipeline-good")
        bad = with_labels(make_alert(model_name="am-pipeline-bad"), **{"pod.name": "x"})
        pipeline.ingest([good, bad], T0)
        reports = [pipeline.flush(T0 + step) for step in (0, 60, 120)]
        assert [(r.sent, r.refused, r.failed) for r in reports] == [(1, 1, 0), (1, 0, 0), (1, 0, 0)]
        errors = [e.last_error for e in reversed(pipeline.outbox.history())]
        assert "pod.name" in errors[0] and errors[1:] == ["", ""]


# -- authentication and TLS ------------------------------------------------------------------

PASSWORD = "am-basic-password"
PASSWORD_BCRYPT = "$2b$04$xvIJVbW4QN2P8Qbh/HjQzeTVRLRhCgpxUrBlf6jTjqxqb/GTbXrwy"
"""bcrypt of PASSWORD (cost 4): Alertmanager's --web.config.file takes only hashes
(prometheus/exporter-toolkit web/tls_config.go, basic_auth_users)."""


@dataclass(frozen=True)
class SecureAlertmanager:
    url: str
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def secure_alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureAlertmanager]:
    """A real Alertmanager behind its own TLS (client certificates required) and basic auth."""
    root = tmp_path_factory.mktemp("secure-alertmanager")
    (root / "server").mkdir()
    (root / "client").mkdir()
    server_cert, server_key = self_signed_certificate(root / "server")
    client_cert, client_key = self_signed_certificate(root / "client")
    (root / "am.yml").write_text("route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n")
    (root / "web.yml").write_text(
        f"tls_server_config:\n  cert_file: {server_cert}\n  key_file: {server_key}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {client_cert}\n"
        f"basic_auth_users:\n  alerter: '{PASSWORD_BCRYPT}'\n"
    )
    port = free_port()
    binary = shutil.which("prometheus-alertmanager")
    assert binary is not None, "prometheus-alertmanager is not installed: run `make debs`"
    with (root / "am.log").open("w") as stderr:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={root / 'am.yml'}",
                f"--storage.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.config.file={root / 'web.yml'}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = SecureAlertmanager(f"https://127.0.0.1:{port}", server_cert, client_cert, client_key)
    try:
        _wait_until_ready(server, process, root / "am.log")
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)


def _client(server: SecureAlertmanager) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    context.load_cert_chain(server.cert_file, server.key_file)
    return context


def _get(server: SecureAlertmanager, path: str) -> bytes:
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": http.basic("alerter", Secret(PASSWORD)).reveal()}
    )
    with urllib.request.urlopen(request, timeout=5, context=_client(server)) as response:
        return bytes(response.read())


def _wait_until_ready(server: SecureAlertmanager, process: subprocess.Popen[bytes], log: Path) -> None:
    """Startup polling: a real server, so waiting for it is the only way to know."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"alertmanager exited: {log.read_text()[-2000:]}")
        try:
            _get(server, "/-/ready")
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"alertmanager did not become ready in 30s: {log.read_text()[-2000:]}")


def am_receiver(url: str, **options: Any) -> Receiver:
    return Receiver.model_validate({"name": "am", "alertmanager": {"url": url, **options}})


def build(receiver: Receiver, environ: dict[str, str] | None = None) -> AlertmanagerNotifier:
    notifier = notifiers_from_config([receiver], environ=environ or {})["am"]
    assert isinstance(notifier, AlertmanagerNotifier)
    return notifier


def test_basic_auth_and_a_client_certificate_reach_an_alertmanager_that_requires_them(
    secure_alertmanager: SecureAlertmanager, make_alert: AlertFactory, tmp_path: Path
) -> None:
    server = secure_alertmanager
    (tmp_path / "password").write_text(PASSWORD + "\n")
    notifier = build(
        am_receiver(
            server.url,
            basic_auth={"username": "alerter", "password_file": str(tmp_path / "password")},
            ca_file=str(server.ca_file),
            cert_file=str(server.cert_file),
            key_file=str(server.key_file),
        )
    )
    now = time.time()
    notifier.deliver(notifier.render(notification([make_alert(fired_at=now - 60)], now)), "k", None, now)
    assert [a["labels"]["model_name"] for a in json.loads(_get(server, "/api/v2/alerts"))] == ["llama3-70b"]
    assert PASSWORD not in repr(notifier)


def test_a_wrong_password_is_a_permanent_error(
    secure_alertmanager: SecureAlertmanager, make_alert: AlertFactory
) -> None:
    server = secure_alertmanager
    options = {
        "ca_file": str(server.ca_file),
        "cert_file": str(server.cert_file),
        "key_file": str(server.key_file),
    }
    notifier = build(
        am_receiver(server.url, basic_auth={"username": "alerter", "password_env": "PW"}, **options),
        {"PW": "wrong"},
    )
    with pytest.raises(NotifyError, match="HTTP 401") as caught:
        notifier.deliver(notifier.render(notification([make_alert()], T0)), "k", None, T0)
    assert not caught.value.retryable and "wrong" not in str(caught.value)


def test_the_server_certificate_is_verified_unless_told_not_to(
    secure_alertmanager: SecureAlertmanager, make_alert: AlertFactory
) -> None:
    server = secure_alertmanager
    auth = {"username": "alerter", "password_env": "PW"}
    client = {"cert_file": str(server.cert_file), "key_file": str(server.key_file)}
    unverified = build(am_receiver(server.url, basic_auth=auth, **client), {"PW": PASSWORD})
    with pytest.raises(NotifyError, match="CERTIFICATE_VERIFY_FAILED"):
        unverified.deliver(unverified.render(notification([make_alert()], T0)), "k", None, T0)
    skipping = build(
        am_receiver(server.url, basic_auth=auth, insecure_skip_verify=True, **client), {"PW": PASSWORD}
    )
    skipping.deliver(skipping.render(notification([make_alert()], T0)), "k", None, T0)


def test_a_missing_client_certificate_is_refused_by_the_server(
    secure_alertmanager: SecureAlertmanager, make_alert: AlertFactory
) -> None:
    server = secure_alertmanager
    auth = {"username": "alerter", "password_env": "PW"}
    notifier = build(am_receiver(server.url, basic_auth=auth, ca_file=str(server.ca_file)), {"PW": PASSWORD})
    with pytest.raises(NotifyError, match="cannot reach"):
        notifier.deliver(notifier.render(notification([make_alert()], T0)), "k", None, T0)


def test_a_bearer_token_is_sent_in_the_authorization_header(
    garbage_server: GarbageServer, make_alert: AlertFactory, tmp_path: Path
) -> None:
    """Alertmanager has no bearer auth of its own; a proxy in front of it checks the token, and
    Alertmanager behind it answers a good POST with 200 and no body (api/v2 postAlertsHandler,
    NewPostAlertsOK)."""
    garbage_server.reply = Reply(status=200, body=b"", content_type="application/json")
    (tmp_path / "token").write_text("am-bearer-token\n")
    notifier = build(am_receiver(garbage_server.url, bearer_token_file=str(tmp_path / "token")))
    notifier.deliver(notifier.render(notification([make_alert()], T0)), "k", None, T0)
    [request] = garbage_server.requests
    assert request.path == "/api/v2/alerts" and request.headers["Authorization"] == "Bearer am-bearer-token"
    from_env = build(am_receiver(garbage_server.url, bearer_token_env="TOKEN"), {"TOKEN": "from-env"})
    from_env.deliver(from_env.render(notification([make_alert()], T0)), "k", None, T0)
    assert garbage_server.requests[1].headers["Authorization"] == "Bearer from-env"


def test_without_credentials_no_authorization_header_is_sent(
    garbage_server: GarbageServer, make_alert: AlertFactory
) -> None:
    garbage_server.reply = Reply(status=200, body=b"", content_type="application/json")
    notifier = build(am_receiver(garbage_server.url))
    notifier.deliver(notifier.render(notification([make_alert()], T0)), "k", None, T0)
    assert "Authorization" not in garbage_server.requests[0].headers


def test_resend_interval_comes_from_config_and_defaults_to_prometheus_resend_delay() -> None:
    """Prometheus re-sends firing alerts every --rules.alert.resend-delay, 1m by default
    (prometheus/prometheus cmd/prometheus/main.go)."""
    assert build(am_receiver("http://127.0.0.1:9093")).resend_interval == 60.0
    configured = build(am_receiver("http://127.0.0.1:9093", resend_interval="2m"))
    assert configured.resend_interval == 120.0
    body = configured.render(notification([_alert_at(T0)], T0)).body
    assert body["alerts"][0]["endsAt"] == "2026-01-01T00:08:00.000Z", "4 × resend_interval"


def _alert_at(fired: float) -> Alert:
    return Alert(rule="A", group="g", labels=Labels(x="y"), state=AlertState.FIRING, fired_at=fired)


def test_missing_credentials_and_tls_files_fail_the_build_naming_the_field(tmp_path: Path) -> None:
    https = "https://127.0.0.1:9093"
    with pytest.raises(
        ConfigError, match=r"receivers\.am\.alertmanager\.bearer_token: environment variable T"
    ):
        build(am_receiver(https, bearer_token_env="T"))
    with pytest.raises(ConfigError, match=r"receivers\.am\.alertmanager\.basic_auth\.password: cannot read"):
        build(am_receiver(https, basic_auth={"username": "u", "password_file": str(tmp_path / "nope")}))
    with pytest.raises(ConfigError, match=r"receivers\.am\.alertmanager\.ca_file: cannot read"):
        build(am_receiver(https, ca_file=str(tmp_path / "ca.pem")))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"junk\.pem: receivers\.am\.alertmanager\.ca_file: not usable"):
        build(am_receiver(https, ca_file=str(tmp_path / "junk.pem")))
    cert, _ = self_signed_certificate(tmp_path)
    with pytest.raises(ConfigError, match=r"receivers\.am\.alertmanager\.key_file: cannot read"):
        build(am_receiver(https, cert_file=str(cert), key_file=str(tmp_path / "none.key")))
    with pytest.raises(ConfigError, match=r"receivers\.am\.alertmanager\.cert_file: not usable"):
        build(am_receiver(https, cert_file=str(cert), key_file=str(tmp_path / "junk.pem")))


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        (
            {"url": "alertmanager:9093"},
            "receivers[0].alertmanager.url",
            "must start with http:// or https://",
        ),
        ({"resend_interval": "0s"}, "receivers[0].alertmanager.resend_interval", "greater than 0"),
        (
            {"bearer_token_env": "T", "basic_auth": {"username": "u", "password_env": "P"}},
            "receivers[0].alertmanager",
            "give only one of bearer_token_env, bearer_token_file, basic_auth",
        ),
        ({"basic_auth": {"username": "u"}}, "receivers[0].alertmanager.basic_auth", "password_env"),
        ({"cert_file": "/c.pem"}, "receivers[0].alertmanager", "give cert_file and key_file together"),
        ({"ca_file": "/ca.pem"}, "receivers[0].alertmanager", "ca_file apply only to an https:// url"),
        (
            {"insecure_skip_verify": True},
            "receivers[0].alertmanager",
            "insecure_skip_verify apply only to an https:// url",
        ),
        (
            {"bearer_token": "abc"},
            "receivers[0].alertmanager.bearer_token",
            "bearer_token_env or bearer_token_file",
        ),
        ({"tls_verify": False}, "receivers[0].alertmanager.tls_verify", ""),
    ],
)
def test_bad_alertmanager_options_are_reported_at_their_line(
    tmp_path: Path, options: dict[str, Any], field: str, message: str
) -> None:
    receiver = {"url": "http://127.0.0.1:9093", **options}
    path = tmp_path / "alerter.yaml"
    path.write_text(
        json.dumps(
            {
                "prometheus": {"url": "http://127.0.0.1:9090"},
                "receivers": [{"name": "am", "alertmanager": receiver}],
                "route": {"receiver": "am"},
            },
            indent=2,
        )
    )
    with pytest.raises(ConfigErrors) as caught:
        load(path)
    [error] = caught.value.errors
    assert error.location.file == str(path) and error.location.line > 1
    assert error.path == field and message in str(error), str(error)
