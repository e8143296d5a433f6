"""Engine throughput against a real Prometheus: N series, R rules, K one-minute ticks.

Backfills a fresh Prometheus with N synthetic gauge series (daily season plus noise, every
5 minutes over ``--days``; see ``_throughput_data``), loads R rules of N/R series each (daily
STL baselines at 5-minute resolution) and prints one table:

- steady state: the engine's CPU seconds and wall seconds per tick over K ticks with cached
  baselines (and the garbage collector's part of it), next to the bare cost of fetching and
  parsing the same recent windows with ``PrometheusSource.query_range`` (the physical limit
  here), and their ratio; ``--gc-freeze`` freezes the restored baselines out of collection;
- CPU share of two cores when a tick runs every 60 s; peak RSS of this process;
- bytes per cached baseline: serialised size, and resident size (tracemalloc) of restored
  detectors;
- cold start: fitting the baselines of ``--cold`` series over the whole history (with the
  engine's own fitting code, one rule, synchronous);
- the naive comparison: statsmodels STL with default settings refitted on the full history at
  every tick, on ``--naive`` series, extrapolated to N.

Steady-state baselines are fitted once per distinct series shape and stored for every
fingerprint, so the steady-state phase does not wait for N fits; the engine then restores them
from the store exactly as after a restart. The cold-start row measures fitting itself.

Run: ``.venv/bin/python benchmarks/throughput.py [--series 10000 --rules 20 --ticks 10]``;
``--quick`` is the CI size.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from statsmodels.tsa.seasonal import STL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _throughput_data import DAY, METRIC, backfill
from harness import start_prometheus

from alerter import detect
from alerter.config import Bundle, load
from alerter.engine.baselines import Baselines, BaselineSpec
from alerter.engine.engine import Engine, plan
from alerter.source.prometheus import PrometheusSource
from alerter.store.sqlite import Store

STEP = 300.0
TICK = 60.0
RULE = """
      - alert: Latency{index}
        expr: {expr}
        baseline: {{detector: stl, seasonality: [1d], history: {days}d, resolution: 5m, refit: 1h}}
        trigger: {{window: 5m, fraction: 0.6}}
        for: 5m
        labels: {{severity: page}}
        annotations:
          summary: "{{{{ labels.series }}}} at {{{{ value }}}} (expected {{{{ expected }}}})"
