"""``alerter backtest`` over a real Prometheus holding simulated history with known incidents.

Each replay covers a day around one injected incident (truth.json) at a 5-minute clock step,
through the real engine, notification pipeline and remediation runner. The assertions are about
mechanics (the incident is found, notifications follow the route, remediation follows the
policy) and hold whatever else the detectors page on: how rarely the rules page outside
incidents is measured by ``benchmarks/backtest_noise.py`` over many histories and seeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness import ManagedProcess, SimHistory
from harness.backtest_setup import COOLDOWN, MAX_REPLICAS, STEP_REPLICAS, incidents, write_setup

from alerter import backtest
from alerter.backtest.report import to_json
from alerter.config import load
from alerter.core.errors import AlerterError
from alerter.source.prometheus import PrometheusSource

STEP = 300.0
KEEP = 300.0  # keep_firing_for of the test rules


# B is A plus a rule that fires on every series all the time: what --against reports is then known
# whatever the day's data (how much a retuned rule changes is detection quality, not a mechanic).
EXTRA_RULE = """
      - alert: TTFTAboveZero
        expr: histogram_quantile(0.99, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket[5m])))
        baseline: {detector: static, above: 0}
        labels: {severity: info}
"""


def _window(incident: dict[str, Any]) -> tuple[float, float]:
    return incident["start"] - 12 * 3600.0, incident["end"] + 6 * 3600.0


@pytest.fixture(scope="module")
def source(prometheus: ManagedProcess) -> Iterator[PrometheusSource]:
    with PrometheusSource(prometheus.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def setups(tmp_path_factory: pytest.TempPathFactory, prometheus: ManagedProcess) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("backtest")
    return {
        "default": write_setup(base / "default", prometheus.url),
        "extended": write_setup(base / "extended", prometheus.url, extra_rules=EXTRA_RULE),
    }


@pytest.fixture(scope="module")
def replays(
    setups: dict[str, Path], source: PrometheusSource, sim_history: SimHistory
) -> dict[str, tuple[dict[str, Any], backtest.Result]]:
    """One replay per incident kind the rules watch, over a day around it."""
    out = {}
    for found in incidents(sim_history.truth_path, "latency_regression", "queue_buildup"):
        start, end = _window(found)
        result = backtest.replay(load(setups["default"]), source, start, end, STEP)
        out[found["kind"]] = (found, result)
    return out


def _overlaps(alert: dict[str, Any], incident: dict[str, Any], end: float) -> bool:
    resolved = alert["resolved_at"] if alert["resolved_at"] is not None else end
    return bool(alert["active_at"] <= incident["end"] + KEEP and resolved >= incident["start"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "rule"), [("latency_regression", "TTFTAnomaly"), ("queue_buildup", "QueueTimeAnomaly")]
)
def test_backtest_reports_the_injected_incident(
    replays: dict[str, tuple[dict[str, Any], backtest.Result]], kind: str, rule: str
) -> None:
    incident, result = replays[kind]
    doc = to_json(result)["a"]
    hits = [
        a
        for a in doc["alerts"]
        if a["rule"] == rule
        and a["labels"]["model_name"] == incident["model"]
        and _overlaps(a, incident, result.end)
    ]
    assert hits, f"{rule} did not fire on {incident['model']} during the injected {kind}"
    assert all(h["fired_at"] <= incident["end"] + KEEP for h in hits)
    assert all(h["resolved_at"] is not None for h in hits), "the alert resolves after the incident"
    assert not doc["rule_errors"]


@pytest.mark.slow
def test_notifications_follow_the_route_and_remediation_is_recorded(
    replays: dict[str, tuple[dict[str, Any], backtest.Result]],
) -> None:
    incident, result = replays["latency_regression"]
    doc = to_json(result)["a"]
    pages = [n for n in doc["notifications"] if n["receiver"] == "oncall" and n["firing"]]
    assert any(
        f["rule"] == "TTFTAnomaly" and f["labels"]["model_name"] == incident["model"]
        for n in pages
        for f in n["firing"]
    )
    assert not any(f["labels"]["severity"] == "ticket" for n in pages for f in n["firing"])
    assert any(n["reason"] == "resolved" for n in doc["notifications"]), "resolutions are notified"
    assert doc["totals"]["pages"] >= 1 and doc["totals"]["pages_per_week"] > 0
    events = [e for e in doc["remediation"] if e["policy"] == "scale-vllm"]
    assert events and all(e["target"] == "deployment/inference/vllm-llama3" for e in events)
    assert {e["rule"] for e in events} == {"TTFTAnomaly"}, "only the rule that names the policy acts"
    ttft = [a for a in doc["alerts"] if a["rule"] == "TTFTAnomaly"]
    taken = [e["at"] for e in events if e["decision"] == "taken"]
    assert taken, events
    # The runner acts on an alert while it fires, once the gates allow: at its firing, or later
    # when a cooldown that held it back has passed.
    firing = [(a["fired_at"], a["resolved_at"] if a["resolved_at"] is not None else result.end) for a in ttft]
    assert all(any(lo <= at <= hi for lo, hi in firing) for at in taken), "actions are taken on firing alerts"
    assert all(b - a >= COOLDOWN for a, b in pairwise(taken)), "cooldown between actions"
    reverted = [e["at"] for e in events if e["decision"] == "reverted"]
    assert set(reverted) <= {a["resolved_at"] for a in ttft}, "a revert follows a resolution"
    # the incident's own alert is acted on, or a gate says why not
    (own,) = [e for e in events if e["at"] == _incident_alert(doc, incident)["fired_at"]]
    assert own["decision"] == "taken" or own["gate"], own
    # the recording actuator starts at one replica: each action scales up by the step (capped at
    # max_replicas), each revert restores what the action it undoes found
    replicas, undo = 1, []
    for change in doc["remediation_changes"]:
        assert change["from"] == replicas, doc["remediation_changes"]
        if change["to"] > replicas:
            assert change["at"] in taken and change["to"] == min(replicas + STEP_REPLICAS, MAX_REPLICAS), (
                change
            )
            undo.append(replicas)
        else:
            assert change["at"] in reverted and undo and change["to"] == undo.pop(), change
        replicas = change["to"]
    assert len(doc["remediation_changes"]) == len(taken) + len(reverted)


def _incident_alert(doc: dict[str, Any], incident: dict[str, Any]) -> dict[str, Any]:
    """The first TTFT alert of the incident's model that overlaps the incident."""
    return next(
        a
        for a in doc["alerts"]
        if a["rule"] == "TTFTAnomaly"
        and a["labels"]["model_name"] == incident["model"]
        and _overlaps(a, incident, float("inf"))
    )


