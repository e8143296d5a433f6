"""The backtest tests' setup (and the backtest noise benchmark's): a config and rule files on disk.

Two rules watch TTFT and queue time of the simulated models with `auto` baselines; TTFT alerts
page the on-call Slack receiver and drive an auto-mode scale policy, queue-time alerts go to a
ticket webhook. `write_setup` writes them next to an alerter.yaml over a given Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RULES = """
groups:
  - name: latency
    interval: 1m
    rules:
      - alert: TTFTAnomaly
        expr: histogram_quantile(0.99, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket[5m])))
        baseline: {{detector: auto, sensitivity: {sensitivity}, direction: up, history: 3d}}
        trigger: {{window: 5m, fraction: 0.6}}
        for: 2m
        keep_firing_for: 5m
        labels: {{severity: page}}
        annotations:
          summary: "p99 TTFT of {{{{ labels.model_name }}}} is {{{{ value | duration }}}}"
        remediate: [scale-vllm]
      - alert: QueueTimeAnomaly
        expr: histogram_quantile(0.9, sum by (le, model_name) (rate(vllm:request_queue_time_seconds_bucket[5m])))
        baseline: {{detector: auto, sensitivity: {sensitivity}, direction: up, history: 3d, min_deviation: 0.05}}
        trigger: {{window: 5m, fraction: 0.6}}
        for: 2m
        keep_firing_for: 5m
        labels: {{severity: ticket}}
"""

CONFIG = """
prometheus: {{url: {prometheus}}}
rule_files: [rules.yaml]
storage: {{path: state.db}}
receivers:
  - name: oncall
    slack: {{channel: "#llm-oncall", token_env: BACKTEST_UNUSED_TOKEN}}
  - name: tickets
    webhook: {{url: "http://127.0.0.1:9/hook"}}
route:
  receiver: oncall
  group_by: [alertname, model_name]
  group_wait: 0s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - {{matchers: ['severity="ticket"'], receiver: tickets}}
policies:
  - name: scale-vllm
    mode: auto
    scale: {{deployment: inference/vllm-llama3, step: 2, max_replicas: 8}}
    cooldown: 30m
    revert_on_resolve: true
remediation:
  allow_namespaces: [inference]
"""


COOLDOWN = 1800.0
STEP_REPLICAS = 2
MAX_REPLICAS = 8
"""The scale policy's cooldown (30m), step and max_replicas, as written in CONFIG."""


def write_setup(
    directory: Path, prometheus_url: str, sensitivity: float = 4.0, extra_rules: str = ""
) -> Path:
    """alerter.yaml plus rules.yaml in ``directory``; returns the config path.

    ``extra_rules``: more rules (YAML list items indented for the ``latency`` group) appended to it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(RULES.format(sensitivity=sensitivity) + extra_rules.lstrip("\n"))
    config = directory / "alerter.yaml"
    config.write_text(CONFIG.format(prometheus=prometheus_url))
    return config


def incidents(truth_path: Path, *kinds: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(truth_path.read_text())["incidents"]
    return [i for i in found if i["kind"] in kinds]
