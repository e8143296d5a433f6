"""Fetch speed of PrometheusSource against a real Prometheus: 14 days of 1-minute data per series.

Backfills a fresh Prometheus with 14 simulated days (one model, every 60 s; the same harness
the tests use), then times, as the median of several runs:

- ``PrometheusSource.query_range`` for one series (20,161 points, two chunks) and for 23
  series at once (the TTFT histogram buckets), per series;
- the split between waiting for the HTTP body and parsing it (``alerter.source.parse``);
- the same fetch through prometheus-api-client's ``custom_query_range`` plus a numpy
  conversion, which is what the source would cost without its own parsing;
- with gzip compression requested.

Medians and the fastest run are both printed: on a shared host the fastest run is the better
estimate of the code's own cost. Run: ``.venv/bin/python benchmarks/fetch.py [--repeat 7]``. Prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness import backfill_prometheus, build_history, start_prometheus
from prometheus_api_client import PrometheusConnect

from alerter.source.parse import parse_response
from alerter.source.prometheus import PrometheusSource, plan_chunks

ONE = 'vllm:time_to_first_token_seconds_bucket{le="0.25"}'
MANY = "vllm:time_to_first_token_seconds_bucket"


@dataclass(frozen=True)
class Timing:
    """Median and fastest of several runs, in ms; on a shared host the fastest run is the better
    estimate of the code's own cost, the median of what a caller sees."""

    median: float
    best: float

    def per(self, count: int) -> Timing:
        return Timing(self.median / count, self.best / count)


def timed(action: Callable[[], object], repeat: int) -> Timing:
    action()  # warm caches and connections
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append((time.perf_counter() - started) * 1000)
    return Timing(statistics.median(runs), min(runs))


def split_ms(url: str, expr: str, start: float, end: float, repeat: int) -> tuple[Timing, Timing, Timing]:
    """Receiving the bodies of one range query's chunks, parsing them, and parsing them on the
    general ``json.loads`` path instead of the compact-matrix one."""
    session = requests.Session()
    session.headers["Accept-Encoding"] = "identity"
    chunks = plan_chunks(start, end, 60.0, 11_000)

    def bodies() -> list[bytes]:
        return [
            session.get(
                f"{url}/api/v1/query_range",
                params={"query": expr, "start": f"{s:.3f}", "end": f"{e:.3f}", "step": "60"},
                timeout=60,
            ).content
            for s, e in chunks
        ]

    fetched = bodies()
    http = timed(bodies, repeat)
    parse = timed(lambda: [parse_response(b, expr) for b in fetched], repeat)
    general = timed(lambda: [parse_response(b, expr, fast=False) for b in fetched], repeat)
    return http, parse, general


def library_fetch(url: str, expr: str, start: float, end: float) -> list[tuple[np.ndarray, np.ndarray]]:
    client = PrometheusConnect(url=url)
    out = []
    for s, e in plan_chunks(start, end, 60.0, 11_000):
        result = client.custom_query_range(
            expr, datetime.fromtimestamp(s, UTC), datetime.fromtimestamp(e, UTC), "60"
        )
        for item in result:
            values = np.array(item["values"], dtype=object)
            out.append((values[:, 0].astype(np.float64), values[:, 1].astype(np.float64)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alerter-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        history = build_history(workdir / "history", models=1, incidents=0)
        blocks = backfill_prometheus(history, workdir / "prometheus" / "data")
        backfill_s = time.perf_counter() - started
        server = start_prometheus(workdir / "prometheus")
        try:
            rows = run(server.url, history.start, history.end, args.repeat)
        finally:
            server.stop()
    print(f"backfill: 14 days x 1 model ({blocks} blocks) in {backfill_s:.1f} s\n")
    print(f"{'measurement (per series)':<58} {'median ms':>10} {'best ms':>10} {'parse share':>12}")
    for name, timing, share in rows:
        print(f"{name:<58} {timing.median:>10.2f} {timing.best:>10.2f} {share:>12}")
    return 0


def _share(http: Timing, parse: Timing) -> str:
    return f"{parse.median / (http.median + parse.median):.0%}"


def run(url: str, start: float, end: float, repeat: int) -> list[tuple[str, Timing, str]]:
    """Rows of (what, time per series, share of parsing in fetch + parse)."""
    points = len(np.arange(start, end + 1, 60.0))
    with (
        PrometheusSource(url, timeout=60) as source,
        PrometheusSource(url, timeout=60, compression=True) as gz,
    ):
        n_many = len(source.query_range(MANY, start, end, 60))
        http, parse, general = split_ms(url, ONE, start, end, repeat)
        http_m, parse_m, _ = split_ms(url, MANY, start, end, repeat)
        return [
            (
                f"PrometheusSource, 1 series x {points} points",
                timed(lambda: source.query_range(ONE, start, end, 60), repeat),
                _share(http, parse),
            ),
            ("  of which: receive body (HTTP + server)", http, ""),
            ("  of which: parse JSON to numpy", parse, ""),
            ("  (parse on the general json.loads path instead)", general, ""),
            (
                f"PrometheusSource, {n_many} series in one query",
                timed(lambda: source.query_range(MANY, start, end, 60), repeat).per(n_many),
                _share(http_m, parse_m),
            ),
            (
                "PrometheusSource with gzip, 1 series",
                timed(lambda: gz.query_range(ONE, start, end, 60), repeat),
                "",
            ),
            (
                "prometheus-api-client + numpy, 1 series",
                timed(lambda: library_fetch(url, ONE, start, end), repeat),
                "",
            ),
        ]


if __name__ == "__main__":
    raise SystemExit(main())