@pytest.mark.slow
def test_json_document_shape(replays: dict[str, tuple[dict[str, Any], backtest.Result]]) -> None:
    _, result = replays["queue_buildup"]
    doc = json.loads(json.dumps(to_json(result)))
    assert set(doc) == {"a"}
    part = doc["a"]
    assert set(part) == {
        "range",
        "rules",
        "totals",
        "alerts",
        "notifications",
        "remediation",
        "remediation_changes",
        "rule_errors",
        "run",
        "per_rule",
    }
    assert part["rules"] == ["QueueTimeAnomaly", "TTFTAnomaly"]
    assert [r["rule"] for r in part["per_rule"]] == part["rules"]
    assert part["range"] == {"from": result.start, "to": result.end, "step": STEP}
    assert set(part["totals"]) == {
        "alerts",
        "notifications",
        "notifications_per_receiver",
        "pages",
        "pages_per_week",
        "noisiest_rules",
        "remediation_decisions",
    }
    assert part["totals"]["alerts"] == len(part["alerts"])
    assert part["run"]["ticks"] == int((result.end - result.start) // STEP) + 1
    # every tick after the first is served from memory: one fetch per expression and step
    assert part["run"]["queries_sent"] <= 6 < part["run"]["queries_served_from_memory"]
    for alert in part["alerts"]:
        assert alert["active_at"] <= alert["fired_at"] <= (alert["resolved_at"] or result.end)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.refs: list[str] = []
        self.images = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("meta", "img", "br"):
            self.stack.append(tag)
        self.images += tag == "img"
        self.refs += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.slow
def test_cli_against_shows_the_difference_and_writes_a_self_contained_report(
    setups: dict[str, Path], sim_history: SimHistory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    incident = incidents(sim_history.truth_path, "latency_regression")[0]
    start, end = _window(incident)
    out_json, out_html = tmp_path / "bt.json", tmp_path / "bt.html"
    code = backtest.main(
        [
            "--config",
            str(setups["default"]),
            "--from",
            str(start),
            "--to",
            str(end),
            "--step",
            "5m",
            "--against",
            str(setups["extended"].parent / "rules.yaml"),
            "--json",
            str(out_json),
            "--report",
            str(out_html),
        ]
    )
    assert code == 0
    doc = json.loads(out_json.read_text())
    assert set(doc) == {"a", "b", "diff"}
    out, err = capsys.readouterr()
    assert "rule set A:" in out and "rule set B:" in out and "only in B:" in out
    assert "replaying" in err
    diff = doc["diff"]
    assert diff["only_b"] and {e["rule"] for e in diff["only_b"]} == {"TTFTAboveZero"}, "B's extra rule"
    assert not diff["only_a"], "the rules both sides share fire alike"
    assert len(doc["b"]["alerts"]) > len(doc["a"]["alerts"])
    assert len(diff["both"]) + len(diff["only_a"]) == len(doc["a"]["alerts"])
    assert len(diff["both"]) + len(diff["only_b"]) == len(doc["b"]["alerts"])

    page = out_html.read_text()
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], "every element is closed"
    assert "://" not in page, "the report links nothing outside itself"
    assert parser.refs and all(r.startswith("data:image/png;base64,") for r in parser.refs)
    assert parser.images == len(doc["a"]["alerts"]) + len(doc["b"]["alerts"])
    words = " ".join(parser.text)
    assert "only in B" in words and "TTFTAnomaly" in words and incident["model"] in words
    assert "deployment/scale/inference/vllm-llama3" in words, "the scale action is listed"


def test_replay_refuses_a_bad_range(setups: dict[str, Path], source: PrometheusSource) -> None:
    bundle = load(setups["default"])
    with pytest.raises(AlerterError, match="must be after"):
        backtest.replay(bundle, source, 2000.0, 1000.0)
    with pytest.raises(AlerterError, match="step must be positive"):
        backtest.replay(bundle, source, 1000.0, 2000.0, 0.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", 1793491200.0),
        ("2026-11-01T06:00Z", 1793512800.0),
        ("2026-11-01T07:00+01:00", 1793512800.0),
        ("1793491200", 1793491200.0),
    ],
)
def test_parse_time(text: str, expected: float) -> None:
    assert backtest.parse_time(text) == expected


