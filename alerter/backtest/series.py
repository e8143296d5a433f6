"""Replaying one rule over one series held in memory: "what would this rule have paged on this?".

:func:`replay_series` is the public face for notebooks, the detection benchmark and
``alerter backtest --csv``. It does not re-implement anything: the rule mapping becomes a rule
file loaded by the normal loader (so omitted keys take the rule-file defaults and mistakes get
the same errors), the series is served by :class:`ArraySource`, which answers range queries as
Prometheus answers them for a plain selector, and :func:`alerter.backtest.replay.replay` walks
the clock through the engine, the baseline cache (history, refit cadence, cold-start ladder,
exclusion of the rule's own firing periods) and the alert state machine, exactly as
``alerter backtest`` does against a real Prometheus.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from alerter.backtest.csvfile import read_csv
from alerter.backtest.record import Episode
from alerter.backtest.replay import Result, replay
from alerter.config import AppConfig, Bundle, load
from alerter.core.durations import format_duration
from alerter.core.errors import AlerterError, ConfigError, ConfigErrors, Location
from alerter.core.model import FloatArray, Labels, Series
from alerter.detect import hygiene

LOOKBACK = 300.0
"""Prometheus' default lookback delta: a grid point takes the latest sample at most this old."""
GROUP = "replay"
DEFAULT_ALERT = "Replay"
DEFAULT_EXPR = "series"
_NO_PROMETHEUS = AppConfig.model_validate({"prometheus": {"url": "http://127.0.0.1:1"}})
"""The engine config of an offline replay: no receivers, no policies, and a source never asked."""


@dataclass(frozen=True)
class ArraySource:
    """A ``Source`` serving in-memory series, answering like Prometheus does for a selector.

    A range query returns, at every multiple of ``step`` from the one at or before ``start`` up
    to ``end``, each series' latest sample no older than ``lookback`` (and nothing where there is
    none), which is what ``query_range`` of a plain metric selector returns: a step coarser than
    the data picks samples, it does not average them. Every expression selects every series.
    """

    series: tuple[Series, ...]
    lookback: float = LOOKBACK

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        if not step > 0:
            raise AlerterError(f"range query step must be positive, got {step}")
        first = math.floor(start / step) * step
        count = max(math.floor((end - first) / step + 1e-9) + 1, 0)
        grid: FloatArray = (first + step * np.arange(count)).astype(np.float64)
        return [s for s in (_sample(s, grid, self.lookback) for s in self.series) if s.timestamps.size]

    def query(self, expr: str, at: float) -> list[Series]:
        grid = np.array([at], dtype=np.float64)
        return [s for s in (_sample(s, grid, self.lookback) for s in self.series) if s.timestamps.size]


def _sample(series: Series, grid: FloatArray, lookback: float) -> Series:
    ts = series.timestamps
    idx = np.searchsorted(ts, grid, side="right") - 1
    ok = idx >= 0
    ok[ok] &= grid[ok] - ts[idx[ok]] <= lookback + 1e-9
    return Series(series.labels, grid[ok], series.values[idx[ok]])


