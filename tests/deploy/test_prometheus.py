"""deploy/prometheus: the scrape config and recording rules, checked by promtool and used for real.

``promtool check config`` validates the example (and the rule file it loads), ``promtool test
rules`` runs the recording and alerting rules over synthetic series, and a real Prometheus
started with the shipped config scrapes a real engine: its ``alerter-local`` job finds the
engine's metrics, and every query of the Grafana dashboard is answered by Prometheus' own parser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from deploy_kit import DEPLOY, PORT, REPO, exported_metrics, metric_names
from harness import ManagedProcess, free_port, wait_until

from alerter.config import load
from alerter.service.app import App

SCRAPE = DEPLOY / "prometheus" / "scrape.yaml"
RECORDING = DEPLOY / "prometheus" / "alerter-recording.yaml"
DASHBOARD = DEPLOY / "grafana" / "alerter-dashboard.json"
RULE_TESTS = Path(__file__).resolve().parent / "alerter-recording.test.yaml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

RULE = """
groups:
  - name: self
    interval: 1s
    rules:
      - alert: TargetsUp
        expr: max by (job) (up)
        baseline: {detector: static, above: 2, below: 0.5, history: 1m, resolution: 1s}
        trigger: {window: 5s, fraction: 0.5}
"""
SERIES_EXPR = "max by (job) (up)"


def _promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def test_promtool_accepts_the_scrape_config_and_its_rules() -> None:
    done = _promtool("check", "config", str(SCRAPE))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "rules found" in done.stdout


def test_promtool_rejects_a_broken_copy(tmp_path: Path) -> None:
    """The check above is meaningful: a misspelt field in the same file fails it."""
    shutil.copy(RECORDING, tmp_path / RECORDING.name)
    broken = tmp_path / "scrape.yaml"
    broken.write_text(SCRAPE.read_text().replace("metrics_path:", "metric_path:", 1))
    assert _promtool("check", "config", str(broken)).returncode != 0


def test_recording_and_alerting_rules_pass_their_unit_tests() -> None:
    done = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_read_only_alerter_metrics() -> None:
    known = exported_metrics((REPO / "alerter" / "engine" / "metrics.py").read_text()) | {"up"}
    groups = yaml.safe_load(RECORDING.read_text())["groups"]
    exprs = [r["expr"] for g in groups for r in g["rules"]]
    assert exprs
    for expr in exprs:
        names = metric_names(expr)
        assert names and names <= known, expr


def test_local_job_scrapes_the_engines_default_port() -> None:
    jobs = {j["job_name"]: j for j in yaml.safe_load(SCRAPE.read_text())["scrape_configs"]}
    assert jobs["alerter-local"]["static_configs"] == [{"targets": [f"127.0.0.1:{PORT}"]}]
    assert all(j["metrics_path"] == "/metrics" for j in jobs.values())


@dataclass
class Stack:
    prometheus: ManagedProcess
    app: App

    def query(self, expr: str) -> list[dict[str, Any]]:
        reply = requests.get(f"{self.prometheus.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = reply.json()
        assert reply.status_code == 200 and body["status"] == "success", f"{expr}: {body.get('error')}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


def _prometheus_config(workdir: Path, port: int) -> Path:
    """The shipped config, made to scrape every second and to find the engine on ``port``."""
    config = yaml.safe_load(SCRAPE.read_text())
    config["global"]["scrape_interval"] = "1s"
    for job in config["scrape_configs"]:
        if job["job_name"] == "alerter-local":
            job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    shutil.copy(RECORDING, workdir / RECORDING.name)
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("scrape")
    engine_port, prometheus_port = free_port(), free_port()
    argv = [
        PROMETHEUS,
        f"--config.file={_prometheus_config(workdir, engine_port)}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
        "--log.level=warn",
    ]
    prometheus = ManagedProcess(
        "prometheus", argv, f"http://127.0.0.1:{prometheus_port}", workdir / "prometheus.log", "/-/ready"
    ).start()
    try:
        (workdir / "rules.yaml").write_text(RULE)
        config = workdir / "alerter.yaml"
        config.write_text(
            f"prometheus: {{url: {prometheus.url}}}\nrule_files: [rules.yaml]\n"
            f"storage: {{path: state.db}}\nserver: {{listen: 127.0.0.1:{engine_port}}}\n"
        )
        app = App(str(config), load(config), now=time.time())
        app.server.start()
        try:
            yield Stack(prometheus, app)
        finally:
            app.stop()
    finally:
        prometheus.stop()


def _evaluated(stack: Stack) -> None:
    """Tick the engine until its rule has a series (Prometheus needs a scrape of itself first)."""

    def ticked() -> bool:
        results = stack.app.engine.tick("self", time.time())
        stack.app.baselines.wait()
        return any(r.verdicts for r in stack.app.engine.tick("self", time.time())) or any(
            r.verdicts for r in results
        )

    wait_until(ticked, timeout=60, what="a verdict of the self-watching rule", interval=0.5)


def _scraped(stack: Stack) -> None:
    """Evaluate, then wait until Prometheus holds the rule's band: each test on its own."""
    _evaluated(stack)
    wait_until(
        lambda: bool(stack.query('alerter_baseline{alertname="TargetsUp", bound="upper"}')),
        timeout=60,
        what="the band scraped by Prometheus",
        interval=0.5,
    )


@pytest.mark.slow
def test_prometheus_scrapes_the_engine_with_the_shipped_config(stack: Stack) -> None:
    _scraped(stack)
    targets = requests.get(f"{stack.prometheus.url}/api/v1/targets", timeout=10).json()["data"][
        "activeTargets"
    ]
    local = [t for t in targets if t["labels"]["job"] == "alerter-local"]
    assert [t["health"] for t in local] == ["up"]
    (upper,) = stack.query('alerter_baseline{alertname="TargetsUp", bound="upper", job="alerter-local"}')
    assert float(upper["value"][1]) == 2.0
    assert upper["metric"]["rule_group"] == "self"
    rules = requests.get(f"{stack.prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {g["name"] for g in rules} == {"alerter-bands", "alerter-engine"}


def _substitute(expr: str, selector: str = 'job="alerter-local"') -> str:
    """The query Grafana sends once it has filled in the dashboard's variables."""
    values = {
        "__rate_interval": "1m",
        "rule_group": ".*",
        "alertname": "TargetsUp",
        "selector": selector,
        "series": SERIES_EXPR,
    }
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: values[m.group(1) or m.group(2)], expr)


@pytest.mark.slow
def test_every_dashboard_query_is_answered_by_prometheus(stack: Stack) -> None:
    _scraped(stack)
    wait_until(
        lambda: bool(stack.query("alerter_rule_evaluations_total")),
        timeout=60,
        what="engine metrics in Prometheus",
        interval=0.5,
    )
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    answered = {}
    for panel in panels:
        for target in panel["targets"]:
            answered[(panel["title"], target["refId"])] = stack.query(_substitute(target["expr"]))
            stack.query(_substitute(target["expr"], selector=""))  # the box left empty
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            selector = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", variable["query"]["query"])
            assert selector is not None
            found = stack.query(_substitute(selector.group(1)))
            assert {s["metric"][selector.group(2)] for s in found} >= {
                "self" if variable["name"] == "rule_group" else "TargetsUp"
            }
    band = next(p["title"] for p in panels if any("alerter_observed" in t["expr"] for t in p["targets"]))
    for ref in "ABCD":
        assert answered[(band, ref)], f"band panel target {ref} is empty"
    assert answered[("Rule evaluations", "A")]
    assert answered[("Metrics source", "A")][0]["value"][1] == "1"