def test_parse_time_names_the_accepted_forms() -> None:
    with pytest.raises(AlerterError, match="2026-11-01T06:00Z or unix seconds"):
        backtest.parse_time("yesterday")


def test_register_adds_the_subcommand_with_its_options() -> None:
    import argparse

    root = argparse.ArgumentParser(prog="alerter")
    backtest.register(root.add_subparsers(dest="command"))
    args = root.parse_args(
        [
            "backtest",
            "--config",
            "a.yaml",
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02",
            "--step",
            "5m",
            "--against",
            "b.yaml",
            "c.yaml",
        ]
    )
    assert args.func is backtest.command
    assert (args.start, args.end, args.step) == (1793491200.0, 1793577600.0, 300.0)
    assert args.against == ["b.yaml", "c.yaml"] and args.rules is None and args.report is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--from", "soon"], "cannot read time 'soon'"), (["--step", "5x"], "invalid duration '5x'")],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"--config": "a.yaml", "--from": "2026-11-01", "--to": "2026-11-02"}
    base.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    with pytest.raises(SystemExit) as exit_:
        backtest.main([x for pair in base.items() for x in pair])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


# -- a flapping alert and the remediation budget, replayed offline -----------------------------

FLAP_CONFIG = """
prometheus: {{url: "http://127.0.0.1:1"}}
rule_files: [rules.yaml]
policies:
  - name: scale-vllm
    mode: auto
    scale: {{deployment: inference/vllm, step: 1, max_replicas: 32}}
    cooldown: 10m
    max_actions: {{count: 3, per: 1h}}
    revert_on_resolve: false
{budget}
remediation:
  allow_namespaces: [inference]
"""
FLAP_RULES = """
groups:
  - name: latency
    interval: 1m
    rules:
      - alert: TTFTHigh
        expr: ttft
        baseline: {detector: static, above: 1}
        for: 1m
        remediate: [scale-vllm]
"""
FLAP_START = 1_794_996_000.0  # 2026-11-18T10:00Z


