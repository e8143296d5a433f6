"""What one production replica pays per minute, against a real Prometheus: N series, R rules.

Backfills a fresh Prometheus with N synthetic gauge series (ten labels each, full-precision
values, a daily season plus noise every 5 minutes over ``--days``, and a ``--firing`` share
that steps up before the end; see ``_throughput_data``), builds the real ``alerter run`` app
(``service.app.App``: SQLite at its production ``synchronous=FULL``, the background baseline
cache, the HTTP server, a webhook receiver answered by a local sink) over R rules of N/R
series each (daily STL baselines at 5-minute resolution), and walks K one-minute ticks. Per
simulated minute it pays what the running app pays:

- one tick of the rule group, next to the bare fetch and parse of the same recent windows
  with ``PrometheusSource.query_range`` (the physical limit here) and their ratio;
- the notification flush every 5 s (``notify-flush``), for the alerts of the firing share;
- two ``/metrics`` scrapes (every 30 s) over HTTP, with the band of every series;
- refits: every series refitted once per its refit interval (the rules name no ``refit``, so a
  series the daily STL judges is refitted every ``SEASONAL_REFIT``, 3h), charged per minute
  from the measured cost of one rule's refit in the app's own mode (process pool), with the CPU
  of its worker processes counted, and the largest share of series the schedule fits in any
  one minute;
- the peer: the real Prometheus evaluating an equivalent static rule over the same series
  (each rule's selector compared with a threshold, as its rule manager would, as instant
  queries at the tick; its own ``evalTotalTime`` and its process CPU) in the same run.

It also prints bytes per cached baseline (serialised and resident), cold start (fitting
``--cold`` series from scratch with the engine's code, synchronously), and the naive cost of a
default statsmodels STL refitted on the full history at every tick, then a table of the
targets of issue 18 next to the measured values. Per-minute costs at other sizes are
projections from the per-series costs measured here (labelled as such).

Steady-state baselines are fitted once per distinct series shape and stored for every
fingerprint, as fitted at the end of the walk, so that no refit falls inside the timed ticks;
refits are timed on their own. CPU is process CPU (``time.process_time``: every thread of
this process) plus, for the fit workers, their own CPU read from ``/proc``.

Run: ``.venv/bin/python benchmarks/throughput.py [--series 10000 --rules 20 --ticks 10]``;
``--quick`` is the CI size.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import os
import resource
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from statsmodels.tsa.seasonal import STL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _throughput_data import DAY, METRIC, backfill
from harness import start_prometheus

from alerter import detect
from alerter.config import load
from alerter.core.durations import format_duration
from alerter.engine.baselines import SPREAD, Baselines, BaselineSpec, last_slot, refit_offset
from alerter.engine.engine import plan
from alerter.service.app import App
from alerter.source.prometheus import PrometheusSource
from alerter.store.sqlite import Store

STEP = 300.0
TICK = 60.0
FLUSH = 5.0
SCRAPE = 30.0
CORES = 2
RULE = """
      - alert: Latency{index}
        expr: {expr}
        baseline: {{detector: stl, seasonality: [1d], history: {days}d, resolution: 5m}}
        trigger: {{window: 5m, fraction: 0.6}}
        for: 2m
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
    firing: float = 0.01
    refit_series: int = 500
    freeze: bool = False


def parse(argv: list[str] | None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--days", type=int, default=14, help="days of history (5-minute samples)")
    parser.add_argument("--cold", type=int, default=1_000, help="series in the cold-start fit")
    parser.add_argument("--naive", type=int, default=5, help="series in the naive comparison")
    parser.add_argument("--firing", type=float, default=0.01, help="share of series that alert")
    parser.add_argument(
        "--refit-series", type=int, default=500, help="series of the rule whose refit is timed"
    )
    parser.add_argument("--quick", action="store_true", help="CI size: 400 series, 4 rules, 3 days")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() once baselines are loaded (what a process could do)",
    )
    ns = parser.parse_args(argv)
    if ns.quick:
        return Args(400, 4, 5, 3, 100, 2, ns.firing, 100, ns.gc_freeze)
    args = Args(
        ns.series, ns.rules, ns.ticks, ns.days, ns.cold, ns.naive, ns.firing, ns.refit_series, ns.gc_freeze
    )
    if min(args.series, args.rules, args.ticks, args.days, args.naive) < 1 or args.cold > args.series:
        parser.error("--series, --rules, --ticks, --days, --naive must be >= 1 and --cold <= --series")
    if args.days < 3:
        parser.error("--days must be >= 3: a daily STL needs two full days plus the recent window")
    if not 0 <= args.firing < 1:
        parser.error("--firing is a share: 0 <= share < 1")
    return args


