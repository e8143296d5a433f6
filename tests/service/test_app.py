"""The composed app: hot reload keeps the old rules on error, HTTP endpoints, bands on /metrics."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import ManagedProcess, SimHistory
from harness.engine_setup import TTFT_RULE, incident, write_config

from alerter.config import load
from alerter.core.model import AlertState
from alerter.service.app import App

EXTRA_RULE = """
      - alert: QueueDepthHigh
        expr: sum by (model_name) (vllm:num_requests_waiting)
        baseline: {detector: static, above: 1000000}
"""


@pytest.fixture
def app(tmp_path: Path, prometheus: ManagedProcess) -> Iterator[App]:
    config = write_config(tmp_path, prometheus.url, TTFT_RULE.format(for_="2m", keep="2m"))
    instance = App(str(config), load(config), now=0.0)
    instance.server.start()
    yield instance
    instance.stop()


def _get(app: App, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{app.server.port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_reload_keeps_old_rules_on_error_and_applies_a_fixed_file(
    app: App, tmp_path: Path, sim_history: SimHistory
) -> None:
    start = incident(sim_history.truth_path, "latency_regression")["start"]
    for t in range(int(start), int(start) + 600, 60):
        app.engine.tick("latency", float(t))
        app.baselines.wait()
    firing = [a for a in app.engine.alerts() if a.state is AlertState.FIRING]
    assert firing
    rules = tmp_path / "rules.yaml"
    good = rules.read_text()

    rules.write_text(good + "      - alert: Broken\n        expr: 'sum(rate(x[5m])'\n        for: -1m\n")
    assert app.reload(start + 600) is False
    status = json.loads(_get(app, "/api/v1/status")[1])
    assert status["last_reload"]["ok"] is False
    assert any("rules.yaml:" in e and "groups[0].rules[1].for" in e for e in status["config_errors"])
    assert [r.rule.alert for r in app.engine.groups["latency"].rules] == ["TTFTAnomaly"]
    assert b"alerter_config_last_reload_successful 0.0" in _get(app, "/metrics")[1]
    app.engine.tick("latency", start + 600)
    assert all(
        a.state is AlertState.FIRING
        for a in app.engine.alerts()
        if a.fingerprint in {f.fingerprint for f in firing}
    )

    rules.write_text(good + EXTRA_RULE)
    assert app.reload(start + 660) is True
    assert [r.rule.alert for r in app.engine.groups["latency"].rules] == ["TTFTAnomaly", "QueueDepthHigh"]
    carried = {a.fingerprint: a for a in app.engine.alerts()}
    for alert in firing:
        assert carried[alert.fingerprint].state is AlertState.FIRING
        assert carried[alert.fingerprint].fired_at == alert.fired_at
    assert json.loads(_get(app, "/api/v1/status")[1])["config_errors"] == []


def test_http_endpoints_and_baseline_bands(app: App, sim_history: SimHistory) -> None:
    t = sim_history.end - 3600
    app.engine.tick("latency", t)
    app.baselines.wait()
    app.engine.tick("latency", t + 60)
    assert _get(app, "/healthz") == (200, b"ok\n")
    assert _get(app, "/readyz")[0] == 200
    assert _get(app, "/nope")[0] == 404
    metrics = _get(app, "/metrics")[1].decode()
    bands = [line for line in metrics.splitlines() if line.startswith("alerter_baseline{")]
    assert {b.split('bound="')[1].split('"')[0] for b in bands} == {"expected", "lower", "upper"}
    assert any('model_name="llama-3.1-8b"' in b and 'alertname="TTFTAnomaly"' in b for b in bands)
    assert 'alerter_rule_evaluations_total{alertname="TTFTAnomaly",rule_group="latency"} 2.0' in metrics
    assert "alerter_group_evaluation_duration_seconds_bucket" in metrics
    rules = json.loads(_get(app, "/api/v1/rules")[1])
    rule = rules["groups"][0]["rules"][0]
    assert rule["health"] == "ok" and rule["baseline"]["series"] == 2
    assert {s["tier"] for s in rule["series"]} and all(s["tier"] for s in rule["series"])
    alerts = json.loads(_get(app, "/api/v1/alerts")[1])["alerts"]
    assert all(set(a) >= {"labels", "state", "value", "expected", "tier", "explanation"} for a in alerts)


def test_reload_with_a_receiver_switches_everything_or_nothing(
    tmp_path: Path, prometheus: ManagedProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configured receiver made every reload fail (its gauge was registered twice), half done."""
    monkeypatch.setenv("HOOK_URL", "http://127.0.0.1:9/hook")
    config = write_config(tmp_path, prometheus.url, TTFT_RULE.format(for_="2m", keep="2m"))
    receiver = "receivers:\n  - name: web\n    webhook: {url_env: HOOK_URL}\nroute: {receiver: web}\n"
    config.write_text(config.read_text() + receiver)
    app = App(str(config), load(config), now=0.0)
    app.server.start()
    try:
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules.read_text() + EXTRA_RULE)
        first = app.pipeline
        assert app.reload(60.0) is True
        assert [r.rule.alert for r in app.engine.groups["latency"].rules] == ["TTFTAnomaly", "QueueDepthHigh"]
        assert app.pipeline is not first
        assert app.reload(120.0) is True, "a second reload works as well"
        metrics = _get(app, "/metrics")[1]
        assert b"alerter_config_last_reload_successful 1.0" in metrics
        assert b"alerter_notification_groups 0.0" in metrics

        # A receiver that cannot be built (its secret is gone) changes nothing at all.
        monkeypatch.delenv("HOOK_URL")
        rules.write_text(rules.read_text().replace("QueueDepthHigh", "QueueDepthHigher"))
        current = app.pipeline
        assert app.reload(180.0) is False
        assert app.pipeline is current
        assert [r.rule.alert for r in app.engine.groups["latency"].rules] == ["TTFTAnomaly", "QueueDepthHigh"]
        assert json.loads(_get(app, "/api/v1/status")[1])["last_reload"]["ok"] is False
        assert b"alerter_config_last_reload_successful 0.0" in _get(app, "/metrics")[1]
    finally:
        app.stop()


