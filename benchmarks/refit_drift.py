"""How far a baseline moves between refits: the measurement behind the default ``refit``.

For each simulated series (``alerter.sim``: every model's TTFT, request rate, KV-cache use and
end-to-end latency, one-minute ticks sampled every 5 minutes, no faults) and each of several
training ends T over a week, fits the detector on ``history`` ending at T and again ending at
T + h, for h in 1h, 6h and 24h, and judges the hour after T + h with both: the stale fit stands
for a baseline last refitted h ago, the fresh one for a refit just now. It prints, per detector
and h, how far the stale band's expected value and upper bound sit from the fresh ones, in
units of the fresh band's half-width (upper - expected), and the share of points judged
differently (in band by one, out by the other).

Run: ``.venv/bin/python benchmarks/refit_drift.py [--ends 6]``. Takes about a minute.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from alerter import detect
from alerter.sim.fleet import DEFAULT_MODELS, Fleet, model_state

DAY = 86_400.0
HOUR = 3600.0
STEP = 300.0
END = 1_795_046_400.0  # 2026-11-19T00:00Z
LAGS = (HOUR, 3 * HOUR, 6 * HOUR, DAY)
DETECTORS: dict[str, dict[str, Any]] = {
    "stl, 14d": {"detector": "stl", "history": "14d"},
    "auto, 14d": {"detector": "auto", "history": "14d"},
    "ewma, 1d": {"detector": "ewma", "history": "1d"},
}


def series(days: float) -> tuple[np.ndarray[Any, Any], list[tuple[str, np.ndarray[Any, Any]]]]:
    """5-minute samples of every model's main gauges over ``days`` before END plus two days after."""
    ticks = np.arange(int((END - days * DAY) / 60), int((END + 2 * DAY) / 60), 5, dtype=np.int64)
    fleet = Fleet(DEFAULT_MODELS, seed=3)
    out = []
    for index, spec in enumerate(fleet.models):
        state = model_state(fleet, index, ticks)
        for name in ("ttft", "gateway_rps", "kv_usage", "e2e"):
            out.append((f"{spec.name}/{name}", np.asarray(getattr(state, name), dtype=np.float64)))
    return ticks.astype(np.float64) * 60.0, out


def drift(
    spec: dict[str, Any], ts: np.ndarray[Any, Any], vs: np.ndarray[Any, Any], end: float, lag: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], float]:
    history = float(detect.spec.check(spec)[0]["history"])

    def fit(until: float) -> detect.Detector:
        keep = (ts > until - history) & (ts <= until)
        return detect.build(spec).fit(ts[keep], vs[keep])

    stale, fresh = fit(end), fit(end + lag)
    judged = (ts > end + lag) & (ts <= end + lag + HOUR)
    a = stale.evaluate(ts[judged], vs[judged])
    b = fresh.evaluate(ts[judged], vs[judged])
    half = np.maximum(b.upper - b.expected, 1e-12)
    flips = float(np.mean(a.anomalous != b.anomalous))
    return np.abs(a.expected - b.expected) / half, np.abs(a.upper - b.upper) / half, flips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ends", type=int, default=6, help="training ends, spread over a week")
    args = parser.parse_args(argv)
    ts, gauges = series(15.0)
    print(
        f"{'detector':<10} {'lag':>4} {'|d expected| median / p99':>28} {'|d upper| median / p99':>24} {'points judged differently':>26}"
    )
    for label, spec in DETECTORS.items():
        for lag in LAGS:
            expected, upper, flips = [], [], []
            for k in range(args.ends):
                end = END - k * 29 * HOUR  # ends at different hours of the day
                for _, vs in gauges:
                    e, u, f = drift(spec, ts, vs, end, lag)
                    expected.append(e)
                    upper.append(u)
                    flips.append(f)
            e_all, u_all = np.concatenate(expected), np.concatenate(upper)
            print(
                f"{label:<10} {lag / HOUR:>3.0f}h "
                f"{np.median(e_all):>13.3f} / {np.quantile(e_all, 0.99):<12.3f} "
                f"{np.median(u_all):>10.3f} / {np.quantile(u_all, 0.99):<11.3f} "
                f"{np.mean(flips):>20.4%}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
