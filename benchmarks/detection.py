"""Detection quality and speed of every detector on labelled data, through ``score_stream``.

Run ``python benchmarks/detection.py`` (a few minutes) or ``--full`` (four weeks of three
simulated fleets, per-series rows). For each data set it prints event-wise precision, recall and F1, the
median detection delay, false alerts per series-week and fit/scoring time, for the detectors
and for two references measured in the same run: a rolling 1-day z-score and a static
percentile threshold. Each is reported per point at the given score thresholds (0.5 is the
band edge, i.e. the detectors' own ``anomalous``) and as the engine pages, through a trigger
window (default: 80% of the points of the last 10 minutes out of band). Metrics are defined
in ``benchmarks/_detection_metrics.py``.

Data sets:

- ``ms``: Microsoft's Cloud Monitoring data set (67 labelled series, ``TimeStamp,Value,Label``),
  looked up in ``$ALERTER_MS_DATASET`` or ``../shared/datasets/ms-cloud-monitoring``.
- ``sim``: the LLM-fleet simulator's injected incidents (TTFT, error shares, queue time,
  traffic, prompt size of three models over two weeks at 5-minute steps, two incidents a
  day), labelled from the simulator's ground truth; see :func:`sim_series`.

``burn_rate`` and ``forecast`` need an SLO objective or a budget, which these data sets do
not have; they are timed on synthetic error-ratio and spend series instead.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from _detection_metrics import FloatArray, Tally, rolling_zscore, score_series, static_percentile

from alerter import detect
from alerter.core.durations import parse_duration

Series = tuple[str, FloatArray, FloatArray, np.ndarray]  # name, ts (s), values, labels (bool)
Scorer = Callable[[FloatArray, FloatArray], FloatArray]

CONFIGS: dict[str, dict[str, object]] = {
    "default (auto)": {},
    "stl": {"detector": "stl"},
    "mstl": {"detector": "mstl", "history": "28d"},
    "ewma": {"detector": "ewma"},
}


def ms_dir() -> Path:
    env = os.environ.get("ALERTER_MS_DATASET")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    return here.parent / "shared" / "datasets" / "ms-cloud-monitoring"


def ms_series(root: Path) -> Iterator[Series]:
    """Every CSV of the MS data set, sorted by file name."""
    for path in sorted(root.glob("data/**/*.csv")):
        stamps, values, labels = [], [], []
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                stamp = dt.datetime.fromisoformat(row["TimeStamp"].strip().replace("Z", "+00:00"))
                stamps.append((stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp())
                values.append(float(row["Value"]) if row["Value"] not in ("", "NaN") else np.nan)
                labels.append(row["Label"].strip() == "1")
        ts = np.array(stamps, dtype=np.float64)
        yield f"{path.parent.name}/{path.stem}", ts, np.array(values), np.array(labels, dtype=bool)


#: Fleet quantities scored on the simulated data, and the incident kinds that disturb each.
SIM_FIELDS: dict[str, tuple[str, ...]] = {
    "ttft": ("latency_regression", "queue_buildup"),
    "share_5xx": ("error_surge",),
    "share_4xx": ("bad_input_spike",),
    "queue": ("queue_buildup",),
    "gateway_rps": ("throughput_drop", "spend_runaway"),
    "prompt_tokens": ("spend_runaway",),
}


def sim_series(days: float = 14.0, step: float = 300.0, seeds: tuple[int, ...] = (1,)) -> Iterator[Series]:
    """The simulator's fleet with injected incidents, labelled with the incidents' ground truth.

    Uses the simulator's pure model (``alerter.sim.fleet.model_state``) on a ``step`` grid, with
    two incidents a day from ``alerter.sim.history.random_faults``; a point is labelled while an
    incident that disturbs that quantity of that model is active. Skipped when the simulator is
    not installed.
    """
    try:
        fleet_mod = importlib.import_module("alerter.sim.fleet")
        history_mod = importlib.import_module("alerter.sim.history")
    except ImportError:
        return
    start = 1_767_225_600.0  # 2026-01-01T00:00Z
    end = start + days * 86400.0
    times = np.arange(start, end, step)
    for seed in seeds:
        base = fleet_mod.Fleet(seed=seed)
        faults = history_mod.random_faults(base, start, end, int(2 * days))
        fleet = fleet_mod.Fleet(base.models, seed, faults)
        ticks = np.round(times / fleet_mod.TICK).astype(np.int64)
        for index, model in enumerate(fleet.models):
            state = fleet_mod.model_state(fleet, index, ticks)
            for field, kinds in SIM_FIELDS.items():
                labels = np.zeros(times.size, dtype=bool)
                for f in faults:
                    if f.model == model.name and f.kind in kinds:
                        labels |= (times >= f.start) & (times < f.end)
                values = np.asarray(getattr(state, field), dtype=np.float64)
                yield f"seed{seed}/{model.name}/{field}", times, values, labels


def scorers() -> dict[str, tuple[Scorer, Callable[[FloatArray, FloatArray], None] | None]]:
    """Name -> (causal scorer, single-fit function for timing or None)."""
    out: dict[str, tuple[Scorer, Callable[[FloatArray, FloatArray], None] | None]] = {}
    for name, spec in CONFIGS.items():
        det = detect.build(spec)

        def fit_once(ts: FloatArray, vs: FloatArray, det: detect.Detector = det) -> None:
            with contextlib.suppress(detect.NotEnoughData):
                det.clone().fit(ts, vs)

        out[name] = (det.score_stream, fit_once)
    out["ref: rolling 1d z-score"] = (rolling_zscore, None)
    out["ref: static percentile"] = (static_percentile, None)
    return out


def triggered(ts: FloatArray, scores: FloatArray, window: float, fraction: float) -> FloatArray:
    """1 where at least ``fraction`` of the points in the trailing ``window`` are out of band.

    How the engine pages (a rule's ``trigger: {window, fraction}``); applied the same way to
    every detector and reference.
    """
    out_of_band = np.concatenate(([0], np.cumsum(scores > 0.5)))
    hi = np.arange(1, ts.size + 1)
    lo = np.searchsorted(ts, ts - window, side="right")
    share = (out_of_band[hi] - out_of_band[lo]) / (hi - lo)
    return (share >= fraction).astype(np.float64)


Modes = dict[str, dict[str, Tally]]


def run(data: list[Series], thresholds: list[float], trigger: tuple[float, float], per_series: bool) -> Modes:
    """Score every series with every scorer; tallies per mode (threshold or trigger window)."""
    window, fraction = trigger
    trigger_mode = f"trigger {window / 60:g}m x {fraction:g}"
    modes: Modes = {f"threshold {thr:g}": {} for thr in thresholds}
    modes[trigger_mode] = {}
    for name, (scorer, fit_once) in scorers().items():
        for tallies in modes.values():
            tallies[name] = Tally()
        for sname, ts, vs, labels in data:
            start = time.perf_counter()
            scores = scorer(ts, vs)
            elapsed = time.perf_counter() - start
            fit = None
            if fit_once is not None:
                start = time.perf_counter()
                fit_once(ts, vs)
                fit = time.perf_counter() - start
            tolerance = 3 * float(np.median(np.diff(ts)))
            for mode, tallies in modes.items():
                tally = tallies[name]
                tally.stream_seconds += elapsed
                tally.points += ts.size
                if fit is not None:
                    tally.fit_seconds.append(fit)
                if mode == trigger_mode:
                    score_series(tally, ts, labels, triggered(ts, scores, window, fraction), 0.5, tolerance)
                else:
                    score_series(tally, ts, labels, scores, float(mode.split()[1]), tolerance)
            if per_series:
                one = Tally()
                score_series(one, ts, labels, scores, thresholds[0], tolerance)
                print(f"  {name:28s} {sname:40s} events {one.detected}/{one.events} false {one.false_alarms}")
    return modes


def table(title: str, tallies: dict[str, Tally]) -> str:
    head = (
        f"{'detector':28s} {'prec':>6s} {'recall':>6s} {'F1':>6s} {'events':>9s} {'delay':>8s} "
        f"{'false/wk':>8s} {'fit ms':>7s} {'stream s':>8s} {'us/pt':>6s}"
    )
    lines = [f"== {title} ==", head, "-" * len(head)]
    for name, t in tallies.items():
        delay = f"{statistics.median(t.delays) / 60:.0f}m" if t.delays else "-"
        fit = f"{1000 * statistics.mean(t.fit_seconds):.1f}" if t.fit_seconds else "-"
        per_week = t.false_alarms / t.weeks if t.weeks else 0.0
        lines.append(
            f"{name:28s} {t.precision:6.3f} {t.recall:6.3f} {t.f1:6.3f} {t.detected:4d}/{t.events:<4d} "
            f"{delay:>8s} {per_week:8.2f} {fit:>7s} {t.stream_seconds:8.2f} "
            f"{1e6 * t.stream_seconds / max(t.points, 1):6.1f}"
        )
    return "\n".join(lines)


def speed_table() -> str:
    """Fit of a robust daily STL on 14 days of 1-minute data, and score_stream throughput."""
    rng = np.random.default_rng(7)
    lines = ["== speed (synthetic, one core) ==", f"{'case':44s} {'seconds':>8s}"]
    ts = np.arange(0, 14 * 86400, 60.0)
    vs = 100 + 30 * np.sin(2 * np.pi * ts / 86400) + rng.normal(0, 3, ts.size)
    stl = detect.build({"detector": "stl"})
    fits = []
    for _ in range(5):
        start = time.perf_counter()
        stl.clone().fit(ts, vs)
        fits.append(time.perf_counter() - start)
    lines.append(f"{'stl(1d) fit, 14d of 1m data (median of 5)':44s} {statistics.median(fits):8.3f}")
    ratio = np.clip(rng.normal(0.0005, 0.0003, 100_000), 0, 1)
    spend = np.cumsum(rng.uniform(0, 0.01, 100_000))
    specs: list[tuple[str, dict[str, object], FloatArray]] = [(n, s, vs) for n, s in CONFIGS.items()] + [
        ("static", {"detector": "static", "above": 130}, vs),
        ("burn_rate", {"detector": "burn_rate", "objective": 0.999}, ratio),
        ("forecast", {"detector": "forecast", "budget": 500, "period": "week"}, spend),
    ]
    long_ts = np.arange(0, 100_000 * 60.0, 60.0)
    long_vs = 100 + 30 * np.sin(2 * np.pi * long_ts / 86400) + rng.normal(0, 3, long_ts.size)
    for name, spec, series in specs:
        for n in (20_000, 100_000):
            values = series[:n] if series is not vs else long_vs[:n]
            start = time.perf_counter()
            detect.build(spec).score_stream(long_ts[:n], values)
            lines.append(
                f"{'score_stream ' + name + f' ({n // 1000}k points)':44s} {time.perf_counter() - start:8.3f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full", action="store_true", help="4 weeks x 3 seeds of simulator data, per-series rows"
    )
    parser.add_argument(
        "--thresholds", default="0.5,0.8", help="comma-separated score thresholds (0.5 = the band edge)"
    )
    parser.add_argument("--trigger", default="10m:0.8", help="engine-style trigger window:fraction")
    parser.add_argument("--no-speed", action="store_true", help="skip the synthetic speed table")
    args = parser.parse_args(argv)
    root = ms_dir()
    if not root.exists():
        print(f"MS data set not found at {root} (set ALERTER_MS_DATASET)", file=sys.stderr)
        return 2
    thresholds = [float(x) for x in args.thresholds.split(",")]
    window_text, fraction_text = args.trigger.split(":")
    trigger = (parse_duration(window_text), float(fraction_text))
    sim = sim_series(28.0, seeds=(1, 2, 3)) if args.full else sim_series()
    datasets = {"ms-cloud-monitoring": list(ms_series(root)), "simulator incidents": list(sim)}
    for title, data in datasets.items():
        if not data:
            print(f"== {title} == skipped: no labelled series available\n")
            continue
        for mode, tallies in run(data, thresholds, trigger, args.full).items():
            print(table(f"{title}: {len(data)} series, {mode}", tallies))
            print()
    if not args.no_speed:
        print(speed_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
