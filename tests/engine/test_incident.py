"""The whole loop in one process: a real incident in real Prometheus data, through the engine, to
Slack (the local Slack-compatible sink, driven by slack-sdk) and to a scale action on a local
Kubernetes-API-compatible server (driven by the kubernetes client), with the clock as a parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import ManagedProcess, SimHistory
from harness.engine_setup import incident

from alerter.config import load
from alerter.core.model import AlertState
from alerter.service.app import SLACK_API_ENV, App
from alerter.testing import kubernetes as kubeapi_server
from alerter.testing.slack import SlackSink

TOKEN = "xoxb-incident-test-token"
MODEL = "llama-3.1-8b"

# The rule judges the incident's model only: this test is about what happens to one incident
# (one page, one scale-up, one revert), not whether the other models' noise pages on the day the
# history happens to end, which benchmarks/backtest_noise.py measures over many days.
RULES = """
groups:
  - name: latency
    interval: 1m
    rules:
      - alert: TTFTAnomaly
        expr: histogram_quantile(0.99, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket{model_name="llama-3.1-8b"}[5m])))
        baseline: {detector: auto, sensitivity: 4, direction: up, history: 3d}
        trigger: {window: 5m, fraction: 0.6}
        for: 2m
        keep_firing_for: 5m
        labels: {severity: page}
        annotations:
          summary: "p99 TTFT of {{ labels.model_name }} is {{ value | duration }}"
        remediate: [scale-vllm]
"""

CONFIG = """
prometheus: {{url: {prometheus}}}
rule_files: [rules.yaml]
storage: {{path: state.db}}
server: {{listen: 127.0.0.1:0}}
receivers:
  - name: oncall
    slack: {{channel: "#alerts", token_env: INCIDENT_SLACK_TOKEN}}
route: {{receiver: oncall, group_by: [alertname, model_name], group_wait: 0s, group_interval: 1m, repeat_interval: 4h}}
policies:
  - name: scale-vllm
    mode: auto
    scale: {{deployment: inference/vllm-llama3, step: 2, max_replicas: 8}}
    cooldown: 30m
    verify: {{within: 30m}}
    revert_on_resolve: true
remediation:
  allow_namespaces: [inference]
  kubernetes: {{kubeconfig: {kubeconfig}}}
"""

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{{name: local, cluster: {{server: "{url}"}}}}]
users: [{{name: alerter, user: {{token: local-token}}}}]
contexts: [{{name: local, context: {{cluster: local, user: alerter}}}}]
current-context: local
"""


@pytest.fixture
def stack(
    tmp_path: Path, prometheus: ManagedProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[App, SlackSink, Any]]:
    with SlackSink(token=TOKEN) as sink, kubeapi_server.serve() as (kube_url, cluster):
        cluster.put("deployments", kubeapi_server.deployment("inference", "vllm-llama3", 2))
        (tmp_path / "kubeconfig.yaml").write_text(KUBECONFIG.format(url=kube_url))
        (tmp_path / "rules.yaml").write_text(RULES)
        config = tmp_path / "alerter.yaml"
        config.write_text(CONFIG.format(prometheus=prometheus.url, kubeconfig=tmp_path / "kubeconfig.yaml"))
        monkeypatch.setenv("INCIDENT_SLACK_TOKEN", TOKEN)
        monkeypatch.setenv(SLACK_API_ENV, sink.api_url)
        app = App(str(config), load(config), now=0.0)
        yield app, sink, cluster
        app.stop()


def test_incident_pages_once_scales_once_and_reverts(
    stack: tuple[App, SlackSink, Any], sim_history: SimHistory
) -> None:
    app, sink, cluster = stack
    truth = incident(sim_history.truth_path, "latency_regression")
    t = truth["start"] - 1200
    states = []
    while t <= truth["end"] + 1800:
        app.engine.tick("latency", t)
        app.baselines.wait()
        app._remediate(t)
        app._flush(t)
        states += [a.state for a in app.engine.alerts() if a.labels.get("model_name") == MODEL]
        t += 60
    assert AlertState.FIRING in states and AlertState.RESOLVED in states

    messages = sink.messages()
    top = [m for m in messages if not m.get("thread_ts")]
    replies = [m for m in messages if m.get("thread_ts")]
    assert len(top) == 1, "one message per alert group"
    assert MODEL in str(top[0]) and "TTFTAnomaly" in str(top[0])
    assert sink.uploads(), "the chart is uploaded with the message"
    assert any((u["data"] or b"")[:8] == b"\x89PNG\r\n\x1a\n" for u in sink.uploads().values())
    assert any("vllm-llama3" in str(r) for r in replies), "the remediation decision goes into the thread"
    assert sink.requests("chat.update"), "the resolution edits the original message"

    scales = cluster.calls_of("patch", "deployments/scale")
    assert len(scales) == 2, "exactly one scale action, then its revert"
    assert cluster.get("deployments", "inference", "vllm-llama3")["spec"]["replicas"] == 2
