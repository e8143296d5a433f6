"""The engine end to end over a real Prometheus holding simulated history with known incidents.

Time is a parameter: the tests walk the engine's clock through the backfilled history one
evaluation at a time, so states can be checked at exact ticks without sleeping.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from harness import SimHistory
from harness.engine_setup import TTFT_RULE, EngineKit, incident

from alerter.backtest.series import ArraySource, rule_bundle
from alerter.config.load import load
from alerter.core.errors import SourceError
from alerter.core.model import AlertState, Labels, Series
from alerter.engine.baselines import Baselines
from alerter.engine.engine import SOURCE_DOWN, Engine, plan
from alerter.source.prometheus import PrometheusSource
from alerter.store.sqlite import Store

EPOCH = 1_795_010_400.0  # 2026-11-18T14:00Z

MODEL = "llama-3.1-8b"


def _states(kit: EngineKit, start: float, end: float) -> list[tuple[float, str, dict[str, str]]]:
    seen = []
    t = start
    while t <= end:
        kit.engine.tick("latency", t)
        for alert in kit.engine.alerts():
            seen.append((t, alert.state.value, dict(alert.labels)))
        t += 60.0
    return seen


def test_latency_regression_goes_pending_firing_resolved(
    prometheus_source: PrometheusSource, sim_history: SimHistory, engine_kit: Callable[..., EngineKit]
) -> None:
    truth = incident(sim_history.truth_path, "latency_regression")
    start, end = truth["start"], truth["end"]
    kit = engine_kit(prometheus_source, TTFT_RULE.format(for_="3m", keep="5m"), now=start - 3600)
    kit.walk(start - 3600, start - 60)
    assert [a for a in kit.engine.alerts() if a.state is not AlertState.INACTIVE] == []

    history = {}
    t = start
    while t <= end + 1800:
        kit.engine.tick("latency", t)
        for alert in kit.engine.alerts():
            history.setdefault(alert.labels["model_name"], []).append((t, alert))
        t += 60.0

    timeline = history[MODEL]
    pending = [t for t, a in timeline if a.state is AlertState.PENDING]
    firing = [(t, a) for t, a in timeline if a.state is AlertState.FIRING]
    resolved = [(t, a) for t, a in timeline if a.state is AlertState.RESOLVED]
    assert pending and firing and resolved
    first_firing_t, first_firing = firing[0]
    assert start <= pending[0] <= start + 600
    assert first_firing.active_at == pending[0]
    assert first_firing.fired_at == first_firing_t
    assert first_firing_t - pending[0] >= 180 and first_firing_t - pending[0] < 240
    assert first_firing.labels["severity"] == "page" and first_firing.labels["alertname"] == "TTFTAnomaly"
    assert first_firing.annotations["summary"].startswith(f"p99 TTFT of {MODEL} is ")
    assert first_firing.tier and first_firing.value > first_firing.upper
    last_firing_t = firing[-1][0]
    resolved_t, resolved_alert = resolved[0]
    assert resolved_t > end
    assert resolved_alert.resolved_at == resolved_t
    assert resolved_t == last_firing_t + 60
    recovered = [a.keep_firing_since for _, a in firing if a.keep_firing_since is not None]
    assert recovered, "after the incident the alert keeps firing for keep_firing_for"
    assert recovered[-1] + 300 <= resolved_t < recovered[-1] + 360
    # Whether the other models' series stay quiet meanwhile is detection quality, which depends on
    # the simulated noise of the day: benchmarks/backtest_noise.py measures it over many days.


def test_restart_keeps_firing_alert_and_baselines(
    prometheus_source: PrometheusSource,
    sim_history: SimHistory,
    engine_kit: Callable[..., EngineKit],
    tmp_path: Path,
) -> None:
    truth = incident(sim_history.truth_path, "latency_regression")
    start = truth["start"]
    db = tmp_path / "restart.db"
    first = engine_kit(prometheus_source, TTFT_RULE.format(for_="2m", keep="10m"), now=start, db=db)
    first.walk(start, start + 900)
    firing = [a for a in first.engine.alerts() if a.state is AlertState.FIRING]
    assert firing, "the incident should be firing 15 minutes in"
    fitted_at, _, count = first.engine.baselines.status(first.engine.groups["latency"].rules[0].baseline.key)
    assert count == 2
    first.store.close()

    second = engine_kit(prometheus_source, TTFT_RULE.format(for_="2m", keep="10m"), now=start + 960, db=db)
    restored = {a.fingerprint: a for a in second.engine.alerts()}
    for alert in firing:
        assert restored[alert.fingerprint].state is AlertState.FIRING
        assert restored[alert.fingerprint].fired_at == alert.fired_at
    key = second.engine.groups["latency"].rules[0].baseline.key
    second.engine.tick("latency", start + 960)
    assert second.engine.baselines.status(key)[0] == fitted_at, (
        "baselines must come from the store, not a refit"
    )
    again = {a.fingerprint: a for a in second.engine.alerts()}
    for alert in firing:
        assert again[alert.fingerprint].state is AlertState.FIRING
        assert again[alert.fingerprint].fired_at == alert.fired_at, "not re-announced as new"


def test_an_evaluation_the_store_refused_is_not_shown(tmp_path: Path) -> None:
    """What the API shows is what a restart restores: a tick whose write fails publishes nothing."""
    step = 60.0
    ts = EPOCH - 3600 + step * np.arange(60)
    source = ArraySource((Series(Labels(), ts, np.ones(ts.size)),))
    rule = {"alert": "Always", "expr": "x", "baseline": {"detector": "static", "above": 0}, "for": "5m"}
    store = Store(tmp_path / "state.db")
    try:
        engine = Engine(
            rule_bundle([rule], step, tmp_path), source, store, Baselines(source, store), now=ts[0]
        )
        engine.tick("replay", float(ts[10]))
        before = {a.fingerprint: a for a in engine.alerts()}
        assert [a.state for a in before.values()] == [AlertState.PENDING]

        def refuse(*_: object, **__: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        saved = store.save_alerts
        store.save_alerts = refuse  # type: ignore[method-assign]
        with pytest.raises(sqlite3.OperationalError):
            engine.tick("replay", float(ts[20]))
        assert {a.fingerprint: a for a in engine.alerts()} == before
        assert {a.fingerprint: a for a in store.load_alerts()} == before

        store.save_alerts = saved  # type: ignore[method-assign]
        engine.tick("replay", float(ts[20]))
        assert [a.state for a in engine.alerts()] == [AlertState.FIRING]
        assert [a.state for a in store.load_alerts()] == [AlertState.FIRING]
    finally:
        store.close()


class _Growing:
    """An in-memory source whose series set grows: ``add`` makes new series appear."""

    def __init__(self, series: list[Series]) -> None:
        self.series = series

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        return ArraySource(tuple(self.series)).query_range(expr, start, end, step)

    def query(self, expr: str, at: float) -> list[Series]:
        return ArraySource(tuple(self.series)).query(expr, at)


@pytest.mark.parametrize(
    "baseline",
    [{"detector": "static", "above": 10}, {"above": 10}],
    ids=["static", "auto-with-threshold"],
)
def test_new_series_are_judged_at_their_first_tick(tmp_path: Path, baseline: dict[str, object]) -> None:
    """250 new pods crossing a static threshold fire at once, not after the next early refit."""
    step = 60.0
    ts = EPOCH - 3600 + step * np.arange(61)
    old = Series(Labels(pod="old"), ts, np.ones(ts.size))
    source = _Growing([old])
    rule = {"alert": "Over", "expr": "x", "baseline": baseline}
    store = Store(tmp_path / "state.db")
    baselines = Baselines.background(source, store)
    try:
        engine = Engine(rule_bundle([rule], step, tmp_path), source, store, baselines, now=ts[0])
        engine.tick("replay", float(ts[50]))
        baselines.wait(timeout=30)
        engine.tick("replay", float(ts[55]))
        late = ts[56:]
        source.series = [old] + [
            Series(Labels(pod=f"new-{i}"), late, np.full(late.size, 50.0)) for i in range(250)
        ]
        engine.tick("replay", float(ts[60]))
        firing = [a for a in engine.alerts() if a.state is AlertState.FIRING]
        assert len(firing) == 250 and all(a.tier == "static" for a in firing)
    finally:
        baselines.close()
        store.close()


def test_a_new_series_gets_an_early_fit_of_its_own(tmp_path: Path) -> None:
    """A new series is fitted at its first tick; the rule's other baselines are not refitted."""
    step = 60.0
    ts = EPOCH - 6 * 3600 + step * np.arange(361)
    rng = np.random.default_rng(3)
    old = Series(Labels(pod="old"), ts, 10 + rng.normal(0, 1, ts.size))
    source = _Growing([old])
    rule = {"alert": "Odd", "expr": "x", "baseline": {"detector": "ewma"}}
    store = Store(tmp_path / "state.db")
    baselines = Baselines(source, store)
    try:
        engine = Engine(rule_bundle([rule], step, tmp_path), source, store, baselines, now=ts[0])
        key = engine.groups["replay"].rules[0].baseline.key
        engine.tick("replay", float(ts[300]))
        fitted_at, _, count = baselines.status(key)
        assert count == 1
        source.series = [old, Series(Labels(pod="new"), ts, 20 + rng.normal(0, 1, ts.size))]
        engine.tick("replay", float(ts[310]))
        assert baselines.status(key) == (fitted_at, "", 2)
    finally:
        store.close()


