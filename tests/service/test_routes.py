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
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

import pytest
from harness.engine_setup import EngineKit

from alerter.core.errors import ActionError
from alerter.core.model import Series
from alerter.engine.engine import Engine
from alerter.engine.metrics import EngineMetrics
from alerter.notify.mute import Silences
from alerter.notify.pipeline import Pipeline
from alerter.notify.secret import Secret
from alerter.remediate.contracts import Event
from alerter.service import routes
from alerter.service.auth import Access, Auth, Token
from alerter.service.server import Request, Response, Server
from alerter.store.sqlite import Store

NOW = 1_700_000_000.0
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
    instance = FakeService(kit.engine, kit.store, Silences(kit.store))
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
