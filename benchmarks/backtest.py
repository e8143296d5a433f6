"""Backtest speed against a real Prometheus: N series over D days replayed at a 1-minute clock.

Backfills a fresh Prometheus with N synthetic gauge series (daily season plus noise, every
minute, D days plus the rules' training history before them; see ``_throughput_data``), loads R
rules of N/R series each (``ewma`` baselines, refitted hourly from 3 days at 5-minute resolution)
and a config with one receiver, and prints one table:

- the full replay with prefetching (one range query per expression and step, ticks served
  from memory): wall seconds, ticks, ms per tick, queries sent to Prometheus;
- the same replay over the first ``--direct-hours`` without prefetching (every tick queries
  Prometheus) and with it, extrapolated to the full range, so the saving is visible.

Run: ``.venv/bin/python benchmarks/backtest.py [--series 50 --rules 5 --days 30]``;
``--quick`` is the CI size (10 series, 2 days).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _throughput_data import DAY, METRIC, backfill
from harness import start_prometheus

from alerter import backtest
from alerter.config import load
from alerter.source.prometheus import PrometheusSource

HISTORY_DAYS = 3

RULE = """
      - alert: Bench{index}
        expr: {metric}{{rule="r{index}"}}
        baseline: {{detector: ewma, sensitivity: 4, direction: up, history: {history}d, resolution: 5m, refit: 1h}}
        trigger: {{window: 5m, fraction: 0.6}}
        for: 2m
        labels: {{severity: page}}
"""

CONFIG = """
prometheus: {{url: {url}, timeout: 120s}}
rule_files: [rules.yaml]
storage: {{path: state.db}}
receivers:
  - name: oncall
    webhook: {{url: "http://127.0.0.1:9/hook"}}
route: {{receiver: oncall, group_by: [alertname], group_wait: 30s, group_interval: 5m, repeat_interval: 4h}}
"""


def _write(directory: Path, url: str, rules: int) -> Path:
    body = "".join(RULE.format(index=i, metric=METRIC, history=HISTORY_DAYS) for i in range(rules))
    (directory / "rules.yaml").write_text(f"groups:\n  - name: bench\n    interval: 1m\n    rules:{body}")
    config = directory / "alerter.yaml"
    config.write_text(CONFIG.format(url=url))
    return config


def _row(name: str, hours: float, result: backtest.Result, scale: float = 1.0) -> str:
    per_tick = 1000.0 * result.seconds / max(result.ticks, 1)
    total = result.seconds * scale
    return (
        f"{name:<34} {hours:>8.1f} {result.ticks:>7} {per_tick:>9.2f} {total:>10.1f} "
        f"{result.fetches:>8} {len(result.episodes):>7}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument("--rules", type=int, default=5)
    parser.add_argument("--days", type=float, default=30.0, help="days replayed (1-minute clock)")
    parser.add_argument("--direct-hours", type=float, default=6.0, help="hours replayed without prefetching")
    parser.add_argument("--quick", action="store_true", help="CI size: 10 series, 2 rules, 2 days")
    args = parser.parse_args(argv)
    if args.quick:
        args.series, args.rules, args.days, args.direct_hours = 10, 2, 2.0, 2.0
    end = float(int(time.time() // 3600) * 3600)
    start = end - args.days * DAY
    with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
        work = Path(tmp)
        began = time.perf_counter()
        samples = backfill(
            work / "data",
            work / "om",
            series=args.series,
            rules=args.rules,
            cold=0,
            start=start - HISTORY_DAYS * DAY,
            end=end,
            step=60.0,
        )
        print(f"backfilled {samples:,} samples in {time.perf_counter() - began:.1f}s", flush=True)
        server = start_prometheus(work, data_dir=work / "data")
        try:
            bundle = load(_write(work, server.url, args.rules))
            with PrometheusSource(server.url, timeout=120) as source:
                short_end = start + args.direct_hours * 3600.0
                scale = (end - start) / (short_end - start)
                direct = backtest.replay(bundle, source, start, short_end, 60.0, charts=False, prefetch=False)
                short = backtest.replay(bundle, source, start, short_end, 60.0, charts=False)
                full = backtest.replay(bundle, source, start, end, 60.0, charts=False)
        finally:
            server.stop()
    print(f"\n{args.series} series, {args.rules} rules, {args.days:g} days at a 1-minute clock\n")
    print(
        f"{'replay':<34} {'hours':>8} {'ticks':>7} {'ms/tick':>9} {'seconds':>10} {'queries':>8} {'alerts':>7}"
    )
    print(_row("no prefetch (extrapolated)", args.days * 24, direct, scale))
    print(_row("prefetch, same range (extrapol.)", args.days * 24, short, scale))
    print(_row("prefetch, full range (measured)", args.days * 24, full))
    print(
        f"\nprefetching: {direct.seconds / max(short.seconds, 1e-9):.1f}x faster over the first "
        f"{args.direct_hours:g} h; the full replay took {full.seconds / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
