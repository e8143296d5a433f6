"""The HTTP endpoints over a small stand-in for the engine (``ports.Service``), no Prometheus needed.

Requests go straight to ``Server.dispatch``: routing, status codes and JSON bodies are what is
tested here; the socket side is covered by ``test_app.py`` against a real engine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, urlencode

import pytest
from harness.engine_setup import EngineKit

from alerter.config.engine import Route as RouteConfig
from alerter.core.errors import ActionError
from alerter.core.model import Alert, AlertState, Labels, Series
from alerter.engine.engine import Engine
from alerter.engine.metrics import EngineMetrics
from alerter.notify import route as routing
from alerter.notify.mute import Muter, Silences
from alerter.notify.pages import Pages, PageVerdict
from alerter.notify.pipeline import Pipeline
from alerter.notify.secret import Secret
from alerter.notify.slack.actions import Acks, AlertActions, alert_buttons, silence_labels
from alerter.notify.slack.blocks import RenderContext
from alerter.notify.slack.client import SlackNotifier
from alerter.remediate.contracts import Event
from alerter.service import routes
from alerter.service.auth import Access, Auth, Token
from alerter.service.server import Request, Response, Server
from alerter.store.sqlite import Store
from alerter.testing.slack import SlackSink

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
SLACK_TOKEN = "xoxb-test-0123456789-secret"  # the sink fixture's (harness.fixtures)
SIGNING_SECRET = Secret("8f742231b10e8888abcd99yyyzzz85a5")
WRITE_TOKEN = "w-0123456789abcdef0123456789abcdef"
READ_TOKEN = "r-fedcba9876543210fedcba9876543210"
RULES = """
groups:
  - name: latency
    interval: 1m
    rules:
      - alert: QueueDepthHigh
        expr: sum by (model_name) (vllm:num_requests_waiting)
        baseline: {detector: static, above: 100}
"""


class NoData:
    """A source without any series: the views only need an engine that knows its rules."""

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        return []

    def query(self, expr: str, at: float) -> list[Series]:
        return []


@dataclass
class FakeRunner:
    """Approves or rejects action 7 only; remembers each decision."""

    decisions: list[tuple[str, int, str, float]] = field(default_factory=list)

    def approve(self, action_id: int, by: str, now: float) -> list[Event]:
        return self._decide("approved", action_id, by, now)

    def reject(self, action_id: int, by: str, now: float) -> list[Event]:
        return self._decide("rejected", action_id, by, now)

    def _decide(self, decision: str, action_id: int, by: str, now: float) -> list[Event]:
        if action_id != 7:
            raise ActionError(f"action {action_id} is not pending", retryable=False)
        self.decisions.append((decision, action_id, by, now))
        return [Event(now, decision, "scale-up", "deploy/vllm", "abc", "QueueDepthHigh", by, action_id=7)]


@dataclass
class FakeService:
    """Exactly what ``routes.install`` needs, with plain attributes and recorded calls."""

    engine: Engine
    store: Store
    silences: Silences
    alert_actions: AlertActions
    known: dict[str, Alert] = field(default_factory=dict)
    """The alerts ``alert_actions`` finds, by fingerprint (the engine's, in the app)."""
    judged: list[PageVerdict] = field(default_factory=list)
    """Every changed verdict ``alert_actions`` told the app of."""
    metrics: EngineMetrics = field(default_factory=EngineMetrics)
    ready: bool = True
    clock: Callable[[], float] = lambda: NOW
    pipeline: Pipeline | None = None
    runner: FakeRunner | None = field(default_factory=FakeRunner)
    remediation_error: str = ""
    signing_secrets: Mapping[str, Secret] = field(default_factory=lambda: {"slack": SIGNING_SECRET})
    auth: Auth = field(default_factory=Auth)
    reload_ok: bool = True
    reloads: list[float] = field(default_factory=list)
    posted: list[tuple[list[Event], float]] = field(default_factory=list)
    replies: list[tuple[str, str]] = field(default_factory=list)
    worker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))
    deferred: list[Future[None]] = field(default_factory=list)

    def status(self) -> dict[str, object]:
        return {"last_reload": {"ok": self.reload_ok}}

    def reload(self, now: float) -> bool:
        self.reloads.append(now)
        return self.reload_ok

    def post_events(self, events: Sequence[Event], now: float) -> None:
        self.posted.append((list(events), now))

    def reply_privately(self, response_url: str, text: str) -> None:
        self.replies.append((response_url, text))

    def defer(self, job: Callable[[], None]) -> None:
        """On a worker thread of its own, as the app does, so a test sees the answer come first."""
        self.deferred.append(self.worker.submit(job))

    def settle(self) -> None:
        """Wait for every deferred job (re-raising what it raised)."""
        for future in self.deferred:
            future.result(timeout=10)


