"""``evaluate_rule`` with and without the rule's cache: the cache saves work and nothing else."""

from __future__ import annotations

import numpy as np

from alerter.config.rules import RuleGroup
from alerter.core.model import Alert, Labels, Series
from alerter.engine.baselines import Baselines
from alerter.engine.evaluate import RuleCache, RuleContext, RuleResult, evaluate_rule

START = 1_700_006_400.0
STEP = 60.0


class _Source:
    """Series ``a``, ``b``, ... on a one-minute grid; ``present`` says which the query returns."""

    def __init__(self) -> None:
        self.present = ("a", "b", "c")

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        ts = np.arange(np.floor(start / step) * step, end + 1e-9, step)
        out = []
        for i, name in enumerate(self.present):
            vs = 100 + 5 * np.sin(ts / 600 + i)
            if name == "a":
                vs = np.where(ts >= START + 10 * STEP, 150.0, vs)  # beyond the static limit
            out.append(Series(Labels({"__name__": expr, "model": name}), ts, vs))
        return out

    def query(self, expr: str, at: float) -> list[Series]:
        return self.query_range(expr, at, at, STEP)


def _context() -> RuleContext:
    group = RuleGroup.model_validate(
        {
            "name": "g",
            "interval": "1m",
            "labels": {"team": "x"},
            "rules": [
                {
                    "alert": "High",
                    "expr": "lat",
                    "baseline": {"detector": "static", "above": 130},
                    "trigger": {"window": "5m", "fraction": 0.6},
                    "for": "2m",
                    "labels": {"severity": "page"},
                    "annotations": {"summary": "{{ labels.model }} at {{ value }}"},
                }
            ],
        }
    )
    return RuleContext.build(group, group.rules[0])


def _same(a: RuleResult, b: RuleResult) -> None:
    assert [repr(x) for x in a.alerts] == [repr(x) for x in b.alerts]
    assert a.forget == b.forget and a.series == b.series and a.tiers == b.tiers
    assert a.verdicts.keys() == b.verdicts.keys()
    for fp, va in a.verdicts.items():
        vb = b.verdicts[fp]
        for name in ("timestamps", "values", "expected", "lower", "upper", "scores", "anomalous"):
            assert np.array_equal(getattr(va, name), getattr(vb, name), equal_nan=True), name
        assert (va.tier, va.reason) == (vb.tier, vb.reason)
    assert (a.health.last_error, a.health.digest) == (b.health.last_error, b.health.digest)


def test_the_cache_keeps_the_last_series_and_changes_no_result() -> None:
    ctx = _context()
    source = _Source()
    cached_baselines, plain_baselines = Baselines(source), Baselines(source)
    cache = RuleCache()
    previous: dict[str, Alert] = {}
    previous_plain: dict[str, Alert] = {}
    kept = None
    for tick in range(20):
        now = START + tick * STEP
        present = ("a", "b") if 8 <= tick < 12 else ("a", "b", "c") if tick < 14 else ("a", "b", "d")
        source.present = present
        with_cache = evaluate_rule(ctx, source, cached_baselines, previous, now, cache=cache)
        without = evaluate_rule(ctx, source, plain_baselines, previous_plain, now)
        _same(with_cache, without)
        previous = {a.fingerprint: a for a in with_cache.alerts}
        previous_plain = {a.fingerprint: a for a in without.alerts}
        for name in ("a", "b", "c", "d"):
            names = cache.names(Labels({"__name__": "lat", "model": name}))
            assert (names is not None) == (name in present), (tick, name)
        a_names = cache.names(Labels({"__name__": "lat", "model": "a"}))
        assert kept is None or a_names is kept  # built once, reused every later tick
        kept = a_names
    assert any(a.state.value == "firing" for a in previous.values())
