"""Two engines share the rule groups over member Leases on the stand-in and one store file.

The store file stands in for the shared store: both replicas open it, as both would open the
same database. Replica b is killed while it owns firing alerts; a takes its groups once b's
Lease can have expired and continues the same alerts (same ``fired_at``, no second firing). Time is passed in: every 5 s each replica renews and re-reads ownership,
every 30 s it ticks the groups it owns, both through the scheduler's ownership check.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from harness.postgres import StoreFactory

from alerter.backtest.series import ArraySource
from alerter.cluster.membership import Membership
from alerter.cluster.ownership import balance
from alerter.cluster.sharding import Sharding
from alerter.config.engine import Route as RouteConfig
from alerter.config.load import load
from alerter.core.model import Alert, AlertState, Labels, Series
from alerter.engine.baselines import Baselines
from alerter.engine.engine import Engine
from alerter.engine.scheduler import Scheduler
from alerter.notify import route as routing
from alerter.notify.base import Notification, Notifier, Payload
from alerter.notify.pipeline import Pipeline
from alerter.store.sqlite import Store

NOW = 1_800_000_000.0
GROUPS = [f"g{i}" for i in range(8)]
LOADS = {g: 120 for g in GROUPS}
"""Each group's load: one rule every 30 s (``GroupPlan.load``)."""


class Replica:
    def __init__(
        self,
        name: str,
        api_client: Any,
        rules: Path,
        store: Path | Store,
        source: ArraySource,
        now: float,
        receiver: Receiver | None = None,
    ) -> None:
        self.name = name
        self.now = now
        """The replica's clock: what a tick's results are judged by when they are ready."""
        self.store = store if isinstance(store, Store) else Store(store)
        self.sent: list[Alert] = []
        membership = Membership(api_client, namespace="alerter", identity=name, duration=15)
        self.sharding = Sharding(membership, settle=15)
        bundle = load(None, [rules])
        self.engine = Engine(bundle, source, self.store, Baselines(source, self.store), sink=self._sink,
                             now=now, load_alerts=False)  # fmt: skip
        self.scheduler = Scheduler(self.engine, owns=self.sharding.owns, replica=name, clock=lambda: self.now)
        self.pipeline: Pipeline | None = None
        if receiver is not None:  # as service.app wires it when the cluster is on
            route = routing.build(RouteConfig.model_validate(
                {"receiver": "slack", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "30s"}))  # fmt: skip
            notifiers: dict[str, Notifier] = {"slack": receiver}
            self.pipeline = Pipeline(self.store, route, notifiers, replica=name, owns=self.sharding.owns_key)

    def _sink(self, alerts: Sequence[Alert], now: float) -> None:
        self.sent.extend(alerts)
        if self.pipeline is not None:
            self.pipeline.ingest(alerts, now)

    def flush(self, now: float) -> None:
        if self.pipeline is not None and self.sharding.holds(now):
            self.pipeline.flush(now)

    def share(self, now: float) -> None:
        """What ``service.app.App._share`` does, without the APScheduler jobs."""
        self.now = now
        change = self.sharding.round({name: g.load for name, g in self.engine.groups.items()}, now)
        for group in sorted(change.gained):
            self.engine.adopt(group, now)
        for group in sorted(change.lost):
            self.engine.release(group)

    def tick(self, now: float) -> None:
        self.now = now
        for group in self.engine.groups:
            self.scheduler.tick(group, now)

    def close(self) -> None:
        self.engine.close()
        self.store.close()