@pytest.fixture
def service(engine_kit: Callable[..., EngineKit]) -> Iterator[FakeService]:
    kit = engine_kit(NoData(), RULES, now=NOW)
    known: dict[str, Alert] = {}
    silences = Silences(kit.store)
    judged: list[PageVerdict] = []
    acting = AlertActions(
        silences, Acks(kit.store), known.get, Pages(kit.store), lambda v, _: judged.append(v)
    )
    instance = FakeService(kit.engine, kit.store, silences, acting, known, judged)
    yield instance
    instance.worker.shutdown(wait=True)


@pytest.fixture
def server(service: FakeService) -> Iterator[Server]:
    instance = Server("127.0.0.1:0")
    routes.install(instance, service)
    yield instance
    instance.stop()


def respond(
    server: Server, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> Response:
    target, _, query = path.partition("?")
    return server.dispatch(Request(method, target, parse_qs(query), dict(headers or {}), body))


def call(
    server: Server, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> tuple[int, object]:
    response = respond(server, method, path, body, headers)
    if response.content_type == "application/json":
        return response.status, json.loads(response.body)
    return response.status, response.body.decode()


def test_probes_metrics_and_views(server: Server, service: FakeService) -> None:
    assert call(server, "GET", "/healthz") == (200, "ok\n")
    assert call(server, "GET", "/readyz") == (200, "ready\n")
    service.ready = False
    assert call(server, "GET", "/readyz") == (503, "stopping\n")
    status, metrics = call(server, "GET", "/metrics")
    assert status == 200 and "alerter_config_last_reload_successful" in str(metrics)
    assert call(server, "GET", "/api/v1/alerts") == (200, {"alerts": []})
    status, rules = call(server, "GET", "/api/v1/rules")
    assert status == 200 and isinstance(rules, dict)
    assert [r["name"] for r in rules["groups"][0]["rules"]] == ["QueueDepthHigh"]
    assert call(server, "GET", "/api/v1/status") == (200, {"last_reload": {"ok": True}})
    assert call(server, "POST", "/api/v1/status")[0] == 405


def test_reload_answers_with_the_status(server: Server, service: FakeService) -> None:
    assert call(server, "POST", "/-/reload") == (200, {"last_reload": {"ok": True}})
    service.reload_ok = False
    assert call(server, "POST", "/-/reload") == (400, {"last_reload": {"ok": False}})
    assert service.reloads == [NOW, NOW]


def test_silences_add_list_expire(server: Server) -> None:
    body = json.dumps({"matchers": ['alertname="QueueDepthHigh"'], "duration": "30m", "comment": "deploy"})
    status, created = call(server, "POST", "/api/v1/silences", body.encode())
    assert status == 201 and isinstance(created, dict)
    assert created["endsAt"] == NOW + 1800 and created["state"] == "active" and created["comment"] == "deploy"
    status, listed = call(server, "GET", "/api/v1/silences")
    assert status == 200 and listed == {"silences": [created]}
    status, expired = call(server, "DELETE", f"/api/v1/silences?id={created['id']}")
    assert status == 200 and isinstance(expired, dict) and expired["state"] == "expired"
    assert call(server, "GET", "/api/v1/silences") == (200, {"silences": []})
    status, everything = call(server, "GET", "/api/v1/silences?expired=true")
    assert status == 200 and isinstance(everything, dict) and len(everything["silences"]) == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/v1/silences", b'{"matchers": []}', 400),
        ("POST", "/api/v1/silences", b"not json", 400),
        ("POST", "/api/v1/silences", b'{"matchers": ["a=\\"b\\""], "ends_at": 1}', 400),
        ("DELETE", "/api/v1/silences", b"", 400),
        ("DELETE", "/api/v1/silences?id=nope", b"", 404),
        # Bodies that used to reach a traceback and a 500, or were accepted absurdly.
        ("POST", "/api/v1/silences", b"[1,2,3]", 400),
        ("POST", "/api/v1/silences", b'"text"', 400),
        ("POST", "/api/v1/silences", b'{"matchers": ["a=\\"b\\""], "ends_at": "nan"}', 400),
        ("POST", "/api/v1/silences", b'{"matchers": ["a=\\"b\\""], "ends_at": NaN}', 400),
        ("POST", "/api/v1/silences", b'{"matchers": ["a=\\"b\\""], "ends_at": Infinity}', 400),
        ("POST", "/api/v1/silences", b'{"matchers": ["a=\\"b\\""], "duration": "99999999y"}', 400),
        ("POST", "/api/v1/silences", b'{"matchers": ["a=\\"b\\""], "duration": 5}', 400),
        ("POST", "/api/v1/silences", b'{"matchers": "a=b"}', 400),
        ("POST", "/api/v1/silences", b'{"matchers": [1]}', 400),
        ("POST", "/api/v1/silences", b'{"matchers": ["a=\\"b\\""], "comment": {"x": 1}}', 400),
        ("POST", "/api/v1/silences", b"[" * 100_000, 400),
    ],
)
def test_silence_mistakes_are_client_errors(
    server: Server, method: str, path: str, body: bytes, status: int
) -> None:
    got, payload = call(server, method, path, body)
    assert got == status and isinstance(payload, dict) and payload["error"]