class _Switch(_Growing):
    """A source that is down (unreachable) while ``down`` is set."""

    down = False

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        if self.down:
            raise SourceError("unreachable", "connection refused", retryable=True, query=expr)
        return super().query_range(expr, start, end, step)


def test_source_down_resolves_on_the_first_successful_query_of_any_group(tmp_path: Path) -> None:
    """A group on a long interval must not hold AlerterSourceDown open with its stale error."""
    ts = EPOCH - 3600 + 60.0 * np.arange(61)
    source = _Switch([Series(Labels(), ts, np.ones(ts.size))])
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "groups:\n"
        "  - {name: fast, interval: 1m, rules: [{alert: A, expr: x, baseline: {detector: static, above: 5}}]}\n"
        "  - {name: slow, interval: 10m, rules: [{alert: B, expr: x, baseline: {detector: static, above: 5}}]}\n"
    )
    store = Store(tmp_path / "state.db")
    try:
        engine = Engine(load(None, [rules]), source, store, Baselines(source, store), now=ts[0])
        source.down = True
        for k in range(0, 4):
            engine.tick("fast", float(ts[k]))
        engine.tick("slow", float(ts[3]))
        meta = [a for a in engine.alerts() if a.rule == SOURCE_DOWN]
        assert meta and meta[0].state is AlertState.FIRING
        source.down = False
        engine.tick("fast", float(ts[4]))
        meta = [a for a in engine.alerts() if a.rule == SOURCE_DOWN]
        assert meta and meta[0].state is AlertState.RESOLVED, "the slow group's stale error kept it open"
    finally:
        store.close()