def rules_file(args: Args) -> str:
    body = "".join(
        RULE.format(index=i, expr=f'{METRIC}{{rule="r{i}"}}', days=args.days) for i in range(args.rules)
    )
    return f"groups:\n  - name: bench\n    interval: 1m\n    rules:{body}"


def config_file(directory: Path, url: str, sink: str, rules: str) -> Path:
    """The app's config: this Prometheus, one webhook receiver, loopback HTTP server, FULL SQLite."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(rules)
    config = directory / "alerter.yaml"
    config.write_text(
        f"prometheus: {{url: {url}, timeout: 120s}}\n"
        "rule_files: [rules.yaml]\n"
        "storage: {path: state.db}\n"
        "server: {listen: 127.0.0.1:0}\n"
        f"receivers: [{{name: hook, webhook: {{url: '{sink}'}}}}]\n"
        "route: {receiver: hook, group_by: [alertname], group_wait: 10s, group_interval: 1m}\n"
    )
    return config


class Sink:
    """A local webhook receiver that answers 200 and counts what it was sent."""

    def __init__(self) -> None:
        sink = self
        self.requests = 0
        self.bytes = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.requests += 1
                sink.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def prime(source: PrometheusSource, store: Store, specs: list[BaselineSpec], now: float, at: float) -> int:
    """Store a fitted baseline for every series (fitted on data up to ``now``, dated ``at``).

    Fits once per distinct series shape. Dating them ``at`` (the end of the walk) keeps every
    refit out of the timed ticks; refits are timed on their own.
    """
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
                store.save_baseline(spec.key, labels.fingerprint, at, templates[shape])
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


def children_cpu(exclude: int) -> float:
    """CPU seconds of this process's live descendants but ``exclude`` (Prometheus): the fit
    workers and the forkserver that starts them (the workers are its children), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    me, total = os.getpid(), 0.0
    for pid in cpu:
        up = parent.get(pid, 0)
        while up not in (0, 1, me, exclude) and up != pid:
            up = parent.get(up, 0)
        if up == me and pid != exclude:
            total += cpu[pid]
    return total


def pid_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """CPU (this process's threads) and wall seconds, summed over ``with meter.on():`` blocks."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.wall = 0.0
        self.count = 0

    @contextmanager
    def on(self) -> Iterator[None]:
        c, w = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self.cpu += time.process_time() - c
            self.wall += time.perf_counter() - w
            self.count += 1


def scrape(port: int) -> int:
    """One GET /metrics, as Prometheus sends it; returns the body size."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, response.status
        return len(body)
    finally:
        conn.close()


def peer_query(url: str, rules: int, now: float) -> tuple[float, float]:
    """Prometheus evaluating the static equivalent of every rule at ``now``: (its evalTotalTime, wall)."""
    session = requests.Session()
    inner = 0.0
    started = time.perf_counter()
    for i in range(rules):
        answer = session.get(
            f"{url}/api/v1/query",
            params={"query": f'{METRIC}{{rule="r{i}"}} > 1000', "time": str(now), "stats": "all"},
            timeout=120,
        ).json()
        inner += float(answer["data"]["stats"]["timings"]["evalTotalTime"])
    return inner, time.perf_counter() - started