def test_notifications_without_receivers(server: Server) -> None:
    assert call(server, "GET", "/api/v1/notifications") == (
        200,
        {"notifications": [], "note": "no receivers configured"},
    )


def test_actions_log_and_why_remediation_is_off(server: Server, service: FakeService) -> None:
    assert call(server, "GET", "/api/v1/actions") == (200, {"actions": [], "events": [], "paused": False})
    service.remediation_error = "remediation disabled: cannot reach Kubernetes (no config)"
    status, payload = call(server, "GET", "/api/v1/actions")
    assert status == 200 and isinstance(payload, dict)
    assert payload["disabled"] == service.remediation_error


RESPONSE_URL = "https://hooks.slack.com/actions/T0001/1/abc"


def _button(verb: str, value: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "ann"},
        "actions": [{"action_id": f"{verb}:1", "value": value, "type": "button"}],
        "response_url": RESPONSE_URL,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def _signed(body: bytes, secret: Secret = SIGNING_SECRET, at: float = NOW) -> dict[str, str]:
    timestamp = str(int(at))
    base = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(secret.reveal().encode(), base, hashlib.sha256).hexdigest()
    return {"x-slack-request-timestamp": timestamp, "x-slack-signature": f"v0={digest}"}


def test_slack_buttons_decide_and_post_the_outcome(server: Server, service: FakeService) -> None:
    body = _button("approve", "7")
    assert call(server, "POST", "/slack/interactions", body, _signed(body)) == (200, "")
    body = _button("reject", "7")
    assert call(server, "POST", "/slack/interactions", body, _signed(body)) == (200, "")
    service.settle()
    assert service.runner is not None
    assert service.runner.decisions == [("approved", 7, "ann", NOW), ("rejected", 7, "ann", NOW)]
    assert [(e.decision, now) for events, now in service.posted for e in events] == [
        ("approved", NOW),
        ("rejected", NOW),
    ]


def test_slack_callbacks_need_a_valid_signature(server: Server, service: FakeService) -> None:
    body = _button("approve", "7")
    wrong = _signed(body, Secret("not-the-signing-secret"))
    assert call(server, "POST", "/slack/interactions", body, wrong) == (401, {"error": "invalid signature"})
    stale = _signed(body, at=NOW - 600)
    assert call(server, "POST", "/slack/interactions", body, stale) == (401, {"error": "invalid signature"})
    assert call(server, "POST", "/slack/interactions", body) == (401, {"error": "invalid signature"})
    assert service.runner is not None and service.runner.decisions == [] and service.posted == []


