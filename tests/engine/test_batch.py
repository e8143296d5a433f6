"""The batch evaluation pages exactly as the per-series path: same observations, alerts, verdicts.

Each rule is evaluated tick after tick twice, by ``evaluate_rule`` judging its series together
(``engine.batch``) and one by one (``stacked=False``), each with its own baseline cache fitted
from the same source, so the refit schedule and the fitted detectors must agree too. Compared
exactly: alert records by ``repr`` (floats in full), observations by the bits of every number,
verdict arrays by their bytes. The series are seeded random ones with a daily (and weekly)
pattern, incidents, NaN values, missing points, level shifts, series appearing and vanishing,
and windows with no value at all.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import astuple
from typing import Any

import numpy as np
import pytest

from alerter.config.rules import RuleGroup
from alerter.core.alerts import Observation
from alerter.core.model import Alert, Labels, Series, Verdict
from alerter.detect import Detector
from alerter.detect.ladder import AutoDetector
from alerter.engine import batch
from alerter.engine.baselines import Baselines
from alerter.engine.evaluate import RuleCache, RuleContext, RuleResult, evaluate_rule, judge, observe

DAY = 86400.0
END = 1_767_571_200.0 + 30 * DAY  # a day boundary, 30 days after a Monday
STEP = 60.0


class _Source:
    """Series stored every minute; a range query returns the stored points on its step's grid
    (multiples of the step within [start, end]), without the points a series lacks."""

    def __init__(self, series: Mapping[str, Sequence[tuple[Labels, np.ndarray, np.ndarray]]]) -> None:
        self.series = series

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        out = []
        for labels, ts, vs in self.series[expr]:
            keep = (ts >= start) & (ts <= end) & (np.round(ts / step) * step == ts)
            if keep.any():
                out.append(Series(labels, ts[keep], vs[keep]))
        return out

    def query(self, expr: str, at: float) -> list[Series]:
        return self.query_range(expr, at, at, STEP)


def _series(
    name: str, count: int, seed: int, *, days: Sequence[float] = (4.0,), weekly: bool = False
) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
    """``count`` series of ``name``: history of ``days[i % len(days)]`` days up to END."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        span = days[i % len(days)]
        ts = np.arange(END - span * DAY, END + 1.0, STEP)
        level = rng.uniform(20, 200)
        vs = level * (1 + 0.3 * np.sin(2 * np.pi * ts / DAY + rng.uniform(0, 6)))
        vs = vs + rng.normal(0, rng.uniform(0.005, 0.05) * level, ts.size)
        if weekly:
            vs = vs * np.where(((ts - END) // DAY) % 7 >= 5, 0.6, 1.0)
        for j in range(4):  # incidents: three during the ticks, one in the history
            at = rng.uniform(END - 7200, END - 600) if j else rng.uniform(END - min(span, 2.0) * DAY, END)
            sign = rng.choice([-1.0, 1.0])
            hit = (ts >= at) & (ts < at + rng.uniform(300, 1500))
            vs = np.where(hit, vs + sign * rng.uniform(0.3, 1.0) * level, vs)
        if i % 5 == 1:  # a level shift during the ticks
            vs = np.where(ts >= END - rng.uniform(600, 5000), vs * 1.5, vs)
        vs[rng.random(ts.size) < 0.03] = np.nan
        keep = rng.random(ts.size) >= 0.04  # points the series lacks
        if i % 7 == 3:  # a series with no value for a while: no samples in the trigger window
            gap = END - rng.uniform(1800, 5000)
            keep &= ~((ts >= gap) & (ts < gap + 900))
        if i % 9 == 4:  # vanishes during the ticks
            keep &= ts < END - 2400
        if i % 11 == 6:  # appears during the ticks: fitted at once, alone
            keep &= ts >= END - 5400
        labels = Labels({"__name__": name, "model": f"m{i % 4}", "pod": f"{name}-{i}"})
        out.append((labels, ts[keep], vs[keep]))
    return out


def _context(rule: Mapping[str, Any], limit: int = 0) -> RuleContext:
    group = RuleGroup.model_validate(
        {"name": "g", "interval": "1m", "limit": limit, "rules": [{"alert": "A", "for": "2m", **rule}]}
    )
    return RuleContext.build(group, group.alerting[0])


def _bits(x: float) -> str:
    return float(x).hex()


def _obs(o: Observation) -> tuple[Any, ...]:
    return tuple(_bits(v) if isinstance(v, float) else v for v in astuple(o))


def _array_same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _verdict_same(a: Verdict, b: Verdict) -> None:
    for name in ("timestamps", "values", "expected", "lower", "upper", "scores", "anomalous", "scale"):
        one, other = getattr(a, name), getattr(b, name)
        assert _array_same(one, other), (name, one, other)
        if one is not None:
            assert np.array_equal(one, other, equal_nan=one.dtype != np.bool_)
    assert (a.tier, a.reason) == (b.tier, b.reason)


def _results_same(one: RuleResult, other: RuleResult) -> None:
    assert [repr(a) for a in one.alerts] == [repr(a) for a in other.alerts]
    assert one.forget == other.forget
    assert list(one.series.items()) == list(other.series.items())
    assert list(one.tiers.items()) == list(other.tiers.items())
    assert list(one.verdicts) == list(other.verdicts)
    for fp in one.verdicts:
        _verdict_same(one.verdicts[fp], other.verdicts[fp])
    assert batch.last_bands(one.verdicts).keys() == batch.last_bands(other.verdicts).keys()
    for fp, band in batch.last_bands(other.verdicts).items():
        assert [_bits(x) for x in band] == [_bits(x) for x in batch.last_band(one.verdicts[fp])]
    assert (one.health.last_error, one.health.digest) == (other.health.last_error, other.health.digest)


def _alone(
    ctx: RuleContext, answer: Sequence[Series], now: float, i: int, det: Detector | None
) -> tuple[Observation, Verdict | None]:
    return judge(ctx, answer[i], det, now)


def _walk(
    ctx: RuleContext,
    source: _Source,
    ticks: int,
    *,
    spread: int = 0,
    start: float = END - 7200,
) -> tuple[dict[str, int], Baselines]:
    """Tick both paths ``ticks`` minutes from ``start``; return how often each thing happened,
    and the batch path's baseline cache."""
    one, other = Baselines(source, spread=spread), Baselines(source, spread=spread)
    cache = RuleCache()
    prev_one: dict[str, Alert] = {}
    prev_other: dict[str, Alert] = {}
    seen: dict[str, int] = {}
    for k in range(ticks):
        now = start + STEP * k
        single = evaluate_rule(ctx, source, one, prev_one, now, stacked=False)
        together = evaluate_rule(ctx, source, other, prev_other, now, cache=cache)
        _results_same(single, together)
        # Every series' observation, normal ones included, as observe gives it.
        answer = source.query_range(ctx.rule.expr, now - ctx.window, now, STEP)
        labels = [s.labels.without("__name__") for s in answer]
        assert ctx.baseline is not None
        judged = batch.judge(
            answer,
            labels,
            spec=ctx.baseline,
            baselines=other,
            at=now,
            window=ctx.rule.trigger.window,
            fraction=ctx.rule.trigger.fraction,
            guard=ctx.rule.when,
            single=functools.partial(_alone, ctx, answer, now),
            stacks=cache.stacks,
        )
        for i, series in enumerate(answer):
            obs, verdict = observe(ctx, series, one, now, labels=labels[i])
            assert _obs(judged.observation(i)) == _obs(obs), (k, series.labels)
            assert judged.has_verdict[i] == (verdict is not None)
            if verdict is not None:
                _verdict_same(judged.verdict(i), verdict)
            if judged.stacked(i):
                seen["stacked"] = seen.get("stacked", 0) + 1
                seen[f"tier {obs.tier}"] = seen.get(f"tier {obs.tier}", 0) + 1
            seen[obs.signal.value] = seen.get(obs.signal.value, 0) + 1
        for alert in together.alerts:
            seen[alert.state.value] = seen.get(alert.state.value, 0) + 1
        prev_one = {a.fingerprint: a for a in single.alerts}
        prev_other = {a.fingerprint: a for a in together.alerts}
    return seen, other


def _fired_and_resolved(seen: Mapping[str, int]) -> None:
    assert seen.get("firing", 0) and seen.get("resolved", 0), seen
    assert seen.get("normal", 0) and seen.get("anomalous", 0) and seen.get("nodata", 0), seen
    assert seen.get("stacked", 0) > seen.get("normal", 0) // 2, seen


RULES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "stl, both ways, with a guard": (
        {"detector": "stl", "history": "4d", "refit": "30m", "sensitivity": 2.5},
        {"trigger": {"window": "5m", "fraction": 0.6}, "when": {"above": 40}},
    ),
    "stl up, min_deviation, one bucket": (
        {"detector": "stl", "history": "4d", "direction": "up", "min_deviation": 2, "per_phase_scale": False},
        {"trigger": {"window": "4m", "fraction": 0.2}},
    ),
    "stl down": (
        {"detector": "stl", "history": "4d", "direction": "down", "sensitivity": 2},
        {"trigger": {"window": "6m", "fraction": 1.0}},
    ),
    "mstl": (
        {"detector": "mstl", "seasonality": ["6h", "1d"], "history": "3d", "refit": "45m"},
        {"trigger": {"window": "5m", "fraction": 0.5}},
    ),
    "ewma": (
        {"detector": "ewma", "history": "1d", "halflife": "30m", "refit": "20m"},
        {"trigger": {"window": "5m", "fraction": 0.6}},
    ),
    "ewma with a season": (
        {"detector": "ewma", "history": "2d", "seasonality": ["1d"], "direction": "up", "sensitivity": 3.5},
        {"trigger": {"window": "3m", "fraction": 0.3}},
    ),
}


@pytest.mark.parametrize("name", list(RULES))
def test_each_detector_pages_as_the_per_series_path(name: str) -> None:
    baseline, extra = RULES[name]
    days = (4.0,) if baseline["detector"] == "stl" else (3.0,) if baseline["detector"] == "mstl" else (2.0,)
    source = _Source({"lat": _series("lat", 24, seed=len(name), days=days)})
    ctx = _context({"expr": "lat", "baseline": baseline, **extra})
    seen, _ = _walk(ctx, source, 110)
    _fired_and_resolved(seen)


def test_every_rung_of_the_ladder_pages_as_the_per_series_path() -> None:
    """``auto``: the widened first day, ewma with the day before, stl, stl with the week before,
    mstl; a series with too little history is learning; one without a baseline yet, by the
    rule's static threshold."""
    data = {
        "lat": _series("lat", 16, seed=3, days=(0.5, 2.0, 4.0, 9.0)),
        "week": _series("week", 2, seed=4, days=(29.0,), weekly=True),
    }
    source = _Source({"both": data["lat"] + data["week"]})
    ctx = _context(
        {
            "expr": "both",
            "baseline": {"history": "30d", "refit": "40m", "sensitivity": 2.5, "above": 1000},
            "trigger": {"window": "5m", "fraction": 0.6},
        }
    )
    seen, fitted = _walk(ctx, source, 75, spread=2)
    _fired_and_resolved(seen)
    for tier in ("ewma", "stl(1d)", "mstl(1d,1w)"):
        assert seen.get(f"tier {tier}", 0), (tier, seen)
    assert ctx.baseline is not None
    dets = [
        fitted.detector(ctx.baseline, s[0].without("__name__").fingerprint, END)
        for s in source.series["both"]
    ]
    ladders = [d for d in dets if isinstance(d, AutoDetector)]
    assert any(d.widen_ == 2.0 for d in ladders)
    periods = {d.day_before_.period for d in ladders if d.day_before_ is not None}
    assert periods == {DAY, 7 * DAY}


def test_a_templated_rule_and_a_rule_over_its_limit_page_as_the_per_series_path() -> None:
    source = _Source({"lat": _series("lat", 12, seed=7, days=(2.0,))})
    templated = _context(
        {
            "expr": "lat",
            "baseline": {"detector": "ewma", "history": "1d"},
            "labels": {"band": "{{ 'high' if value > expected else 'low' }}"},
            "annotations": {"summary": "{{ labels.pod }} at {{ value }}, expected {{ expected }}"},
        }
    )
    _fired_and_resolved(_walk(templated, source, 60)[0])
    limited = _context({"expr": "lat", "baseline": {"detector": "ewma", "history": "1d"}}, limit=1)
    _walk(limited, source, 60)


def test_series_a_stack_cannot_take_are_judged_alone() -> None:
    """Static baselines; a series with a point off the grid (padding for the others), one with
    two points at one time (judged alone while they are in its window)."""
    rows = _series("lat", 8, seed=11, days=(2.0,))
    labels, ts, vs = rows[0]
    odd = np.sort(np.concatenate([ts, [END - 3000 + 17.0]]))  # a point between grid points
    rows[0] = (labels, odd, np.interp(odd, ts, vs))
    labels, ts, vs = rows[1]
    twice = int(np.searchsorted(ts, END - 3000))
    rows[1] = (labels, np.insert(ts, twice, ts[twice]), np.insert(vs, twice, vs[twice] * 3))
    source = _Source({"lat": rows})
    ctx = _context({"expr": "lat", "baseline": {"detector": "ewma", "history": "1d"}})
    _walk(ctx, source, 40, start=END - 3300)
    static = _context({"expr": "lat", "baseline": {"detector": "static", "above": 120, "below": 30}})
    seen, _ = _walk(static, source, 20)
    assert not seen.get("stacked") and seen.get("anomalous"), seen


def test_without_a_rule_cache_the_result_is_the_same() -> None:
    source = _Source({"lat": _series("lat", 10, seed=5, days=(2.0,))})
    ctx = _context({"expr": "lat", "baseline": {"detector": "ewma", "history": "1d"}})
    one, other = Baselines(source), Baselines(source)
    cache = RuleCache()
    prev: dict[str, Alert] = {}
    for k in range(30):
        now = END - 3600 + STEP * k
        cached = evaluate_rule(ctx, source, one, prev, now, cache=cache)
        _results_same(evaluate_rule(ctx, source, other, prev, now), cached)
        prev = {a.fingerprint: a for a in cached.alerts}


def test_verdicts_are_built_only_when_read() -> None:
    source = _Source({"lat": _series("lat", 6, seed=2, days=(2.0,))})
    ctx = _context({"expr": "lat", "baseline": {"detector": "ewma", "history": "1d"}})
    result = evaluate_rule(ctx, source, Baselines(source), {}, END - 600)
    assert isinstance(result.verdicts, batch.Verdicts)
    judgement = result.verdicts._judgement
    assert not judgement._verdicts
    bands = batch.last_bands(result.verdicts)
    assert not judgement._verdicts and len(bands) == len(result.verdicts)
    first = next(iter(result.verdicts))
    assert result.verdicts[first] is result.verdicts[first]
    assert len(judgement._verdicts) == 1
