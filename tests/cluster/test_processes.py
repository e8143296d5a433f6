"""Three ``alerter run`` processes share six rule groups: one killed, one cut off, every alert told once.

Everything is real but the Kubernetes API: a PostgreSQL from Debian's packages holds the shared
store, a Prometheus scrapes gauges the test sets (``harness.live.Exporter``), each replica
reaches it through a proxy that logs who queried what when (``harness.live.QueryLog``), sends
its messages to a webhook receiver that logs them (``harness.live.WebhookSink``), and holds its
member Lease on the API stand-in (``alerter.testing.kubernetes``). The replicas are processes
started with ``python -m alerter run``, their replica id from ``POD_NAME`` as the chart sets it.

The run, with 3 s Leases renewed every second and groups ticking every second:

1. every group's alert fires; each group is evaluated by its owner only (the balanced split,
   ``cluster.ownership.balance``, as every replica reads the same rules), and each alert is announced;
2. the replica owning the most groups is killed with SIGKILL: its groups are evaluated by the
   others no earlier than its Lease can have expired and within a Lease duration, two renew
   periods (seeing the Lease unchanged, then the next round) and an interval of the kill; the
   groups the two survivors trade to even out their loads follow one settle time later;
3. one survivor's Lease renewals hang (the stand-in holds its PUTs unanswered, longer than the
   Lease: ``read_timeout`` 10 s): it queries and sends nothing from its renew deadline (two
   thirds of the Lease) after its last renewal, while its membership round is still stuck in
   that call, and the last replica takes its groups once its Lease has expired;
4. the cut is healed: the replica waits its settle time (one Lease) and takes its groups back;
5. the gauges drop: every alert resolves.

Over the whole run the receiver got exactly one firing and exactly one resolved message per
alert, and each group changed hands exactly as the membership changes say (no two replicas
took turns on one group). The bounds carry ``SLACK`` for jobs that start late on two busy cores.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from harness import ManagedProcess, free_port, start_prometheus, wait_until
from harness.live import Exporter, Message, Query, QueryLog, WebhookSink
from harness.postgres import PostgresServer

from alerter.cluster.membership import lease_name
from alerter.cluster.ownership import balance
from alerter.service.app import FLUSH_SECONDS
from alerter.testing.kubernetes import KubeApiServer, write_kubeconfig

pytestmark = pytest.mark.slow

NAMES = ("alerter-0", "alerter-1", "alerter-2")
GROUPS = tuple(f"g{i}" for i in range(6))
NAMESPACE = "alerter"
METRIC = "demo_hot"
LEASE = 3.0
RENEW = 1.0
DEADLINE = LEASE * 2 / 3
"""``remediate.lease.renew_deadline_for``'s default: a replica acts while its last renewal is younger."""
SETTLE = LEASE
"""``service.app._sharding``: a replica that joins claims groups after one Lease duration."""
INTERVAL = 1.0
READ_TIMEOUT = 10.0
"""Longer than the Lease: a stuck renewal cannot end before the renew deadline has passed."""
SLACK = 2.0
"""For a job starting late and a query in flight on two cores shared with other work."""
LOADS = dict.fromkeys(GROUPS, round(3600 / INTERVAL))
"""Each group's load as the replicas compute it (``GroupPlan.load``): one rule every ``INTERVAL``."""


def alert_of(group: str) -> str:
    return f"Hot{group.upper()}"


def rules() -> str:
    groups = [
        {"name": g, "interval": f"{INTERVAL:g}s",
         "rules": [{"alert": alert_of(g), "expr": f'{METRIC}{{shard="{g}"}} > 0'}]}
        for g in GROUPS
    ]  # fmt: skip
    return json.dumps({"groups": groups})


def group_of(query: Query) -> str | None:
    """The rule group a query evaluates (each group's expression names its shard)."""
    return next((g for g in GROUPS if f'shard="{g}"' in query.expr), None)


def evaluations(log: Sequence[Query], since: float = 0.0) -> dict[str, list[Query]]:
    """Each group's instant queries at or after ``since``, in order."""
    out: dict[str, list[Query]] = {g: [] for g in GROUPS}
    for query in sorted(log, key=lambda q: q.at):
        group = group_of(query)
        if group is not None and query.path == "/api/v1/query" and query.at >= since:
            out[group].append(query)
    return out


def collapse(owners: Sequence[str]) -> list[str]:
    """Consecutive repeats removed: the hands a group passed through."""
    return [o for i, o in enumerate(owners) if i == 0 or owners[i - 1] != o]


def told(messages: Sequence[Message]) -> Counter[tuple[str, str]]:
    """(alert name, status) of every alert in every message."""
    return Counter(
        (str(a["labels"]["alertname"]), str(a["status"])) for m in messages for a in m.body["alerts"]
    )