def test_slack_callbacks_that_cannot_be_decided(server: Server, service: FakeService) -> None:
    garbage = b"payload=not-json"
    status, payload = call(server, "POST", "/slack/interactions", garbage, _signed(garbage))
    assert status == 400 and isinstance(payload, dict) and "not JSON" in str(payload["error"])
    unknown = _button("restart", "7")
    status, payload = call(server, "POST", "/slack/interactions", unknown, _signed(unknown))
    assert (status, payload) == (400, {"error": "unknown action 'restart:1'"})
    not_a_number = _button("approve", "seven")
    status, payload = call(server, "POST", "/slack/interactions", not_a_number, _signed(not_a_number))
    assert (status, payload) == (400, {"error": "button value 'seven' is not an action id"})
    service.runner = None
    body = _button("approve", "7")
    assert call(server, "POST", "/slack/interactions", body, _signed(body))[0] == 400
    assert service.posted == []


def test_slack_callbacks_answer_before_the_decision_is_made(server: Server, service: FakeService) -> None:
    """Slack gives up after 3 s; a decision makes several Kubernetes calls, so it must not hold the answer."""
    runner = SlowRunner()
    service.runner = runner
    body = _button("approve", "7")
    assert call(server, "POST", "/slack/interactions", body, _signed(body)) == (200, "")
    # The answer is out while the runner is still inside approve(): nothing decided, nothing posted.
    assert runner.entered.wait(10)
    assert runner.decisions == [] and service.posted == []
    runner.release.set()
    service.settle()
    assert runner.decisions == [("approved", 7, "ann", NOW)]
    assert [e.decision for events, _ in service.posted for e in events] == ["approved"]