def _flapping(tmp_path: Path, hours: int, every: float, budget: str = "") -> backtest.Result:
    """The static rule over a TTFT that is high for 10 minutes of every ``every`` seconds."""
    from alerter.backtest.series import replay_bundle
    from alerter.core.model import Labels, Series

    (tmp_path / "alerter.yaml").write_text(FLAP_CONFIG.format(budget=budget))
    (tmp_path / "rules.yaml").write_text(FLAP_RULES)
    ts = FLAP_START + 60.0 * np.arange(hours * 60 + 1)
    values = np.where((ts - FLAP_START) % every < 600, 5.0, 0.5)
    return replay_bundle(load(tmp_path / "alerter.yaml"), [Series(Labels(model_name="llama3"), ts, values)],
                         interval=60.0)  # fmt: skip


def _acted(result: backtest.Result) -> tuple[int, list[int], list[dict[str, Any]]]:
    """(firing episodes, replicas after each change, approval requests)."""
    episodes = sum(1 for e in result.episodes if e.fired_at is not None)
    asked = [e for e in result.events if e["decision"] == "pending-approval"]
    return episodes, [c["to"] for c in result.changes], asked


def test_without_a_budget_an_alert_flapping_every_30m_ratchets_the_deployment(tmp_path: Path) -> None:
    """The scenario the budget is for: every action is within every per-hour limit, 16 in 8 hours."""
    result = _flapping(tmp_path, 8, 1800, "    budget: {max_per_chain: 10000, max_per_day: 10000}")
    episodes, replicas, asked = _acted(result)
    assert (episodes, len(replicas), replicas[-1], len(asked)) == (16, 16, 17, 0)


def test_an_alert_flapping_every_30m_gets_two_actions_then_asks_a_human(tmp_path: Path) -> None:
    result = _flapping(tmp_path, 8, 1800)  # the default budget
    episodes, replicas, asked = _acted(result)
    assert (episodes, replicas, len(asked)) == (16, [2, 3], 14)
    assert {e["gate"] for e in asked} == {"chain_budget"}
    assert asked[0]["reason"] == (
        "auto-remediation paused: 2 actions already taken in this incident chain (since 10:01 UTC); "
        "approve to continue (proposed: scale deployment inference/vllm 3 -> 4 replicas)"
    )
    expired = [e for e in result.events if e["decision"] == "expired"]
    assert len(expired) == 14, "each request lapses when its episode resolves unanswered"


def test_separate_incidents_get_four_actions_a_day(tmp_path: Path) -> None:
    """An hour and twenty minutes of quiet between episodes: each is its own incident chain."""
    result = _flapping(tmp_path, 24, 5400)
    episodes, replicas, asked = _acted(result)
    assert (episodes, replicas, len(asked)) == (16, [2, 3, 4, 5], 12)
    assert {e["gate"] for e in asked} == {"daily_budget"}
    assert "4 actions already taken on inference/vllm in the last 24h (since 10:01 UTC; max_per_day 4)" in (
        asked[0]["reason"])  # fmt: skip
