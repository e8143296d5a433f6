"""Two engines share the rule groups over member Leases on the stand-in and one store file.

The store file stands in for the shared store: both replicas open it, as both would open the
same database. Replica b is killed while it owns firing alerts; a takes its groups once b's
Lease can have expired and continues the same alerts (same ``fired_at``, no second firing). Time is passed in: every 5 s each replica renews and re-reads ownership,
every 30 s it ticks the groups it owns, both through the scheduler's ownership check.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alerter.backtest.series import ArraySource
from alerter.cluster.membership import Membership
from alerter.cluster.ownership import assign
from alerter.cluster.sharding import Sharding
from alerter.config.load import load
from alerter.core.model import Alert, AlertState, Labels, Series
from alerter.engine.baselines import Baselines
from alerter.engine.engine import Engine
from alerter.engine.scheduler import Scheduler
from alerter.store.sqlite import Store

NOW = 1_800_000_000.0
GROUPS = [f"g{i}" for i in range(8)]


class Replica:
    def __init__(
        self, name: str, api_client: Any, rules: Path, store: Path, source: ArraySource, now: float
    ) -> None:
        self.name = name
        self.store = Store(store)
        self.sent: list[Alert] = []
        membership = Membership(api_client, namespace="alerter", identity=name, duration=15)
        self.sharding = Sharding(membership, settle=15)
        bundle = load(None, [rules])
        self.engine = Engine(bundle, source, self.store, Baselines(source, self.store), sink=self._sink,
                             now=now, load_alerts=False)  # fmt: skip
        self.scheduler = Scheduler(self.engine, owns=self.sharding.owns)

    def _sink(self, alerts: Sequence[Alert], now: float) -> None:
        self.sent.extend(alerts)

    def share(self, now: float) -> None:
        """What ``service.app.App._share`` does, without the APScheduler jobs."""
        change = self.sharding.round(list(self.engine.groups), now)
        for group in sorted(change.gained):
            self.engine.adopt(group, now)
        for group in sorted(change.lost):
            self.engine.release(group)

    def tick(self, now: float) -> None:
        for group in self.engine.groups:
            self.scheduler.tick(group, now)

    def close(self) -> None:
        self.engine.close()
        self.store.close()


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
    owner = assign(GROUPS, ["alerter-a", "alerter-b"])
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