@dataclass
class Stack:
    """The servers the replicas share, and the replicas."""

    workdir: Path
    exporter: Exporter
    queries: QueryLog
    sink: WebhookSink
    apiserver: KubeApiServer
    dsn: dict[str, Any]
    replicas: dict[str, ManagedProcess]

    def config(self, name: str, port: int) -> Path:
        kubeconfig = write_kubeconfig(self.workdir / "kubeconfig", self.apiserver.url)
        config = {
            "prometheus": {"url": self.queries.url_for(name), "timeout": "5s"},
            "rule_files": ["rules.yaml"],
            "storage": {"postgres": {k: self.dsn[k] for k in ("host", "port", "dbname", "user")}},
            "server": {"listen": f"127.0.0.1:{port}"},
            "receivers": [{"name": "hook", "webhook": {"url": self.sink.url_for(name), "timeout": "5s"}}],
            "route": {"receiver": "hook", "group_by": ["alertname"], "group_wait": "0s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "cluster": {"enabled": True, "namespace": NAMESPACE, "lease_duration": f"{LEASE:g}s",
                        "renew_period": f"{RENEW:g}s",
                        "kubernetes": {"kubeconfig": str(kubeconfig), "connect_timeout": "1s",
                                       "read_timeout": f"{READ_TIMEOUT:g}s"}},
        }  # fmt: skip
        path = self.workdir / f"{name}.yaml"
        path.write_text(json.dumps(config))
        return path

    def start(self) -> None:
        """All three at once (each waits for PostgreSQL's schema as the first one creates it)."""
        for name in NAMES:
            port = free_port()
            argv = [sys.executable, "-m", "alerter", "run", "--config", str(self.config(name, port))]
            self.replicas[name] = ManagedProcess(name, argv, f"http://127.0.0.1:{port}",
                                                 self.workdir / f"{name}.log", "/readyz",
                                                 env={"POD_NAME": name, "ALERTER_LOG_LEVEL": "info"})  # fmt: skip
        with ThreadPoolExecutor(len(NAMES)) as pool:
            list(pool.map(lambda p: p.start(timeout=60), self.replicas.values()))

    def firing(self, name: str) -> set[str]:
        """The groups of the alerts the replica itself says are firing (``/api/v1/alerts``)."""
        with urllib.request.urlopen(self.replicas[name].url + "/api/v1/alerts", timeout=5) as response:
            alerts = json.loads(response.read())["alerts"]
        return {str(a["group"]) for a in alerts if a["state"] == "firing"}

    def renewed_at(self, name: str) -> float:
        """The renewTime of the replica's member Lease, as it last wrote it (its own clock)."""
        spec = self.apiserver.cluster.get("leases", NAMESPACE, lease_name("alerter", name))["spec"]
        return datetime.strptime(spec["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.log_tail(40)}" for n, p in self.replicas.items())


@pytest.fixture
def stack(tmp_path: Path, postgres_server: PostgresServer) -> Iterator[Stack]:
    (tmp_path / "rules.yaml").write_text(rules())
    dsn = psycopg.conninfo.conninfo_to_dict(postgres_server.create_database())
    with Exporter() as exporter, WebhookSink() as sink, KubeApiServer() as apiserver:
        for g in GROUPS:
            exporter.set(METRIC, {"shard": g}, 1.0)
        prometheus = start_prometheus(tmp_path / "prometheus", scrape_targets=[exporter.address])
        queries = QueryLog(prometheus.url)
        stack = Stack(tmp_path, exporter, queries, sink, apiserver, dsn, {})
        try:
            yield stack
        finally:
            print(stack.logs())  # shown when the test fails
            for process in stack.replicas.values():
                process.stop()
            queries.stop()
            prometheus.stop()


ALERTS = frozenset(alert_of(g) for g in GROUPS)


def first(stack: Stack, group: str, who: str, since: float) -> float | None:
    """When ``who`` first evaluated ``group`` at or after ``since``; None if it has not."""
    return next((q.at for q in evaluations(stack.queries.queries(), since)[group] if q.who == who), None)


def taken(stack: Stack, owners: Mapping[str, str], groups: set[str], since: float) -> dict[str, float]:
    """When each of ``groups`` was first evaluated by its owner in ``owners`` since ``since``."""
    found = {g: first(stack, g, owners[g], since) for g in groups}
    return {g: t for g, t in found.items() if t is not None}


def statuses(stack: Stack, status: str) -> set[str]:
    return {alert for alert, s in told(stack.sink.messages()) if s == status}


def test_a_killed_and_a_cut_off_replica_hand_over_their_groups_and_every_alert_is_told_once(
    stack: Stack,
) -> None:
    phase1 = balance(LOADS, NAMES)
    counts = Counter(phase1.values())
    victim = max(NAMES, key=lambda n: (counts[n], n))
    survivors = [n for n in NAMES if n != victim]
    phase2 = balance(LOADS, survivors)
    cut = max(survivors, key=lambda n: (sum(o == n for o in phase2.values()), n))
    (last,) = (n for n in survivors if n != cut)
    phase3 = balance(LOADS, [last])
    phase4 = phase2  # the cut replica is back
    assert set(counts) == set(NAMES) and cut in phase2.values(), "every replica owns a group at first"
    stack.start()

    # 1. Each group is evaluated by its owner only, and every alert is announced.
    window = 2 * INTERVAL + 0.5

    def steady(phase: Mapping[str, str]) -> bool:
        recent = evaluations(stack.queries.queries(), time.time() - window)
        return all(recent[g] and {q.who for q in recent[g]} == {phase[g]} for g in GROUPS)

    wait_until(lambda: steady(phase1), timeout=60, what="every group evaluated by its owner only")
    steady_from = time.time() - window
    wait_until(lambda: statuses(stack, "firing") == ALERTS, timeout=30, what="every alert announced")

    # 2. SIGKILL the replica owning the most groups: the others take them after its Lease expired.
    orphans = {g for g in GROUPS if phase1[g] == victim}
    assert stack.firing(victim) == orphans, "killed while it holds its groups' firing alerts"
    killed = stack.replicas[victim].process
    assert killed is not None
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=10)
    renewal = stack.renewed_at(victim)  # its last renewal: nothing writes its Lease any more
    bound = LEASE + 2 * RENEW + INTERVAL + SLACK
    wait_until(lambda: len(taken(stack, phase2, orphans, renewal)) == len(orphans), timeout=bound + 10,
               what="the killed replica's groups evaluated by the others")  # fmt: skip
    for group, at in taken(stack, phase2, orphans, renewal).items():
        assert renewal + LEASE <= at <= renewal + bound, (group, at - renewal)
    traded = {g for g in GROUPS if g not in orphans and phase1[g] != phase2[g]}
    wait_until(lambda: len(taken(stack, phase2, traded, renewal)) == len(traded), timeout=SETTLE + bound + 10,
               what="the groups the survivors trade evaluated by their new owners")  # fmt: skip
    for group, at in taken(stack, phase2, traded, renewal).items():
        assert renewal + LEASE + SETTLE <= at <= renewal + SETTLE + bound, (group, at - renewal)
    wait_until(lambda: steady(phase2), timeout=10, what="every group evaluated by its new owner only")

    # 3. Cut one survivor off the API server: its Lease writes hang, longer than the Lease lasts.
    path = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{lease_name('alerter', cut)}"
    stall = stack.apiserver.stall("PUT", path)
    assert stall.arrived.wait(RENEW + SLACK), "the next renewal reaches the API server"
    renewal = stack.renewed_at(cut)
    cut_off = {g for g in GROUPS if phase2[g] == cut}
    wait_until(lambda: len(taken(stack, phase3, cut_off, renewal)) == len(cut_off), timeout=bound + 10,
               what="the cut-off replica's groups evaluated by the last one")  # fmt: skip
    assert stall.hits == 1, "the cut-off replica's membership round is still waiting for its write"
    acted = [q.at for q in stack.queries.queries() if q.who == cut and q.at > renewal]
    assert acted and max(acted) <= renewal + DEADLINE + RENEW, "it stopped at its renew deadline"
    assert not [m for m in stack.sink.messages() if m.who == cut and m.at > renewal + DEADLINE]
    for group, at in taken(stack, phase3, cut_off, renewal).items():
        assert renewal + LEASE <= at <= renewal + bound, (group, at - renewal)

    # 4. Heal the cut: the replica settles for one Lease duration, then takes its groups back.
    stall.release()
    healed = time.time()
    wait_until(lambda: len(taken(stack, phase4, cut_off, healed)) == len(cut_off),
               timeout=SETTLE + bound + 10, what="the healed replica's groups back")  # fmt: skip
    for group, at in taken(stack, phase4, cut_off, healed).items():
        assert healed + SETTLE <= at <= healed + SETTLE + 2 * RENEW + INTERVAL + SLACK, (group, at - healed)

    # 5. Every alert resolves; a second message of any kind would go out at the next flush.
    for group in GROUPS:
        stack.exporter.set(METRIC, {"shard": group}, 0.0)
    wait_until(lambda: statuses(stack, "resolved") == ALERTS, timeout=30, what="every alert resolved")
    time.sleep(FLUSH_SECONDS + RENEW)

    assert told(stack.sink.messages()) == Counter({(a, s): 1 for a in ALERTS for s in ("firing", "resolved")})
    assert all(len(m.body["alerts"]) == 1 for m in stack.sink.messages())
    hands = {
        g: collapse([q.who for q in queries])
        for g, queries in evaluations(stack.queries.queries(), steady_from).items()
    }
    expected = {g: collapse([phase1[g], phase2[g], phase3[g], phase4[g]]) for g in GROUPS}
    assert hands == expected, "each group changed hands once per membership change, never back and forth"