def walk(
    app: App, source: PrometheusSource, url: str, pid: int, args: Args, ticks: list[float]
) -> dict[str, float]:
    """K simulated minutes of the app: tick, flushes every 5 s, scrapes every 30 s, the peer."""
    ctxs = app.engine.groups["bench"].rules
    app.engine.tick("bench", ticks[0] - TICK)  # restores baselines from the store; not timed
    if args.freeze:
        gc.freeze()  # the restored baselines are long-lived: keep them out of every collection
    tick, fetch, flush, scrapes = Meter(), Meter(), Meter(), Meter()
    peer_eval = peer_wall = peer_cpu = 0.0
    body = 0
    for now in ticks:
        with tick.on():
            app.engine.tick("bench", now)
        with fetch.on():
            for ctx in ctxs:
                source.query_range(ctx.rule.expr, now - ctx.window, now, ctx.group.interval)
        for k in range(int(TICK / FLUSH)):
            with flush.on():
                app._flush(now + k * FLUSH)  # what the app's notify-flush job runs every 5 s
        for _ in range(int(TICK / SCRAPE)):
            with scrapes.on():
                body = scrape(app.server.port)
        c = pid_cpu(pid)
        inner, wall = peer_query(url, args.rules, now)
        peer_cpu += pid_cpu(pid) - c
        peer_eval += inner
        peer_wall += wall
    k = len(ticks)
    return {
        "tick_cpu": tick.cpu / k,
        "tick_wall": tick.wall / k,
        "fetch_cpu": fetch.cpu / k,
        "fetch_wall": fetch.wall / k,
        "flush_cpu": flush.cpu / k,
        "scrape_cpu": scrapes.cpu / scrapes.count,
        "scrape_wall": scrapes.wall / scrapes.count,
        "scrape_bytes": float(body),
        "peer_eval": peer_eval / k,
        "peer_wall": peer_wall / k,
        "peer_cpu": peer_cpu / k,
    }


def refit_cost(
    app: App, spec: BaselineSpec, fingerprints: list[str], due: float, prometheus: int
) -> dict[str, float]:
    """Refit one rule's series in the app's own mode: CPU here and in the fit workers, wall.

    Asking for every series at ``due`` (two refit intervals after every stored baseline) makes
    all of the rule's series due, and the cache refits them in one batch.
    """
    baselines = app.baselines
    before = baselines.status(spec.key)[0]
    counted = app.metrics.registry.get_sample_value("alerter_baseline_fits_total") or 0.0
    c, w, ch = time.process_time(), time.perf_counter(), children_cpu(prometheus)
    for fingerprint in fingerprints:
        baselines.detector(spec, fingerprint, due)
    baselines.wait(timeout=3600)
    cpu, wall, workers = time.process_time() - c, time.perf_counter() - w, children_cpu(prometheus) - ch
    after = baselines.status(spec.key)
    assert after[0] != before and not after[1], f"the refit did not happen: {after}"
    fitted = (app.metrics.registry.get_sample_value("alerter_baseline_fits_total") or 0.0) - counted
    return {"cpu": cpu, "workers": workers, "wall": wall, "series": fitted}


def largest_minute(specs: list[BaselineSpec], fingerprints: dict[str, list[str]], spread: int) -> float:
    """The largest share of all series that the refit schedule fits within one minute.

    Each series is refitted at the first batch boundary of its rule at or after its own slot
    (``engine.baselines``); counted over one refit interval.
    """
    per_minute: dict[int, int] = {}
    total = 0
    for spec in specs:
        period = spec.refit / spread
        interval = spec.seasonal_refit or spec.refit  # every series here is judged by the daily STL
        rule_offset = refit_offset(spec.key, period)
        for fp in fingerprints[spec.key]:
            slot = refit_offset(fp, interval)
            boundary = last_slot(slot, rule_offset, period)
            if boundary < slot:
                boundary += period
            minute = int(boundary % interval // TICK)
            per_minute[minute] = per_minute.get(minute, 0) + 1
            total += 1
    return max(per_minute.values()) / max(total, 1)


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
            share=args.firing,
            shift=TICK * (args.ticks - 1) + 30.0,
        )
        print(
            f"backfill: {args.series} series x {args.days} d ({samples:,} samples) in {time.perf_counter() - t:.0f} s"
        )
        server = start_prometheus(work / "prometheus")
        try:
            assert server.process is not None
            rows, targets = run(args, server.url, server.process.pid, work, end)
        finally:
            server.stop()
    print(table(rows))
    print()
    print(target_table(targets))
    return 0


