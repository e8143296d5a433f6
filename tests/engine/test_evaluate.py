"""``evaluate_rule`` with and without the rule's cache: the cache saves work and nothing else."""

from __future__ import annotations

import numpy as np

from alerter.config.rules import RuleGroup
from alerter.core.model import Alert, Labels, Series
from alerter.engine.baselines import Baselines
from alerter.engine.evaluate import RuleCache, RuleContext, RuleResult, evaluate_rule, rule_names

START = 1_700_006_400.0
STEP = 60.0


class _Source:
    """Series ``a``, ``b``, ... on a one-minute grid; ``present`` says which the query returns."""

    def __init__(self) -> None:
        self.present: tuple[str, ...] = ("a", "b", "c")

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
    return RuleContext.build(group, group.alerting[0])


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


class _Present:
    """A threshold rule's source: the series in ``values`` at each evaluation time (None: absent)."""

    def __init__(self, values: dict[str, list[float | None]]) -> None:
        self.values = values
        self.asked: list[tuple[float, float]] = []
        self.instant: list[float] = []

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        self.asked.append((start, end))
        index = round((end - START) / STEP)
        out = []
        for name, values in self.values.items():
            value = values[index] if 0 <= index < len(values) else None
            if value is not None:
                out.append(
                    Series(Labels({"__name__": "up", "job": name}), np.array([end]), np.array([value]))
                )
        return out

    def query(self, expr: str, at: float) -> list[Series]:
        self.instant.append(at)
        return [Series(s.labels, np.array([at]), s.values) for s in self.query_range(expr, at, at, STEP)]


def _threshold(extra: dict[str, object], group: dict[str, object] | None = None) -> RuleContext:
    rule = {"alert": "Down", "expr": "up == 0", "labels": {"severity": "page"}, **extra}
    parsed = RuleGroup.model_validate({"name": "g", "interval": "1m", **(group or {}), "rules": [rule]})
    return RuleContext.build(parsed, parsed.alerting[0])


def _walk(ctx: RuleContext, source: _Present, steps: int) -> list[dict[str, str]]:
    """The state of each alert after each evaluation, one minute apart from START."""
    previous: dict[str, Alert] = {}
    seen = []
    baselines = Baselines(source)
    for i in range(steps):
        result = evaluate_rule(ctx, source, baselines, previous, START + i * STEP)
        previous = {a.fingerprint: a for a in result.alerts}
        seen.append({a.labels["job"]: a.state.value for a in result.alerts})
    return seen


def test_a_threshold_rule_is_active_while_its_expression_returns_a_sample() -> None:
    # Prometheus (rules/alerting.go): every returned sample is an active alert; pending until
    # `for` has passed since it became active; a firing alert whose series is no longer
    # returned resolves at that evaluation; a pending one is dropped.
    ctx = _threshold({"for": "2m"})
    assert ctx.baseline is None and ctx.lifecycle.vanish_grace == 0
    source = _Present({"a": [0, 0, 0, 0, None, None], "b": [0, None, None, None, None, None]})
    states = _walk(ctx, source, 6)
    assert [s.get("a") for s in states] == ["pending", "pending", "firing", "firing", "resolved", "resolved"]
    assert [s.get("b") for s in states] == ["pending", None, None, None, None, None]
    assert all(start == end for start, end in source.asked)  # an instant query at each evaluation


def test_a_threshold_rule_off_the_step_grid_asks_an_instant_query() -> None:
    # The scheduler ticks at an offset per group; a range query would answer the grid point
    # before it, an instant query answers the evaluation time itself.
    ctx = _threshold({})
    source = _Present({"a": [0, 0]})
    result = evaluate_rule(ctx, source, Baselines(source), {}, START + 17.25)
    assert source.instant == [START + 17.25]
    assert [a.state.value for a in result.alerts] == ["firing"]


def test_keep_firing_for_holds_a_threshold_alert_after_its_series_goes() -> None:
    ctx = _threshold({"keep_firing_for": "2m"})
    states = _walk(ctx, _Present({"a": [0, None, None, None, 0]}), 5)
    assert [s.get("a") for s in states] == ["firing", "firing", "firing", "resolved", "firing"]


def test_a_threshold_alert_carries_the_sample_value() -> None:
    ctx = _threshold({})
    source = _Present({"a": [0.25]})
    result = evaluate_rule(ctx, source, Baselines(source), {}, START)
    (alert,) = result.alerts
    assert alert.value == 0.25 and alert.tier == "threshold"
    assert dict(alert.labels) == {"job": "a", "severity": "page", "alertname": "Down"}


def test_query_offset_reads_the_data_as_of_that_long_ago() -> None:
    ctx = _threshold({}, {"query_offset": "1m"})
    source = _Present({"a": [0, None]})
    result = evaluate_rule(ctx, source, Baselines(source), {}, START + STEP)
    assert source.asked == [(START, START)] and [a.state.value for a in result.alerts] == ["firing"]


def test_a_rule_over_its_group_limit_fails_and_keeps_its_alerts() -> None:
    ctx = _threshold({}, {"limit": 1})
    source = _Present({"a": [0, 0], "b": [None, 0]})
    baselines = Baselines(source)
    first = evaluate_rule(ctx, source, baselines, {}, START)
    assert [a.state.value for a in first.alerts] == ["firing"] and not first.health.last_error
    previous = {a.fingerprint: a for a in first.alerts}
    second = evaluate_rule(ctx, source, baselines, previous, START + STEP)
    assert second.health.last_error == "exceeded limit of 1 with 2 alerts"
    states = {a.labels["job"]: a.state.value for a in second.alerts}
    assert states == {"a": "firing", "b": "error"}  # the firing alert keeps firing, nothing resolves


def test_rules_sharing_an_alert_name_get_names_of_their_own() -> None:
    group = RuleGroup.model_validate(
        {
            "name": "g",
            "rules": [
                {"alert": "Lat", "expr": "x > 1", "labels": {"severity": "warning"}},
                {"alert": "Lat", "expr": "x > 2", "labels": {"severity": "critical"}},
                {"alert": "Err", "expr": "e > 1"},
                {"alert": "Err", "expr": "e > 2"},
                {"alert": "Up", "expr": "up == 0"},
            ],
        }
    )
    assert rule_names(group.alerting) == [
        'Lat{severity="warning"}',
        'Lat{severity="critical"}',
        "Err#1",
        "Err#2",
        "Up",
    ]


def test_go_templates_see_external_labels_and_can_query() -> None:
    group = RuleGroup.model_validate(
        {
            "name": "g",
            "rules": [
                {
                    "alert": "Down",
                    "expr": "up == 0",
                    "annotations": {
                        "where": "{{ $externalLabels.cluster }} at {{ $externalURL }}",
                        "others": '{{ range query "up" }}{{ .Labels.job }}={{ .Value }} {{ end }}',
                    },
                }
            ],
        }
    )
    externals = {"external_labels": {"cluster": "eu-1"}, "external_url": "https://alerter.example"}
    ctx = RuleContext.build(group, group.alerting[0], externals=externals)
    assert ctx.dialect == "go"
    source = _Present({"a": [0.0], "b": [1.0]})
    (alert,) = [
        a for a in evaluate_rule(ctx, source, Baselines(source), {}, START).alerts if a.labels["job"] == "a"
    ]
    assert alert.annotations == {"where": "eu-1 at https://alerter.example", "others": "a=0 b=1 "}
