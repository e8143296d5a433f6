"""An incident end to end through config wiring: Slack (local sink) and a real Alertmanager.

One well-formed Slack message with a chart, threaded updates and an edited resolution, and the
same alerts visible in ``amtool alert query`` until they resolve. Alertmanager judges ``endsAt``
by its own clock, so this test passes the real time as ``now`` (offsets of seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from alerter.config.engine import AppConfig
from alerter.core.model import Alert, AlertState, Verdict
from alerter.notify.slack.blocks import RenderContext, RuleInfo
from alerter.notify.slack.chart import chart_provider
from alerter.notify.wiring import notifiers_from_config, pipeline_from_config
from alerter.store.sqlite import Store
from alerter.testing.slack import SlackSink

AlertFactory = Callable[..., Alert]
Amtool = Callable[..., list[dict[str, Any]]]
TOKEN = "xoxb-test-0123456789-secret"


def fetch(alert: Alert, now: float) -> Verdict:
    ts = now - 6 * 3600 + np.arange(0, 6 * 3600, 60.0)
    expected = np.full(ts.size, 0.31)
    values = expected + np.where(np.arange(ts.size) > ts.size - 20, 0.5, 0.0)
    lower, upper = expected - 0.09, expected + 0.09
    return Verdict(ts, values, expected, lower, upper, np.zeros(ts.size), values > upper, tier="stl")


def config(am_url: str) -> AppConfig:
    return AppConfig.model_validate(
        {
            "prometheus": {"url": "http://127.0.0.1:9090"},
            "receivers": [
                {"name": "oncall", "slack": {"channel": "#alerts", "token_env": "SLACK_BOT_TOKEN"}},
                {"name": "am", "alertmanager": {"url": am_url}},
            ],
            "route": {
                "receiver": "oncall",
                "group_by": ["alertname"],
                "group_wait": "0s",
                "group_interval": "1s",
                "routes": [
                    {"matchers": ['severity="page"'], "receiver": "oncall", "continue": True},
                    {"matchers": ['severity="page"'], "receiver": "am"},
                ],
            },
        }
    )


def test_incident_reaches_slack_and_alertmanager(
    tmp_path: Path, alertmanager: str, amtool: Amtool, make_alert: AlertFactory
) -> None:
    now = time.time()
    context = RenderContext(
        prometheus_url="http://127.0.0.1:9090",
        rules={"TTFTAnomaly": RuleInfo(expr="histogram_quantile(0.99, ttft)", sensitivity=3)},
        chart=chart_provider(fetch, thresholds={"TTFTAnomaly": 0.5}),
    )
    with SlackSink(token=TOKEN) as sink, Store(tmp_path / "state.db") as store:
        cfg = config(alertmanager)
        env = {"SLACK_BOT_TOKEN": TOKEN}
        notifiers = notifiers_from_config(
            cfg.receivers, context=context, environ=env, slack_api_url=sink.api_url
        )
        pipeline = pipeline_from_config(cfg, store, notifiers)
        a = make_alert(model_name="incident-a", fired_at=now - 60)
        b = make_alert(model_name="incident-b", fired_at=now - 30)

        pipeline.ingest([a], now)
        assert pipeline.flush(now).sent == 2
        [top, chart] = sink.messages("C0001")
        assert top["text"].startswith("[FIRING:1] TTFTAnomaly") and chart["thread_ts"] == top["ts"]
        [upload] = sink.uploads().values()
        assert upload["data"].startswith(b"\x89PNG") and len(upload["data"]) > 10_000
        assert [
            x["labels"]["model_name"]
            for x in amtool(alertmanager, "alertname=TTFTAnomaly", "model_name=~incident-.*")
        ] == ["incident-a"]

        pipeline.ingest([a, b], now + 1)
        assert pipeline.flush(now + 2).sent == 2
        assert sink.messages("C0001")[-1]["thread_ts"] == top["ts"]
        assert sink.messages("C0001")[0]["text"].startswith("[FIRING:2]"), "original edited to current state"
        found = sorted(
            x["labels"]["model_name"]
            for x in amtool(alertmanager, "alertname=TTFTAnomaly", "model_name=~incident-.*")
        )
        assert found == ["incident-a", "incident-b"]

        done = max(time.time(), now + 3)  # the groups' next flush: group_interval after the last
        resolved = [
            Alert(**{**x.__dict__, "state": AlertState.RESOLVED, "resolved_at": time.time() - 1})
            for x in (a, b)
        ]
        pipeline.ingest(resolved, done)
        assert pipeline.flush(done + 1).sent == 2
        original = sink.messages("C0001")[0]
        assert original["edited"] and original["text"].startswith("[RESOLVED] TTFTAnomaly")
        assert "Resolved" in sink.messages("C0001")[-1]["text"]
        assert amtool(alertmanager, "alertname=TTFTAnomaly", "model_name=~incident-.*") == []
        tops = [m for m in sink.messages("C0001") if not m.get("thread_ts")]
        assert len(tops) == 1, "one message for the whole incident"
