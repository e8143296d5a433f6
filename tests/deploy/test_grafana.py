"""deploy/grafana/alerter-dashboard.json: valid JSON, sound PromQL, only metrics alerter exports.

Metric names are read from alerter/engine/metrics.py, so renaming a metric there without updating the
dashboard fails here. Every series the dashboard reads is alerter's: the band panel draws each
series' value from ``alerter_observed``, so no user has to paste the rule's expression.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from deploy_kit import DEPLOY, REPO, exported_metrics, metric_names

from alerter.config.promql import problems

DASHBOARD = DEPLOY / "grafana" / "alerter-dashboard.json"
GRAFANA_GLOBALS = {"__rate_interval", "__interval", "__range"}
# Grafana replaces its global variables with durations before Prometheus sees the query
# (https://grafana.com/docs/grafana/latest/datasources/prometheus/template-variables/).
SAMPLE_DURATION = "5m"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


@pytest.fixture(scope="module")
def known() -> set[str]:
    return exported_metrics((REPO / "alerter" / "engine" / "metrics.py").read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets and the queries of template variables."""
    out = [t["expr"] for p in panels(dashboard) for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", query)
            assert inner, f"{variable['name']}: expected label_values(selector, label), got {query}"
            out.append(inner.group(1))
    return out


def test_metric_names_come_from_the_metrics_module(known: set[str]) -> None:
    assert {
        "alerter_rule_evaluations_total",
        "alerter_rule_evaluation_failures_total",
        "alerter_group_evaluation_duration_seconds_bucket",
        "alerter_group_missed_ticks_total",
        "alerter_baseline_fit_seconds_bucket",
        "alerter_alerts",
        "alerter_source_up",
        "alerter_config_last_reload_successful",
        "alerter_baseline",
        "alerter_observed",
    } <= known


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le, x) (rate(a_bucket{job="b"}[5m]))', {"a_bucket"}),
        ("a - ignoring(bound) b offset 5m", {"a", "b"}),
        ('x{l=~"y|z", m!="and"} > bool 1 or vllm:q', {"x", "vllm:q"}),
        ("histogram_quantile(0.9, c) * on(i) group_left(j) d", {"c", "d"}),
        ('alerter_observed{alertname="$alertname", $selector}', {"alerter_observed"}),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_dashboard_identity_and_layout(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]


def test_every_expression_is_structurally_sound(dashboard: dict[str, Any]) -> None:
    exprs = expressions(dashboard)
    assert len(exprs) >= 10
    for expr in exprs:
        sent = re.sub(r"\$\{?(" + "|".join(GRAFANA_GLOBALS) + r")\}?", SAMPLE_DURATION, expr)
        # The selector textbox is pasted into the braces as typed: empty (its default) or matchers.
        for selector in ("", 'model_name="llama3"'):
            assert problems(sent.replace("$selector", selector)) == [], (expr, selector)


def test_only_alerter_metrics_or_the_users_series_are_read(
    dashboard: dict[str, Any], known: set[str]
) -> None:
    used: set[str] = set()
    for expr in expressions(dashboard):
        names = metric_names(expr)
        assert names, f"reads no metric: {expr}"
        used |= names
    assert used - known == set()
    assert {
        "alerter_baseline",
        "alerter_observed",
        "alerter_alerts",
        "alerter_rule_evaluations_total",
    } <= used


def test_every_variable_used_is_defined(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    text = DASHBOARD.read_text()
    used = set(re.findall(r"\$\{?(\w+)", text))
    assert used - GRAFANA_GLOBALS <= defined
    assert {"datasource", "rule_group", "alertname", "selector"} <= defined
    assert "series" not in defined, "the band panel reads alerter_observed; nothing to paste"


def test_band_panel_draws_the_value_inside_its_band(dashboard: dict[str, Any]) -> None:
    """The value comes from alerter_observed with the band's own matchers, so value and band are
    the same series (no expression pasted by hand, no other series mixed in)."""
    (panel,) = [
        p for p in panels(dashboard) if any("alerter_observed" in t["expr"] for t in p.get("targets", []))
    ]
    (value,) = [t for t in panel["targets"] if "alerter_observed" in t["expr"]]
    band_matchers = 'rule_group=~"$rule_group", alertname="$alertname"'
    assert value["expr"] == f"alerter_observed{{{band_matchers}, $selector}}"
    by_bound = {}
    for target in panel["targets"]:
        if target is not value:
            assert band_matchers in target["expr"] and "$selector" in target["expr"]
        match = re.search(r'bound="(\w+)"', target["expr"])
        if match:
            assert 'alertname="$alertname"' in target["expr"]
            by_bound[match.group(1)] = target["refId"]
    assert set(by_bound) == {"expected", "lower", "upper"}
    fills = {
        o["matcher"]["options"]: prop["value"]
        for o in panel["fieldConfig"]["overrides"]
        for prop in o["properties"]
        if prop["id"] == "custom.fillBelowTo"
    }
    assert fills == {by_bound["upper"]: "lower"}
    names = {
        o["matcher"]["options"]: prop["value"]
        for o in panel["fieldConfig"]["overrides"]
        for prop in o["properties"]
        if prop["id"] == "displayName"
    }
    assert names[by_bound["lower"]] == "lower"