@dataclass
class Receiver:
    """One Slack both replicas send to: what it took, in order; it finds what it took (``recover``)."""

    name: str = "slack"
    resend_interval: float | None = None
    coalesce: bool = False
    threads: bool = True
    burst_limit: int | None = None
    took: list[tuple[str, Notification]] = field(default_factory=list)
    rendered: dict[str, Notification] = field(default_factory=dict)

    def render(self, notification: Notification) -> Payload:
        token = f"n{len(self.rendered)}"
        self.rendered[token] = notification
        return Payload(notification.kind, {"token": token})

    def deliver(self, payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        self.took.append((key, self.rendered[str(payload.body["token"])]))
        return thread or key

    def recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        return any(k == key for k, _ in self.took), thread


def firing(replica: Replica) -> list[Alert]:
    return [a for a in replica.sent if a.state is AlertState.FIRING and a.fired_at is not None]


def test_a_killed_replicas_firing_alerts_continue_on_the_other_without_a_second_firing(
    tmp_path: Path, api_client: Any
) -> None:
    rules = tmp_path / "rules.yaml"
    groups = [
        {"name": g, "interval": "30s", "rules": [{"alert": f"Up{g}", "expr": "up", "for": "1m"}]}
        for g in GROUPS
    ]
    rules.write_text(json.dumps({"groups": groups}))
    ts = np.arange(NOW - 600, NOW + 3600, 15.0)
    up = Series(Labels(__name__="up", job="vllm"), ts, np.ones(ts.size))
    source = ArraySource((up,))
    a, b = (
        Replica(n, api_client, rules, tmp_path / "state.db", source, NOW) for n in ("alerter-a", "alerter-b")
    )
    owner = balance(LOADS, ["alerter-a", "alerter-b"])
    ours = {n: {g for g, o in owner.items() if o == n} for n in ("alerter-a", "alerter-b")}
    assert ours["alerter-a"] and ours["alerter-b"]
    try:
        for second in range(0, 181, 5):
            for replica in (a, b):
                replica.share(NOW + second)
            if second % 30 == 0:
                for replica in (a, b):
                    replica.tick(NOW + second)
        assert {x.group for x in a.engine.alerts()} == ours["alerter-a"]
        assert {x.group for x in b.engine.alerts()} == ours["alerter-b"]
        fired = {x.group: x.fired_at for x in [*firing(a), *firing(b)]}
        assert set(fired) == set(GROUPS), "every group fired, on its owner only"
        assert {x.group for x in firing(a)} == ours["alerter-a"]
        before = len(a.sent)
        # b is killed after +180: no more renewals, no more ticks.
        handed: float | None = None
        for second in range(185, 301, 5):
            a.share(NOW + second)
            if handed is None and a.sharding.owned(NOW + second) == set(GROUPS):
                handed = second
            if second % 30 == 0:
                a.tick(NOW + second)
        assert handed is not None and 180 + 15 <= handed <= 180 + 15 + 5, handed
        took = a.sent[before:]
        assert {x.group for x in took} == set(GROUPS)
        assert all(x.state is AlertState.FIRING for x in took)
        assert {x.group: x.fired_at for x in took} == fired, "the same alerts go on firing"
    finally:
        a.close()
        b.close()


def test_a_killed_replicas_groups_are_announced_once_and_resolved_once_by_the_others(
    tmp_path: Path, api_client: Any, open_store: StoreFactory
) -> None:
    """Three replicas share the rule groups, the notification groups and one store; one is
    killed while it owns firing alerts. Every alert's group is announced exactly once and
    resolved exactly once, whichever replica evaluated it and whichever sent its messages."""
    rules = tmp_path / "rules.yaml"
    groups = [
        {"name": g, "interval": "30s", "rules": [{"alert": f"Up{g}", "expr": "up", "for": "1m"}]}
        for g in GROUPS
    ]
    rules.write_text(json.dumps({"groups": groups}))
    ts = np.arange(NOW - 600, NOW + 600, 15.0)  # the series ends at +600: every alert resolves
    source = ArraySource((Series(Labels(__name__="up", job="vllm"), ts, np.ones(ts.size)),))
    slack = Receiver()
    names = ["alerter-a", "alerter-b", "alerter-c"]
    replicas = {n: Replica(n, api_client, rules, open_store(), source, NOW, slack) for n in names}
    owner = balance(LOADS, names)
    victim = max(names, key=lambda n: sum(o == n for o in owner.values()))
    assert any(o == victim for o in owner.values())
    killed_at = 180
    moved: int | None = None
    settled: int | None = None
    try:
        for second in range(0, 1501, 5):
            now = NOW + second
            live = [r for n, r in replicas.items() if n != victim or second <= killed_at]
            for replica in live:
                replica.share(now)
            if second % 30 == 0:
                for replica in live:
                    replica.tick(now)
            for replica in live:
                replica.flush(now)
            if second == killed_at:
                assert any(a.state is AlertState.FIRING for a in replicas[victim].engine.alerts())
            if second > killed_at:
                owned = set().union(*(r.sharding.owned(now) for n, r in replicas.items() if n != victim))
                if moved is None and {g for g, o in owner.items() if o == victim} <= owned:
                    moved = second
                if settled is None and owned == set(GROUPS):
                    settled = second
        assert moved is not None and moved - killed_at <= 15 + 5, "its groups moved within the Lease duration"
        # the groups the two survivors trade to even out their loads wait one settle time more
        assert settled is not None and settled - killed_at <= 2 * 15 + 5, "every group owned again"
        told = Counter((n.group_key, n.reason.value) for _, n in slack.took)
        keys = {n.group_key for _, n in slack.took}
        assert len(keys) == len(GROUPS), "one notification group per rule"
        assert told == Counter({(k, r): 1 for k in keys for r in ("first", "resolved")})
        resolved = [n for _, n in slack.took if n.reason.value == "resolved"]
        assert all(not n.firing and len(n.resolved) == 1 for n in resolved)
    finally:
        for replica in replicas.values():
            replica.close()


class Slow:
    """A source whose next query runs ``during`` first: the rest of the world moves on while
    one replica's evaluation is in flight."""

    def __init__(self, source: ArraySource) -> None:
        self.source = source
        self.during: Callable[[], None] | None = None

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        hook, self.during = self.during, None
        if hook is not None:
            hook()
        return self.source.query_range(expr, start, end, step)

    def query(self, expr: str, at: float) -> list[Series]:
        return self.source.query(expr, at)


def test_an_evaluation_that_outlasts_its_owner_is_dropped_and_every_alert_is_told_once(
    tmp_path: Path, api_client: Any, open_store: StoreFactory
) -> None:
    """a's ticks at +120 (its alerts firing since +90) are slow: while they run, a is cut off
    from the API server, b sees its Lease expire, takes its groups from the store at +135 and
    at +150 finds the series back to normal, resolving them. a's evaluations answer at +155,
    saying firing: written, they would put resolved alerts back to firing and tell them again.
    Fenced, they are dropped, and every group is announced once and resolved once."""
    rules = tmp_path / "rules.yaml"
    rule = {"expr": "up", "for": "1m", "baseline": {"detector": "static", "above": 0},
            "keep_firing_for": "0s", "trigger": {"window": "30s", "fraction": 0.5}}  # fmt: skip
    groups = [{"name": g, "interval": "30s", "rules": [{"alert": f"Up{g}", **rule}]} for g in GROUPS]
    rules.write_text(json.dumps({"groups": groups}))
    ts = np.arange(NOW - 600, NOW + 600, 15.0)
    values = np.where(ts <= NOW + 130, 1.0, 0.0)  # anomalous (above 0) until +130
    up = ArraySource((Series(Labels(__name__="up", job="vllm"), ts, values),))
    slow = Slow(up)
    slack = Receiver()
    a = Replica("alerter-a", api_client, rules, open_store(), slow, NOW, slack)  # type: ignore[arg-type]
    b = Replica("alerter-b", api_client, rules, open_store(), up, NOW, slack)
    ours = {g for g, o in balance(LOADS, [a.name, b.name]).items() if o == a.name}
    assert ours and ours != set(GROUPS)

    def step(replicas: Sequence[Replica], second: int) -> None:
        for replica in replicas:
            replica.share(NOW + second)
        if second % 30 == 0:
            for replica in replicas:
                replica.tick(NOW + second)
        for replica in replicas:
            replica.flush(NOW + second)

    def meanwhile() -> None:
        """a's first query at +120 takes until +155; a renews nothing meanwhile."""
        for second in range(125, 156, 5):
            step([b], second)
        a.now = NOW + 155

    try:
        for second in range(0, 120, 5):
            step([a, b], second)
        assert {x.group for x in a.engine.alerts() if x.state is AlertState.FIRING} == ours
        for replica in (a, b):
            replica.share(NOW + 120)
        b.tick(NOW + 120)
        slow.during = meanwhile
        a.tick(NOW + 120)  # every one of a's groups answers after +155
        assert b.sharding.owned(NOW + 155) == set(GROUPS)
        fenced = a.engine.metrics.registry.get_sample_value
        assert {g: fenced("alerter_cluster_fenced_ticks_total", {"rule_group": g}) for g in ours} == {
            g: 1.0 for g in ours
        }
        for second in range(160, 361, 5):
            step([b], second)
        told = Counter((n.group_key, n.reason.value) for _, n in slack.took)
        keys = {n.group_key for _, n in slack.took}
        assert len(keys) == len(GROUPS)
        assert told == Counter({(k, r): 1 for k in keys for r in ("first", "resolved")})
        assert not [x for x in b.store.load_alerts() if x.state is AlertState.FIRING]
    finally:
        a.close()
        b.close()