def run(
    args: Args, url: str, pid: int, work: Path, end: float
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str, str]]]:
    ticks = [end - TICK * (args.ticks - 1 - i) for i in range(args.ticks)]
    sink = Sink()
    config = config_file(work / "cfg", url, sink.url, rules_file(args))
    bundle = load(config)
    with PrometheusSource(url, timeout=120) as source:
        store = Store(work / "cfg" / "state.db")
        specs = [ctx.baseline for g in plan(bundle).values() for ctx in g.rules if ctx.baseline is not None]
        t = time.perf_counter()
        primed = prime(source, store, specs, ticks[0] - 2 * TICK, ticks[-1])
        prime_s = time.perf_counter() - t
        serial, resident = resident_bytes(store, specs[0])
        store.close()
        app = App(str(config), bundle, now=ticks[0] - 2 * TICK)
        app.server.start()
        try:
            s = walk(app, source, url, pid, args, ticks)
            statuses = [st for ctx in app.engine.groups["bench"].rules for st in app.engine.series(ctx.key)]
            seen = len(statuses)
            judged = sum(1 for st in statuses if st.tier == "stl(1d)")
            firing_now = sum(1 for st in statuses if st.state.value == "firing")
            # the refit of one rule of --refit-series series, every series due at once
            refit_spec = BaselineSpec.for_rule(
                "bench",
                "Refit",
                f'{METRIC}{{rule="r0"}}',
                {"detector": "stl", "seasonality": ["1d"], "history": f"{args.days}d", "resolution": "5m"},
            )
            history = source.query_range(refit_spec.expr, ticks[-1] - 600, ticks[-1], STEP)
            fps = [h.labels.without("__name__").fingerprint for h in history][: args.refit_series]
            app.baselines.detector(refit_spec, fps[0], ticks[-1])  # first fit: not timed
            app.baselines.wait(timeout=3600)
            interval = refit_spec.seasonal_refit or refit_spec.refit
            r = refit_cost(app, refit_spec, fps, ticks[-1] + 2 * interval, pid)
            rule_fps = {
                ctx.baseline.key: [st.labels.fingerprint for st in app.engine.series(ctx.key)]
                for ctx in app.engine.groups["bench"].rules
                if ctx.baseline is not None
            }
            bunch = largest_minute(specs, rule_fps, SPREAD)
        finally:
            app.stop()
            sink.stop()
        cold_s, cold_n = cold_start(source, args, end)
        naive_s = naive(source, args, end)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = max(seen, 1)
    refit_series = max(r["series"], 1.0)
    refit_per_series = (r["cpu"] + r["workers"]) / refit_series
    refit_minute = refit_per_series * seen * TICK / interval
    minute = s["tick_cpu"] + s["flush_cpu"] + s["scrape_cpu"] * TICK / SCRAPE + refit_minute
    per_series_minute = minute / n
    share = minute / (CORES * TICK)
    share_10k = per_series_minute * 10_000 / (CORES * TICK)
    share_100k = per_series_minute * 100_000 / (CORES * TICK)
    ratio = s["tick_wall"] / s["fetch_wall"]
    rows = [
        ("series evaluated per tick (judged by stl; firing)", f"{seen} ({judged}; {firing_now})", ""),
        (
            "rules / ticks / labels per series",
            f"{args.rules} / {args.ticks} / 10",
            "gc.freeze()" if args.freeze else "",
        ),
        ("baselines stored for the steady state", f"{primed} in {prime_s:.1f} s", ""),
        ("tick: CPU s / wall s", f"{s['tick_cpu']:.3f} / {s['tick_wall']:.3f}", "SQLite synchronous=FULL"),
        ("bare fetch+parse: CPU s / wall s per tick", f"{s['fetch_cpu']:.3f} / {s['fetch_wall']:.3f}", ""),
        (
            "ratio tick / bare fetch (wall; CPU)",
            f"{ratio:.2f}x; {s['tick_cpu'] / max(s['fetch_cpu'], 1e-9):.2f}x",
            "",
        ),
        (
            "Prometheus, static rule: evalTotalTime / wall / CPU s",
            f"{s['peer_eval']:.3f} / {s['peer_wall']:.3f} / {s['peer_cpu']:.2f}",
            "per tick, all rules",
        ),
        (
            "ratio tick wall / Prometheus evalTotalTime",
            f"{s['tick_wall'] / max(s['peer_eval'], 1e-9):.1f}x",
            "",
        ),
        (
            "notification flushes: CPU s per minute",
            f"{s['flush_cpu']:.3f}",
            f"12 flushes; {sink.requests} webhooks sent",
        ),
        (
            "/metrics scrape: CPU s / wall s / MB",
            f"{s['scrape_cpu']:.3f} / {s['scrape_wall']:.3f} / {s['scrape_bytes'] / 1e6:.1f}",
            "2 per minute",
        ),
        (
            f"refit of {r['series']:.0f} series: CPU s here + workers / wall s",
            f"{r['cpu']:.1f} + {r['workers']:.1f} / {r['wall']:.1f}",
            "app's own mode",
        ),
        (
            "refit CPU s per 1,000 series",
            f"{refit_per_series * 1000:.1f}",
            f"every {format_duration(interval)}",
        ),
        (f"refit CPU s per minute (N series / {format_duration(interval)})", f"{refit_minute:.3f}", ""),
        (
            "largest share of series refitted in one minute",
            f"{bunch:.1%}",
            f"{args.rules} rules, {SPREAD} batches",
        ),
        ("total CPU s per minute (tick+flush+scrape+refit)", f"{minute:.3f}", ""),
        ("share of 2 cores at this N", f"{share:.1%}", ""),
        ("peak RSS of this process", f"{rss_mb:.0f} MB", ""),
        ("bytes per baseline: serialised / resident", f"{serial:.0f} / {resident:.0f}", ""),
        (f"cold start: {cold_n} series x {args.days} d fitted", f"{cold_s:.1f} s", "synchronous, one thread"),
        ("naive: default STL on full history, s per series", f"{naive_s:.3f}", f"{args.naive} series"),
        ("factor naive / tick per series", f"{naive_s / max(s['tick_cpu'] / n, 1e-9):.0f}x", ""),
    ]
    cold_1k = cold_s / max(cold_n, 1) * 1000
    here = f" (at {seen})" if seen != 10_000 else ""
    targets = [
        ("tick / bare fetch (wall)", "<= 1.5x (1.2x)", f"{ratio:.2f}x{here}", ok(ratio <= 1.5)),
        (
            "steady cost of a 10k-series replica",
            "<= 5% of 2 cores",
            f"{share_10k:.1%}" + ("" if seen == 10_000 else " projected"),
            ok(share_10k <= 0.05),
        ),
        (
            "100k series per replica",
            "<= 30% of 2 cores",
            f"{share_100k:.1%} projected",
            ok(share_100k <= 0.30),
        ),
        ("resident bytes per cached daily baseline", "< 2,048", f"{resident:.0f}", ok(resident < 2048)),
        (
            "cold start, 1,000 series x 14 d",
            "<= 60 s",
            f"{cold_1k:.1f} s" + ("" if args.days == 14 else f" ({args.days} d)"),
            ok(cold_1k <= 60),
        ),
        ("backtest 30 d x 50 series x 5 rules", "<= 120 s", "see benchmarks/backtest.py", ""),
    ]
    return rows, targets


def ok(met: bool) -> str:
    return "met" if met else "NOT met"


def table(rows: list[tuple[str, str, str]]) -> str:
    lines = [f"{'measurement':<56} {'value':>26}  note", "-" * 104]
    lines += [f"{name:<56} {value:>26}  {note}" for name, value, note in rows]
    return "\n".join(lines)


def target_table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = [f"{'target (issue 18)':<42} {'wanted':>18} {'measured':>22}  ", "-" * 92]
    lines += [f"{name:<42} {want:>18} {got:>22}  {verdict}" for name, want, got, verdict in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["replicas"]:  # the replicas row (1, 2, 3 replicas): benchmarks/replicas.py
        from replicas import main as replicas_main

        raise SystemExit(replicas_main(sys.argv[2:]))
    raise SystemExit(main())