def clean_series(timestamps: npt.ArrayLike, values: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Sorted unique timestamps (seconds) with finite values; the last of duplicates wins.

    Accepts what ``score_stream`` accepts: float seconds or ``datetime64``, in any order, with
    duplicates, NaT and NaN. A NaN value is a missing sample, as a gap in Prometheus is.
    """
    ts = hygiene.as_seconds(timestamps)
    vs = hygiene.as_values(values, ts.shape[0])
    keep = np.isfinite(ts) & np.isfinite(vs)
    ts, vs = ts[keep], vs[keep]
    order = np.argsort(ts, kind="stable")
    ts, vs = ts[order], vs[order]
    last = np.append(ts[1:] != ts[:-1], True) if ts.size else np.zeros(0, dtype=bool)
    return ts[last], vs[last]


def default_interval(ts: FloatArray) -> float:
    """The evaluation interval a replay uses when none is given: the median sample spacing."""
    step = hygiene.native_step(ts)
    if not step > 0:
        raise AlerterError("a replay needs at least two samples at distinct times")
    return step


def rule_bundle(rules: Sequence[Mapping[str, Any]], interval: float, workdir: Path) -> Bundle:
    """A bundle of one group holding ``rules`` (mappings as under ``rules:``), loaded normally."""
    group = {"name": GROUP, "interval": format_duration(interval), "rules": [dict(r) for r in rules]}
    path = workdir / "rules.yaml"
    # JSON is YAML: the loader reads it with positions, and errors are re-anchored below.
    path.write_text(json.dumps({"groups": [group]}, indent=2, default=str) + "\n", encoding="utf-8")
    try:
        loaded = load(None, [path])
    except ConfigErrors as exc:
        raise ConfigErrors([_anchored(e) for e in exc.errors]) from None
    return Bundle(_NO_PROMETHEUS, None, loaded.rule_files)


def _anchored(error: ConfigError) -> ConfigError:
    """The loader's error about the generated file, told about the caller's mapping instead."""
    path = error.path
    where = "rule"
    if path.startswith("groups[0].rules["):
        index, _, rest = path.removeprefix("groups[0].rules[").partition("]")
        where, path = f"rule {index}", rest.removeprefix(".")
    elif path.startswith("groups[0].interval"):
        where, path = "replay", "interval"
    return ConfigError(Location(where), path or "rule", error.message, error.hint)


def replay_rules(
    rules: Sequence[Mapping[str, Any]],
    series: Sequence[Series],
    *,
    interval: float,
    pending: bool = False,
) -> Result:
    """Replay rule mappings over ``series`` from their first sample to their last."""
    with tempfile.TemporaryDirectory(prefix="alerter-replay-") as tmp:
        bundle = rule_bundle(rules, interval, Path(tmp))
        return replay_bundle(bundle, series, interval=interval, pending=pending, workdir=Path(tmp))


def replay_bundle(
    bundle: Bundle,
    series: Sequence[Series],
    *,
    interval: float,
    start: float | None = None,
    end: float | None = None,
    pending: bool = False,
    charts: bool = False,
    workdir: Path | None = None,
) -> Result:
    """Replay a loaded bundle over in-memory series (every expression selects all of them)."""
    cleaned = [Series(s.labels, *clean_series(s.timestamps, s.values)) for s in series]
    cleaned = [s for s in cleaned if s.timestamps.size]
    if not cleaned:
        raise AlerterError("no samples to replay: every value is missing")
    first = min(float(s.timestamps[0]) for s in cleaned)
    last = max(float(s.timestamps[-1]) for s in cleaned)
    start = first if start is None else start
    end = last if end is None else end
    if not end > start:
        raise AlerterError("the series must span more than one instant")
    spacing = max(hygiene.native_step(s.timestamps) for s in cleaned)
    source = ArraySource(tuple(cleaned), lookback=max(LOOKBACK, spacing))
    if bundle.config is None:
        bundle = Bundle(_NO_PROMETHEUS, bundle.config_path, bundle.rule_files)
    return replay(bundle, source, start, end, interval, charts=charts, workdir=workdir, pending=pending)


def csv_command(args: argparse.Namespace) -> int:
    """``alerter backtest --csv FILE --rules RULES...``: the Prometheus backtest's report, offline."""
    from alerter.backtest.replay import load_rules, load_truth, write_reports

    if not args.rules:
        raise AlerterError("--csv needs --rules: the rule files to replay over the file's columns")
    try:
        series = read_csv(args.csv)
        bundle = load_rules(args.config, args.rules)
        other = load_rules(args.config, args.against) if args.against else None
        truth = load_truth(args)
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    threshold = [
        f"{loaded.path}: rule {rule.alert} has no `baseline:`"
        for b in (bundle, other)
        if b is not None
        for loaded in b.rule_files
        for group in loaded.rules.groups
        for rule in group.alerting
        if rule.baseline is None
    ]
    if threshold:
        # The columns are served as the answer to every expression, so a threshold rule would
        # be active at every row: nothing a replay of its expression could tell.
        for line in threshold:
            print(
                f"{line}; --csv replays anomaly detection over the file's columns (add `baseline: {{}}`)",
                file=sys.stderr,
            )
        return 1
    cleaned = [clean_series(s.timestamps, s.values)[0] for s in series]
    step = args.step or max((hygiene.native_step(ts) for ts in cleaned), default=0.0)
    if not step > 0:
        raise AlerterError(f"{args.csv}: cannot tell the spacing of its rows; pass --step")
    charts = bool(args.report) and not args.no_charts
    window = {"interval": step, "start": args.start, "end": args.end, "charts": charts}
    result = replay_bundle(bundle, series, **window)
    against = replay_bundle(other, series, **window) if other is not None else None
    write_reports(args, result, against, truth)
    return 0


def replay_series(
    rule: Mapping[str, Any],
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    interval: float | None = None,
) -> list[Episode]:
    """The alert episodes one rule would have had on one series, starting from no history.

    ``rule`` is a mapping written as under ``rules:`` in a rule file (``baseline``, ``trigger``,
    ``for``, ``keep_firing_for``, ``when``...); ``alert`` and ``expr`` may be left out and every
    other omitted key takes its rule-file default, except ``baseline``, which defaults to ``{}``:
    in a rule file a rule without it is a threshold rule, active at every sample its expression
    returns, and over one bare series that would be every sample. The rule is evaluated every ``interval``
    seconds (default: the median spacing of the timestamps) from the first sample to the last,
    through the engine's own code path. Each episode runs from the alert turning pending
    (``active_at``) to its resolution (``resolved_at``, None when still active at the end);
    ``fired_at`` is None for an episode that went pending and never fired, i.e. never paged.
    Invalid keys raise :class:`~alerter.core.errors.ConfigErrors` naming the field.
    """
    ts, vs = clean_series(timestamps, values)
    step = default_interval(ts) if interval is None else float(interval)
    if not step > 0 or not math.isfinite(step):
        raise AlerterError(f"interval must be a positive number of seconds, got {interval!r}")
    full = {"alert": DEFAULT_ALERT, "expr": DEFAULT_EXPR, "baseline": {}, **rule}
    result = replay_rules([full], [Series(Labels(), ts, vs)], interval=step, pending=True)
    return [e for e in result.episodes if e.rule == full["alert"]]


__all__ = [
    "ArraySource",
    "clean_series",
    "csv_command",
    "default_interval",
    "replay_bundle",
    "replay_rules",
    "replay_series",
]