ONCALL = "oncall-0123456789abcdef0123456789ab"
ROTATED = "oncall-fedcba9876543210fedcba987654"
AUTH_CONFIG = """server:
  listen: 127.0.0.1:0
  auth:
    tokens:
      - {name: oncall, token_env: ALERTER_TEST_TOKEN}
"""


def _call(
    app: App, method: str, path: str, token: str | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{app.server.port}{path}", data=body, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """An engine whose writes need a token; nothing here queries Prometheus, so none runs."""
    monkeypatch.setenv("ALERTER_TEST_TOKEN", ONCALL)
    config = write_config(tmp_path, "http://127.0.0.1:9", TTFT_RULE.format(for_="2m", keep="2m"))
    config.write_text(config.read_text().replace("server: {listen: 127.0.0.1:0}\n", AUTH_CONFIG))
    instance = App(str(config), load(config), now=0.0)
    instance.server.start()
    yield instance
    instance.stop()


def test_the_running_server_asks_for_the_configured_token(
    secured: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, headers, body = _call(secured, "POST", "/-/reload")
    assert (status, headers["WWW-Authenticate"]) == (401, 'Bearer realm="alerter"')
    assert json.loads(body)["error"].startswith("this endpoint needs a token")
    assert _call(secured, "GET", "/healthz")[0] == 200
    assert _call(secured, "GET", "/api/v1/alerts")[0] == 200  # reads are open by default
    silence = json.dumps({"matchers": ['alertname="TTFTAnomaly"'], "created_by": "ann"}).encode()
    status, _, body = _call(secured, "POST", "/api/v1/silences", ONCALL, silence)
    assert status == 201 and json.loads(body)["createdBy"] == "ann (token oncall)"

    # A reload reads the tokens again: a rotated one replaces the old at once.
    monkeypatch.setenv("ALERTER_TEST_TOKEN", ROTATED)
    assert _call(secured, "POST", "/-/reload", ONCALL)[0] == 200
    assert _call(secured, "POST", "/-/reload", ONCALL)[0] == 401
    assert _call(secured, "POST", "/-/reload", ROTATED)[0] == 200
    # A token that cannot be read fails the reload and keeps the one that works.
    monkeypatch.delenv("ALERTER_TEST_TOKEN")
    status, _, body = _call(secured, "POST", "/-/reload", ROTATED)
    assert status == 400 and json.loads(body)["last_reload"]["ok"] is False
    assert _call(secured, "POST", "/-/reload", ROTATED)[0] == 400, "still authenticated, still failing"
    assert _call(secured, "POST", "/-/reload", ONCALL)[0] == 401


def test_deferred_jobs_run_off_the_caller_and_finish_before_stop(secured: App) -> None:
    caller = threading.current_thread().name
    release = threading.Event()
    ran: list[str] = []

    def job() -> None:
        release.wait(10)
        ran.append(threading.current_thread().name)

    def broken() -> None:
        raise RuntimeError("a bug in a decision")

    secured.defer(broken)  # logged; the worker lives on
    secured.defer(job)
    assert ran == []  # defer did not wait for the job
    release.set()
    secured.stop()  # waits for the job, since it may still write to the store
    assert len(ran) == 1 and ran[0] != caller and ran[0].startswith("slack-decision")


def test_a_confirmed_false_page_is_counted_and_its_period_trained_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's side of Not an incident: ``alerter_false_pages_total`` counts each confirmation
    (not a repeat), and the baseline cache is told the episode of that series is normal data,
    under the rule's baseline key and the series' fingerprint (its labels without the rule's)."""
    from alerter.core.model import Alert, Labels
    from alerter.engine.engine import SeriesStatus
    from alerter.notify.slack.actions import parse_press

    config = write_config(tmp_path, "http://127.0.0.1:9", TTFT_RULE.format(for_="2m", keep="2m"))
    instance = App(str(config), load(config), now=0.0)
    try:
        series = Labels(model_name="llama3-70b")
        alert = Alert(
            rule="TTFTAnomaly",
            group="latency",
            labels=Labels(alertname="TTFTAnomaly", model_name="llama3-70b", severity="page"),
            state=AlertState.RESOLVED,
            active_at=1000.0,
            fired_at=1120.0,
            resolved_at=1800.0,
        )
        monkeypatch.setattr(
            instance.engine, "series", lambda key: [SeriesStatus(series, "stl", AlertState.RESOLVED)]
        )
        noted: list[tuple[str, str, float, float | None, bool]] = []
        monkeypatch.setattr(
            instance.baselines,
            "note_normal",
            lambda key, fp, start, end, normal=True: noted.append((key, fp, start, end, normal)),
        )
        instance._sink([alert], 1800.0)
        value = f"{alert.fingerprint}:{alert.active_at!r}"
        for verb, user in (("noise", "U1"), ("noise", "U2"), ("real", "U2"), ("noise", "U3")):
            instance.alert_actions.press(parse_press(verb, value, user, user.lower()), 2000.0)
        metric = 'alerter_false_pages_total{alertname="TTFTAnomaly",rule_group="latency"}'
        assert f"{metric} 2.0" in instance.metrics.exposition().decode()
        ctx = instance.engine.context("latency", "TTFTAnomaly")
        assert ctx is not None and ctx.baseline is not None
        key = ctx.baseline.key
        assert noted == [
            (key, series.fingerprint, 1000.0, 1800.0, True),
            (key, series.fingerprint, 1000.0, 1800.0, False),
            (key, series.fingerprint, 1000.0, 1800.0, True),
        ]
        stored = instance.pages.verdict(alert.fingerprint, 1000.0)
        assert stored is not None and stored.series == series.fingerprint
    finally:
        instance.stop()

    # A restart tells the new cache again, from the stored verdict (before any tick).
    noted.clear()
    again = App(str(config), load(config), now=0.0)
    try:
        state = again.baselines._rules[key]
        assert state.normal == {series.fingerprint: {1000.0}}
    finally:
        again.stop()