def test_a_decision_the_runner_refuses_is_logged_and_told_to_the_user_alone(
    server: Server, service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    body = _button("approve", "8")
    with caplog.at_level(logging.WARNING, logger="alerter.service.routes"):
        assert call(server, "POST", "/slack/interactions", body, _signed(body)) == (200, "")
        service.settle()
    refused = [r for r in caplog.records if r.getMessage() == "remediation decision refused"]
    assert len(refused) == 1 and "action 8 is not pending" in str(vars(refused[0])["error"])
    assert service.posted == []  # nothing new for the thread
    ((url, text),) = service.replies
    assert url == RESPONSE_URL and text.startswith("Could not approve action 8:") and "not pending" in text


@dataclass
class SlowRunner(FakeRunner):
    """Blocks inside a decision until the test releases it (never longer than 10 s)."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def _decide(self, decision: str, action_id: int, by: str, now: float) -> list[Event]:
        self.entered.set()
        if not self.release.wait(10):
            raise AssertionError("the test never released the decision")
        return super()._decide(decision, action_id, by, now)


# -- authentication -------------------------------------------------------------------------

SILENCE = json.dumps({"matchers": ['alertname="QueueDepthHigh"'], "duration": "1h"}).encode()
READS = [
    "/api/v1/alerts",
    "/api/v1/rules",
    "/api/v1/status",
    "/api/v1/silences",
    "/api/v1/notifications",
    "/api/v1/actions",
]


def _secure(service: FakeService, *, protect_reads: bool = False) -> None:
    tokens = [Token.of("oncall", Access.WRITE, Secret(WRITE_TOKEN))]
    if protect_reads:
        tokens.append(Token.of("grafana", Access.READ, Secret(READ_TOKEN)))
    service.auth = Auth(tokens, protect_reads=protect_reads)


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def _writes(service: FakeService) -> list[tuple[str, str, bytes]]:
    """Every endpoint that changes something; the DELETE names a silence that exists."""
    silence = service.silences.add(['alertname="X"'], ends_at=NOW + 60, now=NOW, created_by="t", comment="")
    return [
        ("POST", "/-/reload", b""),
        ("POST", "/api/v1/silences", SILENCE),
        ("DELETE", f"/api/v1/silences?id={silence.id}", b""),
    ]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["reload", "add-silence", "expire-silence"])
def test_writes_are_refused_without_the_right_token(server: Server, service: FakeService, index: int) -> None:
    _secure(service, protect_reads=True)
    method, path, body = _writes(service)[index]
    silences_before = service.silences.list(NOW, include_expired=True)
    refusals = [
        ({}, 401, 'Bearer realm="alerter"'),
        ({"authorization": f"Basic {WRITE_TOKEN}"}, 401, 'Bearer realm="alerter"'),
        ({"authorization": "Bearer"}, 401, 'Bearer realm="alerter"'),
        (_bearer("w-0123456789abcdef0123456789abcdeX"), 401, 'Bearer realm="alerter", error="invalid_token"'),
        (_bearer(READ_TOKEN), 403, 'Bearer realm="alerter", error="insufficient_scope"'),
    ]
    for headers, status, challenge in refusals:
        response = respond(server, method, path, body, headers)
        assert (response.status, response.headers.get("WWW-Authenticate")) == (status, challenge), headers
        assert response.content_type == "application/json" and json.loads(response.body)["error"]
    assert service.reloads == []
    assert service.silences.list(NOW, include_expired=True) == silences_before


@pytest.mark.parametrize("index", [0, 1, 2], ids=["reload", "add-silence", "expire-silence"])
def test_writes_succeed_with_a_write_token(server: Server, service: FakeService, index: int) -> None:
    _secure(service)
    method, path, body = _writes(service)[index]
    status, _ = call(server, method, path, body, {"authorization": f"bearer {WRITE_TOKEN}"})
    assert status in (200, 201)


@pytest.mark.parametrize("path", READS)
def test_reads_are_open_unless_protected(server: Server, service: FakeService, path: str) -> None:
    _secure(service)
    assert call(server, "GET", path)[0] == 200
    _secure(service, protect_reads=True)
    response = respond(server, "GET", path)
    assert (response.status, response.headers.get("WWW-Authenticate")) == (401, 'Bearer realm="alerter"')
    assert call(server, "GET", path, headers=_bearer("not-a-token-at-all-0000"))[0] == 401
    assert call(server, "GET", path, headers=_bearer(READ_TOKEN))[0] == 200
    assert call(server, "GET", path, headers=_bearer(WRITE_TOKEN))[0] == 200


def test_probes_metrics_and_slack_never_ask_for_a_token(server: Server, service: FakeService) -> None:
    _secure(service, protect_reads=True)
    assert call(server, "GET", "/healthz") == (200, "ok\n")
    assert call(server, "GET", "/readyz") == (200, "ready\n")
    assert call(server, "GET", "/metrics")[0] == 200
    body = _button("approve", "7")
    assert call(server, "POST", "/slack/interactions", body, _signed(body)) == (200, "")
    service.settle()
    assert service.runner is not None and service.runner.decisions == [("approved", 7, "ann", NOW)]


@pytest.mark.parametrize(
    ("secured", "claimed", "recorded"),
    [
        (False, "ann", "ann"),  # no authentication: the body is all there is, as in Alertmanager
        (False, None, ""),
        (True, "ann", "ann (token oncall)"),  # the verified holder is always recorded
        (True, None, "oncall"),
        (True, "oncall", "oncall"),
    ],
)
def test_a_silence_records_who_created_it(
    server: Server, service: FakeService, secured: bool, claimed: str | None, recorded: str
) -> None:
    if secured:
        _secure(service)
    payload = json.loads(SILENCE)
    if claimed is not None:
        payload["created_by"] = claimed
    status, created = call(
        server, "POST", "/api/v1/silences", json.dumps(payload).encode(), _bearer(WRITE_TOKEN)
    )
    assert status == 201 and isinstance(created, dict) and created["createdBy"] == recorded


def test_tokens_never_reach_the_log(
    server: Server, service: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    _secure(service, protect_reads=True)
    wrong = "w-guess-0123456789abcdef0123456789"
    with caplog.at_level(logging.DEBUG):
        for token in (WRITE_TOKEN, READ_TOKEN, wrong):
            call(server, "POST", "/-/reload", headers=_bearer(token))
            call(server, "GET", "/api/v1/alerts", headers=_bearer(token))
    assert any(r.getMessage() == "http request refused" for r in caplog.records)
    for record in caplog.records:
        seen = str(vars(record))
        assert WRITE_TOKEN not in seen and READ_TOKEN not in seen and wrong not in seen


QUEUE = Alert(
    rule="QueueDepthHigh",
    group="latency",
    labels=Labels(alertname="QueueDepthHigh", model_name="llama3-70b", namespace="llm"),
    state=AlertState.FIRING,
    active_at=NOW - 900,
    fired_at=NOW - 600,
    value=240.0,
    expected=40.0,
    lower=0.0,
    upper=100.0,
)


def _alert_button(action_id: str, value: str, user: str = "U1") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "ann"},
        "container": {"type": "message_attachment", "message_ts": "1.2", "channel_id": "C0001"},
        "actions": [{"action_id": action_id, "value": value, "type": "button"}],
        "response_url": RESPONSE_URL,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_alert_buttons_silence_and_acknowledge_off_the_request_thread(
    server: Server, service: FakeService
) -> None:
    service.known[QUEUE.fingerprint] = QUEUE
    for action_id in ("silence:4h", "ack", "ack"):
        body = _alert_button(action_id, QUEUE.fingerprint)
        assert call(server, "POST", "/slack/interactions", body, _signed(body)) == (200, "")
    service.settle()
    (silence,) = service.silences.list(NOW)
    assert silence.ends_at == NOW + 4 * 3600 and silence.created_by == "ann (Slack U1)"
    ack = service.alert_actions.acks.get(QUEUE.fingerprint, NOW - 600)
    assert ack is not None and (ack.user_id, ack.at) == ("U1", NOW)
    # The second Acknowledge changes nothing and is told to the presser alone.
    ((url, text),) = service.replies
    assert url == RESPONSE_URL and "was already acknowledged by ann" in text
    assert service.runner is not None and service.runner.decisions == []


def test_alert_buttons_that_do_not_fit_are_refused(server: Server, service: FakeService) -> None:
    for action_id, value, error in [
        ("silence:2h", QUEUE.fingerprint, "unknown silence length '2h'"),
        ("silence:1h", "not-a-fingerprint", "is not an alert fingerprint"),
    ]:
        body = _alert_button(action_id, value)
        status, payload = call(server, "POST", "/slack/interactions", body, _signed(body))
        assert status == 400 and error in str(payload)
    body = _alert_button("silence:1h", QUEUE.fingerprint)
    assert call(server, "POST", "/slack/interactions", body, _signed(body, Secret("wrong")))[0] == 401
    service.settle()
    assert service.silences.list(NOW) == []


def test_alerts_view_filters_by_fingerprint(server: Server) -> None:
    status, payload = call(server, "GET", "/api/v1/alerts?fingerprint=0123456789abcdef")
    assert (status, payload) == (200, {"alerts": []})


def _slack_pipeline(service: FakeService, sink: SlackSink) -> Pipeline:
    """The service's notification pipeline, delivering with buttons to the Slack stand-in; the
    service knows the QUEUE alert, so a press on its button finds it."""
    notifier = SlackNotifier(
        "oncall",
        "#alerts",
        token=Secret(SLACK_TOKEN),
        base_url=sink.api_url,
        context=RenderContext(buttons=alert_buttons, standing=service.alert_actions.standing),
    )
    root = routing.build(RouteConfig.model_validate({"receiver": "oncall", "group_wait": "30s"}))
    pipeline = Pipeline(service.store, root, {"oncall": notifier}, silences=service.silences)
    service.pipeline = pipeline
    service.known[QUEUE.fingerprint] = QUEUE
    return pipeline


def test_silence_1h_pressed_in_slack_mutes_the_alert_and_says_until_when(
    service: FakeService, sink: SlackSink
) -> None:
    """End to end: the message in the Slack stand-in, its button pressed as Slack presses it (a
    signed block_actions callback over HTTP), the silence in the store, the note in the thread."""
    pipeline = _slack_pipeline(service, sink)
    pipeline.ingest([QUEUE], NOW - 60)
    assert pipeline.flush(NOW).sent == 1
    (opened,) = [m for m in sink.messages("C0001") if not m.get("thread_ts")]
    http = Server("127.0.0.1:0")
    routes.install(http, service)
    http.start()
    try:
        url = f"http://127.0.0.1:{http.port}/slack/interactions"
        press = dict(
            channel="C0001", ts=opened["ts"], action_id="silence:1h", value=QUEUE.fingerprint, at=NOW
        )
        assert sink.press(url, SIGNING_SECRET.reveal(), **press) == (200, b"")
        service.settle()
        (silence,) = service.silences.list(NOW)
        assert silence.ends_at == NOW + 3600 and silence.created_by == "ann (Slack U0001)"
        muter = Muter(service.silences.active(NOW + 60), (), NOW + 60)
        assert muter.reason(silence_labels(QUEUE)) == f"silence {silence.id}"
        pipeline.flush(NOW + 1)
        notes = [m for m in sink.messages("C0001") if m.get("thread_ts") == opened["ts"]]
        assert [n["text"] for n in notes] == [
            ":mute: *QueueDepthHigh* `model_name=llama3-70b, namespace=llm` silenced by <@U0001> for 1h,"
            f" until 23:13 UTC (silence `{silence.id}`; `alerter silence expire {silence.id}` ends it early)"
        ]
        # Pressed again (a double click): no second silence, nothing new in the thread.
        assert sink.press(url, SIGNING_SECRET.reveal(), **press) == (200, b"")
        service.settle()
        pipeline.flush(NOW + 2)
        assert [s.id for s in service.silences.list(NOW)] == [silence.id]
        assert len([m for m in sink.messages("C0001") if m.get("thread_ts") == opened["ts"]]) == 1
        ((_, text),) = service.replies
        assert text.startswith("QueueDepthHigh (model_name=llama3-70b, namespace=llm) is already silenced by")
    finally:
        http.stop()


def test_not_an_incident_pressed_in_slack_records_the_verdict_once_and_the_rules_view_counts_it(
    service: FakeService, sink: SlackSink
) -> None:
    """End to end, as the Silence test: the button of the message in the Slack stand-in, pressed
    as Slack presses it (a signed block_actions callback over HTTP); the verdict in the store,
    the note in the thread, a second press answered privately, It was real taking it back, and
    ``/api/v1/rules`` counting the rule's pages and confirmed false pages."""
    pipeline = _slack_pipeline(service, sink)
    pages = service.alert_actions.pages
    assert pages is not None
    pages.record([QUEUE])  # the app's sink records each page before the pipeline sees it
    pipeline.ingest([QUEUE], NOW - 60)
    assert pipeline.flush(NOW).sent == 1
    (opened,) = [m for m in sink.messages("C0001") if not m.get("thread_ts")]
    (row,) = [b for a in opened["attachments"] for b in a["blocks"] if b["type"] == "actions"]
    (button,) = [e for e in row["elements"] if e["action_id"] == "noise"]
    assert button["text"]["text"] == "Not an incident"
    http = Server("127.0.0.1:0")
    routes.install(http, service)
    http.start()
    try:
        url = f"http://127.0.0.1:{http.port}/slack/interactions"

        def press(action_id: str, user: tuple[str, str], at: float) -> None:
            pressed = dict(channel="C0001", ts=opened["ts"], action_id=action_id, value=button["value"])
            assert sink.press(url, SIGNING_SECRET.reveal(), **pressed, user=user, at=at) == (200, b"")
            service.settle()
            pipeline.flush(at + 1)

        def thread() -> list[str]:
            return [m["text"] for m in sink.messages("C0001") if m.get("thread_ts") == opened["ts"]]

        press("noise", ("U0001", "ann"), NOW)
        verdict = pages.verdict(QUEUE.fingerprint, NOW - 900)
        assert verdict is not None and verdict.noise
        assert (verdict.user_id, verdict.user_name, verdict.at) == ("U0001", "ann", NOW)
        assert (verdict.page.group, verdict.page.rule) == ("latency", "QueueDepthHigh")
        assert service.judged == [verdict]
        assert thread() == [
            ":white_check_mark: *QueueDepthHigh* `model_name=llama3-70b, namespace=llm` marked *not an"
            " incident* by <@U0001> at 22:13 UTC: counted as a false page of its rule, and its period"
            " is trained on as normal from the next refit"
        ]
        status, rules = call(http_server(service), "GET", "/api/v1/rules")
        assert status == 200 and isinstance(rules, dict)
        (rule,) = rules["groups"][0]["rules"]
        assert (rule["pages"], rule["false_pages"], rule["false_page_rate"]) == (1, 1, 1.0)
        assert rules["pages_window_seconds"] == 30 * 86400

        # Someone else presses too (the message was not re-rendered yet): nothing changes.
        press("noise", ("U0002", "bob"), NOW + 30)
        assert len(thread()) == 1 and len(service.judged) == 1
        ((_, text),) = service.replies
        assert text == (
            "QueueDepthHigh (model_name=llama3-70b, namespace=llm) was already marked not an"
            " incident by ann at 22:13 UTC."
        )
        # The alert resolves: the message is edited, its alert says who judged it and offers
        # It was real instead; the group closes, so that press is told to the presser alone.
        resolved = replace(QUEUE, state=AlertState.RESOLVED, resolved_at=NOW + 90)
        service.known[QUEUE.fingerprint] = resolved
        pages.record([resolved])
        pipeline.ingest([resolved], NOW + 90)
        assert pipeline.flush(NOW + 600).sent >= 1  # after group_interval (5m)
        (edited,) = [m for m in sink.messages("C0001") if m["ts"] == opened["ts"]]
        blocks = [b for a in edited["attachments"] for b in a["blocks"]]
        assert ":white_check_mark: Not an incident, said by <@U0001> at 22:13 UTC" in json.dumps(blocks)
        (row,) = [b for b in blocks if b["type"] == "actions"]
        assert [(e["action_id"], e["text"]["text"]) for e in row["elements"]] == [("real", "It was real")]
        service.clock = lambda: NOW + 700  # Slack's signature holds for 5 minutes of the clock
        press("real", ("U0002", "bob"), NOW + 700)
        assert [v.noise for v in service.judged] == [True, False]
        assert service.judged[-1].page.resolved_at == NOW + 90
        assert service.replies[-1][1].startswith(":rotating_light: *QueueDepthHigh*")
        assert "marked *real* by <@U0002>" in service.replies[-1][1]
        (rule,) = call(http_server(service), "GET", "/api/v1/rules")[1]["groups"][0]["rules"]  # type: ignore[index]
        assert (rule["pages"], rule["false_pages"], rule["false_page_rate"]) == (1, 0, 0.0)
    finally:
        http.stop()


def http_server(service: FakeService) -> Server:
    """A server with the routes, for ``call`` (dispatch only: nothing listens)."""
    instance = Server("127.0.0.1:0")
    routes.install(instance, service)
    return instance


def test_a_verdict_no_thread_can_show_is_told_to_the_presser(
    server: Server, service: FakeService, sink: SlackSink
) -> None:
    """The alert resolved and its group closed: the press still counts, and says so privately."""
    resolved = replace(QUEUE, state=AlertState.RESOLVED, resolved_at=NOW - 60)
    pages = service.alert_actions.pages
    assert pages is not None and pages.record([resolved]) == 1
    notifier = SlackNotifier("oncall", "#alerts", token=Secret(SLACK_TOKEN), base_url=sink.api_url)
    root = routing.build(RouteConfig.model_validate({"receiver": "oncall"}))
    service.pipeline = Pipeline(service.store, root, {"oncall": notifier}, silences=service.silences)
    body = _alert_button("noise", f"{QUEUE.fingerprint}:{NOW - 900!r}")
    assert call(server, "POST", "/slack/interactions", body, _signed(body)) == (200, "")
    service.settle()
    ((_, text),) = service.replies
    assert text.startswith(":white_check_mark: *QueueDepthHigh*") and "marked *not an incident*" in text
    assert [v.page.resolved_at for v in service.judged] == [NOW - 60]


def test_rules_without_pages_have_no_rate(server: Server) -> None:
    (rule,) = call(server, "GET", "/api/v1/rules")[1]["groups"][0]["rules"]  # type: ignore[index]
    assert (rule["pages"], rule["false_pages"], rule["false_page_rate"]) == (0, 0, None)