"""


@dataclass(frozen=True)
class Args:
    series: int
    rules: int
    ticks: int
    days: int
    cold: int
    naive: int
    freeze: bool = False


def parse(argv: list[str] | None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--days", type=int, default=14, help="days of history (5-minute samples)")
    parser.add_argument("--cold", type=int, default=1_000, help="series in the cold-start fit")
    parser.add_argument("--naive", type=int, default=5, help="series in the naive comparison")
    parser.add_argument("--quick", action="store_true", help="CI size: 400 series, 4 rules, 3 days")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once baselines are loaded (what a process could do)",
    )
    ns = parser.parse_args(argv)
    if ns.quick:
        return Args(series=400, rules=4, ticks=5, days=3, cold=100, naive=2, freeze=ns.gc_freeze)
    args = Args(ns.series, ns.rules, ns.ticks, ns.days, ns.cold, ns.naive, ns.gc_freeze)
    if min(args.series, args.rules, args.ticks, args.days, args.naive) < 1 or args.cold > args.series:
        parser.error("--series, --rules, --ticks, --days, --naive must be >= 1 and --cold <= --series")
    if args.days < 3:
        parser.error("--days must be >= 3: a daily STL needs two full days plus the recent window")
    return args


def rules_file(args: Args) -> str:
    body = "".join(
        RULE.format(index=i, expr=f'{METRIC}{{rule="r{i}"}}', days=args.days) for i in range(args.rules)
    )
    return f"groups:\n  - name: bench\n    interval: 1m\n    rules:{body}"


def bundle_for(directory: Path, url: str, rules: str) -> Bundle:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(rules)
    config = directory / "alerter.yaml"
    config.write_text(f"prometheus: {{url: {url}}}\nrule_files: [rules.yaml]\nstorage: {{path: state.db}}\n")
    return load(config)


def prime(source: PrometheusSource, store: Store, specs: list[BaselineSpec], now: float) -> int:
    """Store a fitted baseline for every series, fitting once per distinct series shape."""
    stored = 0
    templates: dict[str, bytes] = {}
    for spec in specs:
        history = source.query_range(spec.expr, now - spec.history, now, spec.resolution)
        with store.transaction():
            for series in history:
                labels = series.labels.without("__name__")
                shape = str(int(labels["series"]) % 17)
                if shape not in templates:
                    fitted = detect.build(spec.spec).fit(series.timestamps, series.values)
                    templates[shape] = fitted.to_bytes()
                store.save_baseline(spec.key, labels.fingerprint, now, templates[shape])
                stored += 1
    return stored


def resident_bytes(store: Store, spec: BaselineSpec) -> tuple[float, float]:
    """(serialised bytes, traced resident bytes) per restored baseline of one rule."""
    blobs = [blob for _, blob in store.load_baselines(spec.key).values()]
    detect.from_bytes(blobs[0])  # module-level caches are not per baseline
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [detect.from_bytes(b) for b in blobs]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(kept) == len(blobs)
    return sum(map(len, blobs)) / len(blobs), (after - before) / len(blobs)


class GcClock:
    """Seconds spent in the cyclic garbage collector while ``on`` (via ``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.on = False
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.on:
            self.seconds += time.perf_counter() - self._started


def steady(engine: Engine, source: PrometheusSource, ticks: list[float], freeze: bool) -> dict[str, float]:
    """Per tick: engine CPU and wall (and garbage collection), bare fetch CPU and wall."""
    ctxs = engine.groups["bench"].rules
    engine.tick("bench", ticks[0] - TICK)  # restores baselines from the store; not timed
    if freeze:
        gc.freeze()  # the restored baselines are long-lived: keep them out of every collection
    cpu = wall = fetch_cpu = fetch_wall = 0.0
    collector = GcClock()
    for now in ticks:
        c, w = time.process_time(), time.perf_counter()
        collector.on = True
        engine.tick("bench", now)
        collector.on = False
        cpu += time.process_time() - c
        wall += time.perf_counter() - w
        c, w = time.process_time(), time.perf_counter()
        for ctx in ctxs:
            source.query_range(ctx.rule.expr, now - ctx.window, now, ctx.group.interval)
        fetch_cpu += time.process_time() - c
        fetch_wall += time.perf_counter() - w
    k = len(ticks)
    return {
        "cpu": cpu / k,
        "wall": wall / k,
        "gc": collector.seconds / k,
        "fetch_cpu": fetch_cpu / k,
        "fetch_wall": fetch_wall / k,
    }


def cold_start(source: PrometheusSource, args: Args, now: float) -> tuple[float, int]:
    """Seconds to fit the cold cohort's baselines from scratch, and how many were fitted."""
    spec = BaselineSpec.for_rule(
        "bench",
        "Cold",
        f'{METRIC}{{cohort="cold"}}',
        {"detector": "stl", "seasonality": ["1d"], "history": f"{args.days}d", "resolution": "5m"},
    )
    baselines = Baselines(source)
    started = time.perf_counter()
    baselines.detector(spec, "-", now)
    return time.perf_counter() - started, baselines.status(spec.key)[2]


def naive(source: PrometheusSource, args: Args, now: float) -> float:
    """Seconds per series per tick: full-history fetch plus default statsmodels STL."""
    expr = f'{METRIC}{{cohort="cold",series=~"{"|".join(str(i) for i in range(args.naive))}"}}'
    started = time.perf_counter()
    history = source.query_range(expr, now - args.days * DAY, now, STEP)
    for series in history:
        STL(series.values, period=int(DAY / STEP)).fit()
    return (time.perf_counter() - started) / max(len(history), 1)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    end = float(int(time.time() // DAY) * DAY - DAY)
    start = end - args.days * DAY
    with tempfile.TemporaryDirectory(prefix="alerter-throughput-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        samples = backfill(
            work / "prometheus" / "data",
            work / "om",
            series=args.series,
            rules=args.rules,
            cold=args.cold,
            start=start,
            end=end,
            step=STEP,
        )
        print(
            f"backfill: {args.series} series x {args.days} d ({samples:,} samples) in {time.perf_counter() - t:.0f} s"
        )
        server = start_prometheus(work / "prometheus")
        try:
            rows = run(args, server.url, work, end)
        finally:
            server.stop()
    print(table(rows))
    return 0


def run(args: Args, url: str, work: Path, end: float) -> list[tuple[str, str, str]]:
    ticks = [end - TICK * (args.ticks - 1 - i) for i in range(args.ticks)]
    with PrometheusSource(url, timeout=120) as source:
        bundle = bundle_for(work / "cfg", url, rules_file(args))
        store = Store(work / "state.db", synchronous="NORMAL")
        specs = [ctx.baseline for g in plan(bundle).values() for ctx in g.rules]
        t = time.perf_counter()
        primed = prime(source, store, specs, ticks[0] - 2 * TICK)
        prime_s = time.perf_counter() - t
        engine = Engine(bundle, source, store, Baselines(source, store), now=ticks[0] - 2 * TICK)
        s = steady(engine, source, ticks, args.freeze)
        serial, resident = resident_bytes(store, specs[0])
        seen = sum(len(engine.series(ctx.key)) for ctx in engine.groups["bench"].rules)
        judged = sum(
            1 for ctx in engine.groups["bench"].rules for st in engine.series(ctx.key) if st.tier == "stl(1d)"
        )
        store.close()
        cold_s, cold_n = cold_start(source, args, end)
        naive_s = naive(source, args, end)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_series = s["cpu"] / max(seen, 1)
    return [
        ("series evaluated per tick (judged by stl)", f"{seen} ({judged})", "target 10,000"),
        ("rules / ticks", f"{args.rules} / {args.ticks}", "gc.freeze()" if args.freeze else ""),
        ("baselines stored for the steady state", f"{primed} in {prime_s:.1f} s", ""),
        ("engine CPU s per tick", f"{s['cpu']:.3f}", ""),
        ("engine wall s per tick (of which garbage collection)", f"{s['wall']:.3f} ({s['gc']:.3f})", ""),
        ("bare fetch+parse CPU s / wall s per tick", f"{s['fetch_cpu']:.3f} / {s['fetch_wall']:.3f}", ""),
        ("ratio engine / bare fetch (wall)", f"{s['wall'] / s['fetch_wall']:.2f}x", "target <= 1.5x"),
        ("ratio engine / bare fetch (CPU)", f"{s['cpu'] / max(s['fetch_cpu'], 1e-9):.2f}x", ""),
        ("CPU share of 2 cores at one tick per 60 s", f"{s['cpu'] / 120:.1%}", "target <= 30%"),
        ("projected CPU share at 10,000 series", f"{per_series * 10_000 / 120:.1%}", "target <= 30%"),
        ("peak RSS of this process", f"{rss_mb:.0f} MB", ""),
        ("bytes per baseline: serialised / resident", f"{serial:.0f} / {resident:.0f}", "target < 2,048"),
        (f"cold start: {cold_n} series x {args.days} d fitted", f"{cold_s:.1f} s", "1,000 x 14 d: <= 120 s"),
        ("cold start per 1,000 series", f"{cold_s / max(cold_n, 1) * 1000:.1f} s", "<= 120 s"),
        ("naive: default STL on full history, s per series", f"{naive_s:.3f}", f"{args.naive} series"),
        ("naive CPU share at this N per tick of 60 s", f"{naive_s * seen / 120:.0%}", ""),
        ("factor naive / engine per series and tick", f"{naive_s / max(per_series, 1e-9):.0f}x", ""),
    ]


def table(rows: list[tuple[str, str, str]]) -> str:
    lines = [f"{'measurement':<52} {'value':>22}  note", "-" * 90]
    lines += [f"{name:<52} {value:>22}  {note}" for name, value, note in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
