"""The replicas row of the throughput benchmark: 1, 2 and 3 replicas over the same rules.

Backfills a fresh Prometheus with N synthetic series (``_throughput_data``: ten labels, a daily
season, 1 % of them stepping up so alerts fire and notifications go out), splits them over R
rules of daily STL baselines, and puts the rules in G groups of uneven size, as a user splits
them by team or model (a few large groups, many small; ``layout``). Then, for 1, 2 and 3
replicas in turn, it runs each replica as a separate process building the real ``alerter run``
app (``service.app.App``) with the cluster on:

- membership through the real ``cluster.membership`` against the local Kubernetes API stand-in
  (``alerter.testing.kubernetes``, one fresh API server per replica count), member Leases
  renewed and ownership re-read every 5 s (``cluster.renew_period``), 15 s Leases;
- one shared PostgreSQL store (``tests/harness/postgres.py``, Debian's server; each replica
  count starts from a copy of the same primed database), which is on the hot path: every tick
  writes its alerts and rule health, every flush reads the notification groups and outbox;
- the same Prometheus, and one webhook receiver (``throughput.Sink``) in this process.

Time is passed in: this process steps every replica through the same simulated 5-second
steps, one replica after the other (renew and re-read ownership, flush notifications; at each
minute the tick of every group the replica owns; every 30 s a ``/metrics`` scrape), so the
replicas run as separate processes but never at the same moment. That is deliberate: on two
shared cores, N processes ticking at once would measure the machine, not the replica; stepped
in turn, each replica's CPU (``time.process_time`` in its own process: every thread of it,
around each of those operations) is what it would pay on a core of its own. What it does not
show is the wall time of N replicas ticking in parallel on N machines.

Per replica count it prints: groups and series per replica (min/max; the imbalance is the
largest replica's series over the mean), the largest replica's CPU seconds per minute of steady
state, the series evaluated per minute by all replicas together, and the scaling efficiency
``cost(1) / (N x max cost(N))`` with the 1-replica cost measured in the same run (1.0 is linear:
N replicas each pay 1/N). The replicas split the groups as ``cluster.sharding`` does when they
all read the same rules: ``ownership.balance`` by each group's load (``GroupPlan.load``, rule
evaluations an hour). Its imbalance over many random pod names is printed next to plain
rendezvous' (``ownership.assign``, what the replicas fall back to while they disagree on the rules).

Baselines are fitted once per series shape and stored for every series (``throughput.prime``),
dated at the end of the walk, so no refit falls inside the timed minutes (counted: the fits
column of the notes must be 0). Refits are per series, so a replica refits only the series it
owns; their cost is in ``benchmarks/throughput.py``, not here.

Run: ``.venv/bin/python benchmarks/replicas.py`` (30,000 series, 150 rules, 40 groups);
``--quick`` is the test size (also ``benchmarks/throughput.py replicas [...]``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _throughput_data import DAY, METRIC, backfill
from harness import start_prometheus
from harness.postgres import PostgresServer
from throughput import RULE, Sink, prime, scrape

from alerter.cluster import ownership
from alerter.config import load
from alerter.engine.engine import plan
from alerter.service.app import App
from alerter.source.prometheus import PrometheusSource
from alerter.store.postgres import PostgresDatabase
from alerter.store.sqlite import Store
from alerter.testing.kubernetes import KubeApiServer, write_kubeconfig

STEP = 300.0
"""Sample spacing of the backfilled series (and the baselines' resolution)."""
TICK = 60.0
"""Every group's interval."""
RENEW = 5.0
"""``cluster.renew_period``, and the notification flush period (``notify-flush``)."""
LEASE = 15.0
"""``cluster.lease_duration``, also the settle time before a joining replica owns groups."""
SCRAPE = 30.0
DSN_ENV = "ALERTER_BENCH_DSN"
"""Where each replica reads the store's connection string (``storage.postgres.dsn_env``)."""
POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""The characters of a Kubernetes generated name (k8s.io/apimachinery pkg/util/rand/rand.go,
``alphanums``: no vowels), which a Deployment's pod names are made of."""
TEMPLATE_HASH = "6c9f7d8b5"
"""The pod-template hash in the replica names: one ReplicaSet, scaled from 1 to 3."""


@dataclass(frozen=True)
class Args:
    series: int
    rules: int
    groups: int
    minutes: int
    days: int
    replicas: int
    firing: float = 0.01
    samples: int = 1000
    quick: bool = False


def parse(argv: Sequence[str] | None) -> Args:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--series", type=int, default=30_000)
    parser.add_argument("--rules", type=int, default=150, help="rules (each N/R series)")
    parser.add_argument("--groups", type=int, default=40, help="rule groups the rules are split into")
    parser.add_argument("--minutes", type=int, default=5, help="timed minutes per replica count")
    parser.add_argument("--days", type=int, default=3, help="days of history (5-minute samples)")
    parser.add_argument("--replicas", type=int, default=3, help="largest replica count (from 1)")
    parser.add_argument("--firing", type=float, default=0.01, help="share of series that alert")
    parser.add_argument(
        "--samples", type=int, default=1000, help="random replica name sets for the imbalance spread"
    )
    parser.add_argument("--quick", action="store_true", help="test size: 480 series, 24 rules, 8 groups")
    ns = parser.parse_args(argv)
    if ns.quick:
        return Args(480, 24, 8, 3, 3, min(ns.replicas, 3), ns.firing, 200, quick=True)
    args = Args(ns.series, ns.rules, ns.groups, ns.minutes, ns.days, ns.replicas, ns.firing, ns.samples)
    if min(args.series, args.rules, args.groups, args.minutes, args.replicas, args.samples) < 1:
        parser.error("--series, --rules, --groups, --minutes, --replicas, --samples must be >= 1")
    if args.groups > args.rules or args.rules > args.series:
        parser.error("need --groups <= --rules <= --series: every group has a rule, every rule a series")
    if args.days < 3:
        parser.error("--days must be >= 3: a daily STL needs two full days plus the recent window")
    if not 0 <= args.firing < 1:
        parser.error("--firing is a share: 0 <= share < 1")
    return args


# -- the rules ----------------------------------------------------------------------------


def layout(rules: int, groups: int) -> list[list[int]]:
    """The rules of each group: uneven sizes, as teams split their rules, each at least one rule.

    Sizes follow ``1 / (k + 1) ** 0.7`` (a few large groups, a long tail of small ones; with
    150 rules over 40 groups, from 2 to 15 rules), apportioned by largest remainder, then
    shuffled with a fixed seed so that a group's name says nothing of its size.
    """
    if not 1 <= groups <= rules:
        raise ValueError(f"need 1 <= groups <= rules, got {groups} groups for {rules} rules")
    weights = [1 / (k + 1) ** 0.7 for k in range(groups)]
    extra = rules - groups
    quotas = [extra * w / sum(weights) for w in weights]
    sizes = [1 + int(q) for q in quotas]
    by_remainder = sorted(range(groups), key=lambda k: (int(quotas[k]) - quotas[k], k))
    for k in by_remainder[: rules - sum(sizes)]:
        sizes[k] += 1
    random.Random(7).shuffle(sizes)
    out: list[list[int]] = []
    first = 0
    for size in sizes:
        out.append(list(range(first, first + size)))
        first += size
    return out


def group_name(k: int) -> str:
    return f"team-{k:02d}"


def series_of_rule(rule: int, series: int, rules: int) -> int:
    """How many series carry ``rule="r<rule>"`` (``_throughput_data.rule_of``: index mod rules)."""
    return series // rules + (1 if rule < series % rules else 0)


def group_series(groups: list[list[int]], series: int, rules: int) -> dict[str, int]:
    """Series per group name."""
    return {group_name(k): sum(series_of_rule(r, series, rules) for r in g) for k, g in enumerate(groups)}


def rules_file(groups: list[list[int]], days: int) -> str:
    """The rule file: one group per entry of ``groups``, one daily STL rule per rule label."""
    out = ["groups:"]
    for k, members in enumerate(groups):
        body = "".join(RULE.format(index=i, expr=f'{METRIC}{{rule="r{i}"}}', days=days) for i in members)
        out.append(f"  - name: {group_name(k)}\n    interval: 1m\n    rules:{body}")
    return "\n".join(out) + "\n"


def replica_names(count: int, rng: random.Random | None = None) -> list[str]:
    """Pod names of one Deployment: ``alerter-<template hash>-<5 generated characters>``.

    Fixed (a seeded generator) unless ``rng`` is given, so a run is reproducible and each
    replica count keeps the names of the smaller ones, as scaling a Deployment up does.
    """
    rng = rng or random.Random(3)
    return [f"alerter-{TEMPLATE_HASH}-{''.join(rng.choices(POD_ALPHABET, k=5))}" for _ in range(count)]


# -- the split, from the ownership function ------------------------------------------------


@dataclass(frozen=True)
class Split:
    """What each replica owns over the live members, from ``cluster.ownership``."""

    groups: dict[str, int]
    series: dict[str, int]

    @property
    def imbalance(self) -> float:
        """The largest replica's series over the mean (1.0: even)."""
        return max(self.series.values()) / statistics.fmean(self.series.values())


def group_loads(groups: list[list[int]]) -> dict[str, int]:
    """Each group's load as ``GroupPlan.load`` computes it from ``rules_file``: rules x 60 ticks an hour."""
    return {group_name(k): len(g) * 60 for k, g in enumerate(groups)}


def owners_of(sizes: dict[str, int], members: Sequence[str], loads: dict[str, int] | None) -> dict[str, str]:
    """Each group's owner: balanced by ``loads`` (the replicas agreeing), rendezvous when None."""
    if loads is None:
        return dict(ownership.assign(sizes, members))
    return ownership.balance(loads, members)


def split(sizes: dict[str, int], members: Sequence[str], loads: dict[str, int] | None = None) -> Split:
    """What each member owns, by ``owners_of``."""
    owners = owners_of(sizes, members, loads)
    groups = {m: 0 for m in members}
    series = {m: 0 for m in members}
    for group, member in owners.items():
        groups[member] += 1
        series[member] += sizes[group]
    return Split(groups, series)


def imbalance_spread(
    sizes: dict[str, int], count: int, samples: int, loads: dict[str, int] | None = None
) -> tuple[float, float, float]:
    """(median, 90th percentile, worst) imbalance over ``samples`` random sets of pod names."""
    rng = random.Random(11)
    values = sorted(split(sizes, replica_names(count, rng), loads).imbalance for _ in range(samples))
    return statistics.median(values), values[min(len(values) - 1, int(0.9 * len(values)))], values[-1]


# -- one replica, in its own process -------------------------------------------------------


@dataclass
class Cost:
    """What one replica measured in itself over the timed minutes."""

    name: str
    groups: int = 0
    series_per_minute: float = 0.0
    cpu_per_minute: float = 0.0
    tick_cpu: float = 0.0
    tick_wall: float = 0.0
    flush_cpu: float = 0.0
    round_cpu: float = 0.0
    scrape_cpu: float = 0.0
    process_cpu: float = 0.0
    """All of the process's CPU per timed minute, from the first timed step to the report, idle
    threads included (they run for as long as the other replicas take)."""
    fits: float = 0.0
    """Baselines fitted during the timed minutes (must be 0: no refit is charged here)."""
    ownership_changes: int = 0
    sent: float = 0.0
    rss_mb: float = 0.0
    owned: list[str] = field(default_factory=list)


def config_file(directory: Path, url: str, sink: str, kubeconfig: Path, name: str) -> Path:
    """One replica's config: the cluster on, the shared PostgreSQL store, one webhook receiver."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / f"{name}.yaml"
    config.write_text(
        f"prometheus: {{url: {url}, timeout: 120s}}\n"
        "rule_files: [rules.yaml]\n"
        f"storage: {{postgres: {{dsn_env: {DSN_ENV}}}}}\n"
        "server: {listen: 127.0.0.1:0}\n"
        f"receivers: [{{name: hook, webhook: {{url: '{sink}'}}}}]\n"
        "route: {receiver: hook, group_by: [alertname], group_wait: 10s, group_interval: 1m}\n"
        f"cluster: {{enabled: true, replica_id: {name}, namespace: alerter, lease_duration: {LEASE:g}s,\n"
        f"  renew_period: {RENEW:g}s, kubernetes: {{kubeconfig: '{kubeconfig}'}}}}\n"
    )
    return config


def worker(conn: Connection, config: str, dsn: str, name: str, started: float) -> None:
    """A replica: the real app, stepped by the parent's messages; replies with what it measured.

    Messages: ``("step", now, tick, scrape, timed)`` renews and re-reads ownership, flushes,
    ticks every group it owns (as ``Scheduler.tick``) and scrapes ``/metrics`` when asked;
    ``("report",)`` answers a ``Cost``; ``("stop",)`` stops the app (handing its Lease back).
    """
    os.environ[DSN_ENV] = dsn
    app = App(config, load(config), now=started)
    app.server.start()
    cost = Cost(name)
    minutes = 0
    series = 0
    first_cpu: float | None = None
    fits_before = 0.0
    try:
        while True:
            message = conn.recv()
            if message[0] == "stop":
                break
            if message[0] == "report":
                fits = app.metrics.registry.get_sample_value("alerter_baseline_fits_total") or 0.0
                cost.fits = fits - fits_before
                k = max(minutes, 1)
                cost.process_cpu = (time.process_time() - (first_cpu or 0.0)) / k
                cost.series_per_minute = series / k
                for part in ("tick_cpu", "tick_wall", "flush_cpu", "round_cpu", "scrape_cpu"):
                    setattr(cost, part, getattr(cost, part) / k)
                cost.cpu_per_minute = cost.tick_cpu + cost.flush_cpu + cost.round_cpu + cost.scrape_cpu
                cost.rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                cost.sent = (
                    app.metrics.registry.get_sample_value("alerter_notifications_total", {"result": "sent"})
                    or 0.0
                )
                conn.send(asdict(cost))
                continue
            _, now, tick, scraping, timed = message
            if timed and first_cpu is None:
                first_cpu = time.process_time()
                fits_before = app.metrics.registry.get_sample_value("alerter_baseline_fits_total") or 0.0
            assert app.sharding is not None
            c = time.process_time()
            before = app.sharding.owned(now)
            app._share(now)  # what the cluster-membership job runs every renew period
            owned = app.sharding.owned(now)
            r = time.process_time()
            app._flush(now)  # the notify-flush job
            f = time.process_time()
            evaluated = 0
            w = time.perf_counter()
            if tick:
                for group in app.engine.groups:
                    if app.sharding.owns(group, now):  # Scheduler.tick's check
                        evaluated += sum(len(result.series) for result in app.engine.tick(group, now))
            t, w = time.process_time(), time.perf_counter() - w
            if scraping:
                scrape(app.server.port)
            s = time.process_time()
            if timed:
                cost.round_cpu += r - c
                cost.flush_cpu += f - r
                cost.tick_cpu += t - f
                cost.scrape_cpu += s - t
                cost.ownership_changes += owned != before
                if tick:
                    cost.tick_wall += w
                    minutes += 1
                    series += evaluated
            cost.owned = sorted(owned)
            cost.groups = len(owned)
            conn.send(evaluated)
    finally:
        app.stop()
        conn.send("stopped")
        conn.close()


# -- the parent: N replicas stepped in turn ------------------------------------------------


@dataclass(frozen=True)
class Row:
    replicas: int
    costs: list[Cost]
    expected: Split

    @property
    def max_cpu(self) -> float:
        return max(c.cpu_per_minute for c in self.costs)

    @property
    def total_series(self) -> float:
        return sum(c.series_per_minute for c in self.costs)


def run_replicas(
    count: int,
    args: Args,
    *,
    url: str,
    dsn: str,
    sink: Sink,
    work: Path,
    sizes: dict[str, int],
    loads: dict[str, int],
    ticks: list[float],
) -> Row:
    """``count`` replica processes over the same rules, store copy and Prometheus."""
    names = replica_names(count)
    context = multiprocessing.get_context("spawn")
    with KubeApiServer() as api:
        kubeconfig = write_kubeconfig(work / f"kubeconfig-{count}", api.url)
        pipes: list[Connection] = []
        processes = []
        joined = ticks[0] - 2 * TICK
        for name in names:
            config = config_file(work, url, sink.url, kubeconfig, name)
            ours, theirs = context.Pipe()
            process = context.Process(
                target=worker, args=(theirs, str(config), dsn, name, joined), name=name, daemon=True
            )
            process.start()
            pipes.append(ours)
            processes.append(process)
        try:
            now = joined
            while now < ticks[-1] + TICK:
                offset = (now - ticks[0]) % TICK
                tick = now >= ticks[0] - TICK and offset == 0  # one untimed tick first: restores baselines
                timed = now >= ticks[0]
                for pipe in pipes:  # one replica after the other: never two at once
                    pipe.send(("step", now, tick, timed and offset % SCRAPE == 0, timed))
                    pipe.recv()
                now += RENEW
            costs = []
            for pipe in pipes:
                pipe.send(("report",))
                costs.append(Cost(**pipe.recv()))
        finally:
            for pipe in pipes:
                try:
                    pipe.send(("stop",))
                    while pipe.recv() != "stopped":
                        pass
                except (EOFError, OSError, BrokenPipeError):
                    pass
            for process in processes:
                process.join(timeout=60)
                if process.is_alive():
                    process.kill()
    return Row(count, costs, split(sizes, names, loads))


def check(row: Row, sizes: dict[str, int], loads: dict[str, int] | None = None) -> list[str]:
    """What does not add up in ``row``: ownership against ``cluster.ownership`` (balanced by
    ``loads``, rendezvous when None), series against the layout, every group evaluated once a
    minute by exactly one replica, no refit, no ownership move."""
    problems = []
    owners = owners_of(sizes, [c.name for c in row.costs], loads)
    scheme = "rendezvous" if loads is None else "the balanced split"
    for cost in row.costs:
        wanted = sorted(g for g, m in owners.items() if m == cost.name)
        if cost.owned != wanted:
            problems.append(f"{row.replicas} replicas: {cost.name} owns {cost.owned}, {scheme} says {wanted}")
        if round(cost.series_per_minute) != row.expected.series[cost.name]:
            problems.append(
                f"{row.replicas} replicas: {cost.name} evaluated {cost.series_per_minute:.0f} series a minute, "
                f"its groups hold {row.expected.series[cost.name]}"
            )
        if cost.fits:
            problems.append(
                f"{row.replicas} replicas: {cost.name} fitted {cost.fits:.0f} baselines while timed"
            )
        if cost.ownership_changes:
            problems.append(f"{row.replicas} replicas: {cost.name}'s groups moved while timed")
    if round(row.total_series) != sum(sizes.values()):
        problems.append(
            f"{row.replicas} replicas: {row.total_series:.0f} series a minute, not {sum(sizes.values())}"
        )
    return problems


def table(rows: list[Row]) -> str:
    """The replicas row(s): one line per replica count."""
    reference = rows[0].max_cpu if rows and rows[0].replicas == 1 else None
    head = (
        f"{'replicas':>8}  {'groups/replica':>14}  {'series/replica':>15}  {'imbalance':>9}  "
        f"{'CPU s/min (max)':>15}  {'series/min':>10}  {'efficiency':>10}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        groups = [c.groups for c in row.costs]
        series = [round(c.series_per_minute) for c in row.costs]
        imbalance = max(series) / max(statistics.fmean(series), 1e-9)
        efficiency = f"{reference / (row.replicas * row.max_cpu):.2f}" if reference else "-"
        lines.append(
            f"{row.replicas:>8}  {f'{min(groups)}-{max(groups)}':>14}  {f'{min(series)}-{max(series)}':>15}  "
            f"{imbalance:>9.2f}  {row.max_cpu:>15.3f}  {row.total_series:>10,.0f}  {efficiency:>10}"
        )
    return "\n".join(lines)


def details(rows: list[Row]) -> str:
    """Each replica's own numbers: where its CPU went (CPU s per minute; ms/1k: CPU ms per minute
    per 1,000 series it evaluates, which stays flat when only the split is uneven), process CPU
    per minute with idle threads, notifications it sent, its peak memory."""
    lines = [
        f"{'replica':<28} {'groups':>6} {'series':>7} {'tick CPU/wall s':>16} {'flush':>6} "
        f"{'renew':>6} {'scrape':>6} {'total':>6} {'ms/1k':>6} {'proc/min':>8} {'sent':>5} {'RSS MB':>7}"
    ]
    for row in rows:
        for c in row.costs:
            lines.append(
                f"{f'{row.replicas}: {c.name}':<28} {c.groups:>6} {c.series_per_minute:>7.0f} "
                f"{f'{c.tick_cpu:.3f}/{c.tick_wall:.3f}':>16} {c.flush_cpu:>6.3f} {c.round_cpu:>6.3f} "
                f"{c.scrape_cpu:>6.3f} {c.cpu_per_minute:>6.3f} "
                f"{1000 * c.cpu_per_minute / max(c.series_per_minute, 1) * 1000:>6.0f} "
                f"{c.process_cpu:>8.3f} {c.sent:>5.0f} "
                f"{c.rss_mb:>7.0f}"
            )
    return "\n".join(lines)


def losses(rows: list[Row]) -> list[str]:
    """Where each count's efficiency goes: the split (1 / imbalance of the largest replica's
    series) times the per-series cost of one replica over the largest replica's."""
    if not rows or rows[0].replicas != 1:
        return []
    one = rows[0].max_cpu / max(rows[0].total_series, 1)
    out = []
    for row in rows[1:]:
        largest = max(row.costs, key=lambda c: c.cpu_per_minute)
        mean = row.total_series / row.replicas
        split_part = mean / max(largest.series_per_minute, 1)
        series_part = one / (largest.cpu_per_minute / max(largest.series_per_minute, 1))
        out.append(
            f"{row.replicas} replicas: efficiency {rows[0].max_cpu / (row.replicas * row.max_cpu):.2f} = "
            f"split {split_part:.2f} (the costliest replica evaluates {largest.series_per_minute:,.0f} of "
            f"{row.total_series:,.0f} series) x per-series cost {series_part:.2f} (1 replica's over its)"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    groups = layout(args.rules, args.groups)
    sizes = group_series(groups, args.series, args.rules)
    end = float(int(time.time() // DAY) * DAY - DAY)
    ticks = [end - TICK * (args.minutes - 1 - i) for i in range(args.minutes)]
    # The firing share steps up two samples before the untimed first tick: its alerts pend from
    # there and fire (and are sent) within the timed minutes. Baselines are fitted before it.
    stepped = ticks[0] - TICK - 2 * STEP - 30.0
    print(
        f"{args.series:,} series, {args.rules} rules (daily STL, {args.days} d), {args.groups} groups of "
        f"{min(sizes.values())}-{max(sizes.values())} series; {args.minutes} timed minutes per replica count"
    )
    with tempfile.TemporaryDirectory(prefix="alerter-replicas-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        samples = backfill(
            work / "prometheus" / "data",
            work / "om",
            series=args.series,
            rules=args.rules,
            cold=0,
            start=end - args.days * DAY,
            end=end,
            step=STEP,
            share=args.firing,
            shift=end - stepped,
        )
        print(f"backfill: {samples:,} samples in {time.perf_counter() - t:.0f} s")
        (work / "cfg").mkdir()
        (work / "cfg" / "rules.yaml").write_text(rules_file(groups, args.days))
        server = start_prometheus(work / "prometheus")
        postgres = PostgresServer()
        sink = Sink()
        rows: list[Row] = []
        try:
            postgres.start()
            postgres.admin().execute("CREATE DATABASE bench_primed TEMPLATE template0")
            t = time.perf_counter()
            bundle = load(None, [work / "cfg" / "rules.yaml"])
            loads = {name: g.load for name, g in plan(bundle).items()}
            if loads != group_loads(groups):
                raise SystemExit(f"INCOHERENT: the app's group loads {loads} are not the layout's")
            specs = [
                ctx.baseline for g in plan(bundle).values() for ctx in g.rules if ctx.baseline is not None
            ]
            with PrometheusSource(server.url, timeout=120) as source:
                store = Store(PostgresDatabase(postgres.conninfo("bench_primed")))
                primed = prime(source, store, specs, stepped - STEP, ticks[-1])
                store.close()
            print(f"baselines: {primed:,} stored in PostgreSQL in {time.perf_counter() - t:.0f} s")
            for count in range(1, args.replicas + 1):
                database = f"bench_{count}"
                postgres.admin().execute(f"CREATE DATABASE {database} TEMPLATE bench_primed")
                t = time.perf_counter()
                rows.append(
                    run_replicas(
                        count,
                        args,
                        url=server.url,
                        dsn=postgres.conninfo(database),
                        sink=sink,
                        work=work / "cfg",
                        sizes=sizes,
                        loads=loads,
                        ticks=ticks,
                    )
                )
                print(f"{count} replica(s): {time.perf_counter() - t:.0f} s")
        finally:
            sink.stop()
            postgres.stop()
            server.stop()
    loads = group_loads(groups)
    problems = [p for row in rows for p in check(row, sizes, loads)]
    sent = {row.replicas: sum(c.sent for c in row.costs) for row in rows}
    if len(set(sent.values())) > 1:
        problems.append(f"notifications sent by all replicas together differ by replica count: {sent}")
    print()
    print(
        "Replicas as separate processes (the real App, cluster on: member Leases on the Kubernetes API\n"
        "stand-in, one shared PostgreSQL store), stepped in turn on a simulated clock, so no two run at\n"
        "once; CPU is each replica's own process CPU over its renewals, flushes, ticks and scrapes."
    )
    print(table(rows))
    print()
    print(details(rows))
    print()
    for count in range(2, args.replicas + 1):
        for scheme, by in (("balanced by load", loads), ("rendezvous", None)):
            median, p90, worst = imbalance_spread(sizes, count, args.samples, by)
            print(
                f"imbalance of {count} replicas, {scheme:>16}, over {args.samples} random pod-name sets: "
                f"median {median:.2f}, 90th percentile {p90:.2f}, worst {worst:.2f}"
            )
    for line in losses(rows):
        print(line)
    print(f"wall time: {time.perf_counter() - started:.0f} s")
    for problem in problems:
        print(f"INCOHERENT: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
