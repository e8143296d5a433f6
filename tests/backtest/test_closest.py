"""How close each rule came to firing: score inversions, the comparison split, and replays that
stop just short of firing (a static limit, a burn rate, a spend forecast, a baseline band, ``for``,
a threshold rule), each through the engine's own code path over series held in memory."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alerter.backtest.closest import (
    Comparison,
    band_distance,
    comparison,
    comparison_peak,
    score_ratio,
)
from alerter.backtest.replay import Result, replay
from alerter.backtest.series import replay_rules, rule_bundle
from alerter.core.model import Labels, Series
from alerter.detect.base import band_score, ratio_score

EPOCH = 1_795_010_400.0  # 2026-11-18T14:00Z
STEP = 300.0
HOUR = 3600.0


def grid(hours: float, step: float = STEP) -> np.ndarray:
    """Timestamps every ``step`` for ``hours`` ending at EPOCH."""
    return EPOCH - hours * HOUR + step * np.arange(int(hours * HOUR / step) + 1)


def row(result: Result, rule: str) -> dict[str, Any]:
    from alerter.backtest.report import per_rule

    return next(r for r in per_rule(result) if r["rule"] == rule)


# -- turning scores back into the quantities thresholds are written in --------------------------


@pytest.mark.parametrize("r", [0.0, 0.3, 0.9, 1.0, 1.7, 25.0])
def test_band_distance_inverts_the_band_score(r: float) -> None:
    score = float(band_score(np.array([r]), np.array([0.0]), np.array([1.0]), "both")[0])
    assert band_distance(score) == pytest.approx(r, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.924, 1.0, 1.3, 2.0])
def test_score_ratio_inverts_the_ratio_score(ratio: float) -> None:
    """Pins ``STEEPNESS`` to ``alerter.detect.base.ratio_score``: a change there fails here."""
    assert score_ratio(float(ratio_score(np.array([ratio]))[0])) == pytest.approx(ratio, rel=1e-6, abs=1e-6)


def test_saturated_scores_are_infinitely_far() -> None:
    assert band_distance(1.0) == math.inf
    assert score_ratio(1.0) == math.inf
    assert score_ratio(0.0) == -math.inf


# -- a threshold rule's comparison with a number ------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("x > 0.5", Comparison("x", ">", 0.5)),
        ("0.5 < x", Comparison("x", ">", 0.5)),
        ("x <= -2", Comparison("x", "<=", -2.0)),
        (
            'sum by (job) (rate(http_errors{path=~"a>b"}[5m])) / sum by (job) (rate(http[5m])) >= 1e-3',
            Comparison(
                'sum by (job) (rate(http_errors{path=~"a>b"}[5m])) / sum by (job) (rate(http[5m]))',
                ">=",
                1e-3,
            ),
        ),
        ("up == 0", Comparison("up", "==", 0.0)),
        ("x > 1 # a comment with > in it", Comparison("x", ">", 1.0)),
        ("x > bool 1", None),  # a bool comparison returns every series: no threshold to come close to
        ("a > 1 and b < 2", None),  # a set operator: more than one condition
        ("a > b", None),  # no number on either side
        ("(x > 1)", None),  # kept simple: only a top-level comparison
        ("absent(up)", None),
        ("x > 1 > 2", None),
        ('label_replace(x, "a", ">", "b", "c")', None),  # the operator is inside a string
    ],
)
def test_comparison(expr: str, want: Comparison | None) -> None:
    assert comparison(expr) == want


def _series(job: str, values: Sequence[float]) -> Series:
    ts = EPOCH + 60.0 * np.arange(len(values), dtype=np.float64)
    return Series(Labels(__name__="x", job=job), ts, np.array(values, dtype=np.float64))


def test_the_closest_value_is_the_largest_for_above_and_the_smallest_for_below() -> None:
    data = [_series("a", [1.0, 4.2, 3.0]), _series("b", [2.0, float("nan"), 0.5])]
    above = comparison_peak(Comparison("x", ">", 5.0), data)
    assert above is not None
    assert (above.value, above.at, above.labels, above.text) == (4.2, EPOCH + 60, {"job": "a"}, "4.2 vs > 5")
    assert above.closeness == pytest.approx(4.2 / 5)
    below = comparison_peak(Comparison("x", "<", 0.1), data)
    assert below is not None
    assert (below.value, below.labels) == (0.5, {"job": "b"})
    assert comparison_peak(Comparison("x", "!=", 1.0), data) is None
    assert comparison_peak(Comparison("x", ">", 1.0), []) is None


# -- replays that stop just short ---------------------------------------------------------------


def test_a_static_rule_that_never_fired_reports_its_peak_value_time_and_series() -> None:
    ts = grid(6)
    values = np.full(ts.size, 100.0)
    peak_at = EPOCH - 2 * HOUR
    values[ts == peak_at] = 190.0
    rules = [{"alert": "Latency", "expr": "x", "baseline": {"detector": "static", "above": 200}}]
    result = replay_rules(rules, [Series(Labels(model_name="llama3"), ts, values)], interval=STEP)
    got = row(result, "Latency")
    assert got["fired"] == 0 and got["stage"] == "points"
    assert got["summary"] == "closest: 190 vs above 200"
    peak = got["peak"]
    assert (peak["measure"], peak["value"], peak["threshold"], peak["at"]) == ("value", 190.0, 200.0, peak_at)
    assert peak["labels"] == {"model_name": "llama3"}
    assert peak["closeness"] == pytest.approx(0.95, abs=1e-6)


def test_a_burn_rate_rule_reports_the_window_pair_that_came_closest() -> None:
    """13.3x for 70 minutes: the 1h/5m pair reaches 13.3 of 14.4, the 6h/30m pair only ~2.6 of 6."""
    ts = grid(12, 60.0)
    ratio = np.full(ts.size, 0.0)
    burst = (ts > EPOCH - 4 * HOUR) & (ts <= EPOCH - 4 * HOUR + 70 * 60)
    ratio[burst] = 0.0133  # 13.3x a 0.1% budget
    rules = [
        {"alert": "ErrorBudgetBurn", "expr": "x", "baseline": {"detector": "burn_rate", "objective": 0.999}}
    ]
    result = replay_rules(rules, [Series(Labels(service="chat"), ts, ratio)], interval=60.0)
    got = row(result, "ErrorBudgetBurn")
    assert got["fired"] == 0
    assert got["summary"] == "closest: 13.3x of 14.4x burn over 1h/5m"
    assert got["peak"]["measure"] == "burn"
    assert got["peak"]["closeness"] == pytest.approx(13.3 / 14.4, abs=2e-3)
    assert got["peak"]["at"] >= EPOCH - 3 * HOUR  # once the 1h window is full of the burst
    assert "fires above 14.4x" in got["peak"]["reason"]


def test_a_forecast_rule_reports_the_projected_spend_against_its_budget() -> None:
    ts = grid(72)
    spend = (ts - ts[0]) * (800.0 / 86400)  # a steady $800 a day against $1,000
    rules = [
        {"alert": "Spend", "expr": "x", "baseline": {"detector": "forecast", "budget": 1000, "period": "day"}}
    ]
    result = replay_rules(rules, [Series(Labels(team="search"), ts, spend)], interval=HOUR)
    got = row(result, "Spend")
    assert got["fired"] == 0
    assert got["peak"]["measure"] == "spend" and got["peak"]["threshold"] == 1000.0
    assert got["peak"]["value"] == pytest.approx(800.0, rel=0.02)
    assert got["summary"].startswith("closest: projected spend 8") and got["summary"].endswith(
        "of budget 1,000"
    )


def _noisy(days: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    ts = EPOCH - days * 86400 + STEP * np.arange(int(days * 86400 / STEP))
    return ts, 100 + np.random.default_rng(seed).normal(0, 2, ts.size)


def _ewma(sensitivity: float) -> dict[str, Any]:
    return {
        "alert": "Band",
        "expr": "x",
        "baseline": {"detector": "ewma", "history": "2d", "sensitivity": sensitivity},
        "trigger": {"window": "5m", "fraction": 1.0},
    }


def test_the_reported_sigma_is_the_sensitivity_the_band_needed_to_fire() -> None:
    """Noise alone at sensitivity 6 peaks at some Xσ; the same replay at 0.95 X fires, at 1.05 X not."""
    ts, vs = _noisy(3, seed=5)
    series = [Series(Labels(model_name="m"), ts, vs)]
    start = EPOCH - 12 * HOUR
    quiet = _replay_from([_ewma(6.0)], series, start)
    got = row(quiet, "Band")
    assert got["fired"] == 0 and got["peak"]["measure"] == "sigma"
    sigma = got["peak"]["value"]
    assert 0 < sigma < 6.0
    assert got["summary"].startswith(f"closest: {sigma:.3g}σ of 6σ (value ")
    assert row(_replay_from([_ewma(0.95 * sigma)], series, start), "Band")["fired"] >= 1
    assert row(_replay_from([_ewma(1.05 * sigma)], series, start), "Band")["fired"] == 0


def _replay_from(rules: list[dict[str, Any]], series: list[Series], start: float) -> Result:
    from alerter.backtest.series import replay_bundle

    with tempfile.TemporaryDirectory() as tmp:
        bundle = rule_bundle(rules, STEP, Path(tmp))
        return replay_bundle(bundle, series, interval=STEP, start=start, workdir=Path(tmp))


def test_a_rule_held_back_by_for_reports_how_long_it_was_pending() -> None:
    ts = grid(6)
    values = np.full(ts.size, 100.0)
    values[(ts >= EPOCH - 3 * HOUR) & (ts < EPOCH - 3 * HOUR + 20 * 60)] = 300.0
    rules = [{"alert": "Slow", "expr": "x", "for": "1h", "baseline": {"detector": "static", "above": 200}}]
    result = replay_rules(rules, [Series(Labels(), ts, values)], interval=STEP)
    got = row(result, "Slow")
    assert got["fired"] == 0 and got["stage"] == "pending"
    assert got["pending"]["for"] == HOUR
    assert got["pending"]["longest"] == 15 * 60  # pending at four ticks, 15 minutes apart
    assert got["summary"] == "pending up to 15m of for 1h"


@dataclass
class ComparingSource:
    """Answers ``x`` with fixed series and ``x > 5`` with what Prometheus returns: nothing, as x stays below."""

    data: Mapping[str, list[Series]]
    asked: list[str]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        self.asked.append(expr)
        out = []
        for s in self.data.get(expr, []):
            keep = (s.timestamps >= start - 1e-6) & (s.timestamps <= end + 1e-6)
            if keep.any():
                out.append(Series(s.labels, s.timestamps[keep], s.values[keep]))
        return out

    def query(self, expr: str, at: float) -> list[Series]:
        return self.query_range(expr, at, at, 1.0)


def test_a_threshold_rule_that_never_returned_a_series_reports_its_closest_value() -> None:
    ts = grid(2, 60.0)
    x = np.full(ts.size, 1.0)
    x[ts == EPOCH - HOUR] = 4.2
    source = ComparingSource({"x": [Series(Labels(__name__="x", job="api"), ts, x)]}, [])
    rules: list[dict[str, Any]] = [
        {"alert": "High", "expr": "x > 5", "labels": {"severity": "page"}},
        {"alert": "Gone", "expr": "absent(x)"},
    ]
    with tempfile.TemporaryDirectory() as tmp:
        bundle = rule_bundle(rules, 60.0, Path(tmp))
        result = replay(bundle, source, EPOCH - 2 * HOUR, EPOCH, 60.0, charts=False, workdir=Path(tmp))
    high = row(result, "High")
    assert high["kind"] == "threshold" and high["fired"] == 0
    assert high["summary"] == "closest: 4.2 vs > 5"
    assert (high["peak"]["at"], high["peak"]["labels"]) == (EPOCH - HOUR, {"job": "api"})
    assert row(result, "Gone")["summary"] == "never returned a series"
    assert source.asked.count("x") == 1, "the left-hand side is asked once, for the whole range"


def test_a_threshold_rule_that_fired_needs_no_near_miss_query() -> None:
    ts = grid(1, 60.0)
    source = ComparingSource({"x > 0": [Series(Labels(__name__="x"), ts, np.ones(ts.size))]}, [])
    with tempfile.TemporaryDirectory() as tmp:
        bundle = rule_bundle([{"alert": "Up", "expr": "x > 0"}], 60.0, Path(tmp))
        result = replay(bundle, source, EPOCH - HOUR, EPOCH, 60.0, charts=False, workdir=Path(tmp))
    assert row(result, "Up")["stage"] == "fired"
    assert "x" not in source.asked