class _Meeting:
    """A source whose queries each wait until ``width`` of them are in flight at once."""

    def __init__(self, source: ArraySource, width: int) -> None:
        self.source = source
        self.barrier = threading.Barrier(width, timeout=10)
        self.errors = {"b"}

    def _meet(self, expr: str) -> None:
        self.barrier.wait()
        if expr in self.errors:
            raise SourceError("bad_query", f"parse error in {expr}", retryable=False, query=expr)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        self._meet(expr)
        return self.source.query_range(expr, start, end, step)

    def query(self, expr: str, at: float) -> list[Series]:
        self._meet(expr)
        return self.source.query(expr, at)


def test_a_groups_rule_queries_are_sent_together_and_judged_as_one_by_one(tmp_path: Path) -> None:
    step = 60.0
    ts = EPOCH - 3600 + step * np.arange(60)
    source = ArraySource((Series(Labels(pod="p"), ts, np.ones(ts.size)),))
    rules = [{"alert": name.upper(), "expr": name, "for": "1m"} for name in ("a", "b", "c")]
    bundle = rule_bundle(rules, step, tmp_path)
    seen = {}
    for threads, used in ((1, _Meeting(source, 1)), (4, _Meeting(source, 3))):
        # With one thread each query meets only itself; with four, the three must be in
        # flight together or the barrier times out and the tick fails.
        store = Store(tmp_path / f"state-{threads}.db")
        try:
            engine = Engine(bundle, used, store, Baselines(used, store), now=ts[0], query_threads=threads)
            results = [engine.tick("replay", float(ts[10]) + k * step + 7.5) for k in range(3)]
            engine.close()
            seen[threads] = [
                [(r.health.last_error, [(a.rule, a.state.value) for a in r.alerts]) for r in result]
                for result in results
            ]
        finally:
            store.close()
    assert seen[1] == seen[4]
    assert seen[4][-1] == [
        ("", [("A", "firing")]),
        ("bad_query: parse error in b", []),
        ("", [("C", "firing")]),
    ]


def test_a_groups_load_is_its_rule_evaluations_an_hour(tmp_path: Path) -> None:
    """What the replicas split the groups by: from the rule files alone, alike on every replica."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "groups:\n"
        "- name: fast\n  interval: 15s\n  rules:\n"
        "  - {alert: A, expr: up == 0}\n  - {alert: B, expr: up == 0}\n"
        "- name: slow\n  interval: 2m\n  rules:\n  - {alert: C, expr: up == 0}\n"
    )
    groups = plan(load(None, [rules]))
    assert {name: g.load for name, g in groups.items()} == {"fast": 480, "slow": 30}
