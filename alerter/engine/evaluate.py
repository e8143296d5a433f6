"""One rule over its series at one tick: query, judge against baselines, step the alerts.

Called by the engine for every rule of a group at each tick, and by backtests with a clock that
walks through history. It only produces values (alert records, verdicts, rule health); sending
and acting happen elsewhere, and the one thing it updates is the caller's per-rule ``RuleCache``.
A failing query puts the rule's alerts in ``error`` without ever resolving them; a failing series
is isolated from the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from alerter import detect
from alerter.config import templates
from alerter.config.rules import Rule, RuleGroup
from alerter.config.templates import Dialect
from alerter.core import alerts, codec
from alerter.core.alerts import Lifecycle, Observation
from alerter.core.errors import AlerterError, SourceError
from alerter.core.model import Alert, AlertState, Labels, Series, Verdict
from alerter.engine import batch
from alerter.engine.baselines import Baselines, BaselineSpec
from alerter.source import Source
from alerter.store.sqlite import RuleHealth

log = logging.getLogger(__name__)


def rule_digest(group: RuleGroup, rule: Rule) -> str:
    """Digest of everything that decides a rule's alerts; alert state survives a reload only
    when it is unchanged (see ``alerts.carry_over``)."""
    payload = json.dumps(
        [group.interval, group.labels, rule.model_dump(mode="json", by_alias=True)], sort_keys=True
    )
    return hashlib.blake2b(payload.encode(), digest_size=8).hexdigest()


_Names = tuple[Labels, Labels, str]
"""A queried series' labels without ``__name__``, its alert labels and its alert fingerprint."""


@dataclass(frozen=True)
class RuleContext:
    """A rule prepared for evaluation: its group, timing and baseline spec.

    A value, built once per configuration and read by the engine and by whatever reads its plan
    (the status API, backtests). What one evaluation leaves for the next is not part of it: that
    lives in a :class:`RuleCache`, owned by whoever evaluates the rule tick after tick.

    ``name`` tells the rule apart within its group. Prometheus lets a group hold two rules of
    one alert name (the usual warning/critical pair), so the name is the alert name when it is
    unique in the group and otherwise the alert name with what tells the rules apart (see
    :func:`rule_names`). The ``alertname`` label is always the alert name.
    """

    group: RuleGroup
    rule: Rule
    lifecycle: Lifecycle
    baseline: BaselineSpec | None
    """None for a threshold rule, which has no baseline."""
    digest: str
    lookback: float
    name: str
    dialect: Dialect = "jinja"
    """The template language of the rule's annotations and labels (``templates.dialect``)."""
    externals: Mapping[str, object] = field(default_factory=dict)
    """``external_labels`` and ``external_url`` for templates (``$externalLabels``, ``$externalURL``)."""

    @classmethod
    def build(
        cls,
        group: RuleGroup,
        rule: Rule,
        name: str | None = None,
        *,
        externals: Mapping[str, object] | None = None,
    ) -> RuleContext:
        name = rule.alert if name is None else name
        if rule.baseline is None:
            # A threshold rule times its alerts as Prometheus does: a series that is no longer
            # returned resolves at once (after keep_firing_for), and nothing damps flapping.
            lifecycle = Lifecycle(
                for_=rule.for_, keep_firing_for=rule.keep_firing_for, vanish_grace=0.0, flap_max_transitions=0
            )
            baseline, lookback = None, 0.0
        else:
            lifecycle = Lifecycle.for_rule(
                interval=group.interval, for_=rule.for_, keep_firing_for=rule.keeps_firing_for
            )
            baseline = BaselineSpec.for_rule(group.name, name, rule.expr, rule.baseline)
            lookback = detect.build(rule.baseline).lookback
        return cls(
            group=group,
            rule=rule,
            lifecycle=lifecycle,
            baseline=baseline,
            digest=rule_digest(group, rule),
            lookback=lookback,
            name=name,
            dialect=templates.dialect([*rule.annotations.values(), *rule.labels.values()]),
            externals=dict(externals or {}),
        )

    @property
    def templated_labels(self) -> bool:
        """Whether a rule label is a template, rendered per series and evaluation as in Prometheus."""
        return any("{{" in value for value in self.rule.labels.values())

    @property
    def key(self) -> tuple[str, str]:
        return (self.group.name, self.name)

    @property
    def window(self) -> float:
        """Seconds of recent data fetched each tick: the trigger window plus what the detector
        needs; none before the evaluation time for a threshold rule (an instant query)."""
        if self.baseline is None:
            return 0.0
        return self.rule.trigger.window + self.lookback


def rule_names(rules: Sequence[Rule]) -> list[str]:
    """The name of each alerting rule of a group, unique within the group.

    A unique alert name is its own name (so state persisted before two rules shared a name is
    found again). Rules sharing an alert name are told apart by the static labels in which they
    differ (``HighLatency{severity="critical"}``) and, where those are the same too, by their
    position among the rules of that name (``HighLatency#2``).
    """
    by_alert: dict[str, list[int]] = {}
    for index, rule in enumerate(rules):
        by_alert.setdefault(rule.alert, []).append(index)
    names = [rule.alert for rule in rules]
    for alert, indices in by_alert.items():
        if len(indices) < 2:
            continue
        keys = sorted({k for i in indices for k in rules[i].labels})
        differing = [k for k in keys if len({rules[i].labels.get(k) for i in indices}) > 1]
        for ordinal, index in enumerate(indices, start=1):
            shown = ",".join(f'{k}="{rules[index].labels.get(k, "")}"' for k in differing)
            names[index] = f"{alert}{{{shown}}}" if shown else f"{alert}#{ordinal}"
        if len({names[i] for i in indices}) < len(indices):
            for ordinal, index in enumerate(indices, start=1):
                names[index] = f"{alert}#{ordinal}"
    return names


class RuleCache:
    """Mutable: what one evaluation of a rule keeps for the next evaluation of the same rule.

    The same series come back every tick, and building their label sets and hashes is a good
    part of the per-series cost, so the names of the last evaluation's series are kept here.
    It is separate from :class:`RuleContext` so that the context stays a plain value and this
    state has one owner: whoever holds the rule across ticks (the engine, one cache per rule
    context, replaced with the contexts on reload) creates it, passes it to every
    :func:`evaluate_rule` of that context and to nothing else. Only ``evaluate_rule`` reads
    and writes it, so it needs no lock of its own: the engine never evaluates a group twice at once.
    """

    __slots__ = ("_names", "stacks")

    def __init__(self) -> None:
        self._names: dict[Labels, _Names] = {}
        self.stacks = batch.Stacks()
        """The stacked baselines of the rule's series (``engine.batch``), kept across ticks."""

    def names(self, queried: Labels) -> _Names | None:
        """The names of a series the last evaluation saw, by its labels as queried."""
        return self._names.get(queried)

    def keep(self, names: dict[Labels, _Names]) -> None:
        """Keep the names of this evaluation's series (only those) for the next one."""
        self._names = names


@dataclass(frozen=True)
class RuleResult:
    """Everything one evaluation of one rule produced."""

    alerts: tuple[Alert, ...]
    forget: tuple[str, ...]
    verdicts: Mapping[str, Verdict]
    health: RuleHealth
    source_error: SourceError | None = None
    series: Mapping[str, Labels] = field(default_factory=dict)
    """Alert fingerprint -> labels of its series as the query returned them (without ``__name__``)."""
    tiers: Mapping[str, str] = field(default_factory=dict)
    """Alert fingerprint -> the detector tier that judged the series at this tick (or why none did)."""


def _tail(verdict: Verdict, since: float) -> Verdict:
    """The verdict restricted to points after ``since`` (the trigger window)."""
    keep = verdict.timestamps > since
    if keep.all():
        return verdict
    scale = verdict.scale[keep] if verdict.scale is not None else None
    return Verdict(
        timestamps=verdict.timestamps[keep],
        values=verdict.values[keep],
        expected=verdict.expected[keep],
        lower=verdict.lower[keep],
        upper=verdict.upper[keep],
        scores=verdict.scores[keep],
        anomalous=verdict.anomalous[keep],
        tier=verdict.tier,
        scale=scale,
        reason=verdict.reason,
    )


def alert_labels(
    ctx: RuleContext, series_labels: Labels, rule_labels: Mapping[str, str] | None = None
) -> Labels:
    """Series labels plus group and rule labels plus ``alertname``, as Prometheus builds them.

    ``rule_labels`` are the rule's labels as rendered for this series when they are templates.
    """
    own = ctx.rule.labels if rule_labels is None else rule_labels
    return Labels({**series_labels, **ctx.group.labels, **own, "alertname": ctx.rule.alert})


def observe(
    ctx: RuleContext, series: Series, baselines: Baselines, now: float, *, labels: Labels | None = None
) -> tuple[Observation, Verdict | None]:
    """Judge one series: the observation for the state machine and the verdict behind it.

    ``labels`` are the series labels without ``__name__`` when the caller has them already.
    """
    labels = labels if labels is not None else series.labels.without("__name__")
    if ctx.baseline is None:
        # Prometheus: every series the expression returns at the evaluation time is active,
        # whatever its value (a NaN sample is a sample too).
        if not series.values.size:
            return Observation.absent(), None
        return Observation(alerts.Signal.ANOMALOUS, value=float(series.values[-1]), tier="threshold"), None
    in_window = series.timestamps > now - ctx.rule.trigger.window
    recent = series.values[in_window]
    if recent.size == 0 or np.isnan(recent).all():
        return Observation.nodata("no samples in the trigger window"), None
    return judge(ctx, series, baselines.detector(ctx.baseline, labels.fingerprint, now), now)


def judge(
    ctx: RuleContext, series: Series, detector: detect.Detector | None, now: float
) -> tuple[Observation, Verdict | None]:
    """Judge one series of a baseline rule with a value in its trigger window by ``detector``
    (the one the baseline cache gave for it at ``now``; None while it has no baseline)."""
    guard = ctx.rule.when
    window_start = now - ctx.rule.trigger.window
    in_window = series.timestamps > window_start
    recent = series.values[in_window]
    if detector is None:
        if guard is None:
            return Observation.nodata("learning the baseline", tier="none"), None
        values = recent[~np.isnan(recent)]
        held = np.array([guard.holds(float(v)) for v in values])
        fraction = float(held.mean())
        signal = alerts.Signal.ANOMALOUS if fraction >= ctx.rule.trigger.fraction else alerts.Signal.NORMAL
        return Observation(signal, value=float(values[-1]), fraction=fraction, tier="static"), None
    if detector.lookback == 0.0 and not detector.reason_from_points:
        # Such a detector judges each point on its own and gives no reason drawn from the
        # points, so judging only the window's points gives the same verdict as judging
        # everything and cutting it to the window.
        verdict = detector.evaluate(series.timestamps[in_window], recent)
    else:
        verdict = _tail(detector.evaluate(series.timestamps, series.values), window_start)
    holds = guard.holds(verdict.value) if guard is not None else True
    return Observation.from_verdict(verdict, ctx.rule.trigger.fraction, guard=holds), verdict


Query = Callable[[str], list[tuple[Mapping[str, str], float]]]
"""PromQL at render time, for Go templates' ``query`` function."""


def _annotate(ctx: RuleContext, alert: Alert, query: Query, series_labels: Labels | None) -> Alert:
    if alert.state in (AlertState.INACTIVE,) or not ctx.rule.annotations:
        return alert
    context = {**codec.template_context(alert), **ctx.externals}
    if ctx.dialect == "go":
        # Prometheus' $labels are the series' labels as the query returned them (``__name__``
        # included, though the alert drops it), without the rule's labels or alertname.
        added = {"alertname", *ctx.group.labels, *ctx.rule.labels}
        own = series_labels if series_labels is not None else alert.labels
        context["labels"] = {k: v for k, v in own.items() if series_labels is not None or k not in added}
    rendered = {
        k: templates.render(v, context, dialect=ctx.dialect, query=query)
        for k, v in ctx.rule.annotations.items()
    }
    return replace(alert, annotations=rendered)


def _rendered_labels(
    ctx: RuleContext, series_labels: Labels, obs: Observation, query: Query
) -> dict[str, str]:
    """The rule's labels rendered for one series, with what Prometheus gives label templates:
    the series labels and the value (and, here, the observation's other numbers)."""
    context: dict[str, object] = {
        "labels": dict(series_labels),
        **{name: getattr(obs, name) for name in codec.NUMBERS},
        "since": None,
        "tier": obs.tier,
        "rule": ctx.name,
        **ctx.externals,
    }
    return {
        k: templates.render(v, context, dialect=ctx.dialect, query=query) for k, v in ctx.rule.labels.items()
    }


def _query(source: Source, at: float) -> Query:
    def run(expr: str) -> list[tuple[Mapping[str, str], float]]:
        return [(dict(s.labels), float(s.values[-1])) for s in source.query(expr, at) if s.values.size]

    return run


def evaluate_rule(
    ctx: RuleContext,
    source: Source,
    baselines: Baselines,
    previous: Mapping[str, Alert],
    now: float,
    *,
    cache: RuleCache | None = None,
    fetched: Fetched | None = None,
    stacked: bool = True,
) -> RuleResult:
    """Evaluate ``ctx`` at ``now``; ``previous`` maps alert fingerprints to the last step's records.

    ``cache`` is the rule's :class:`RuleCache`, used and updated when given; it only saves work,
    the result is the same without it. The rule's data is read as of ``now`` minus the group's
    ``query_offset``; the alerts step at ``now``. ``fetched`` is that data when the caller has
    already asked for it (:func:`fetch`, e.g. for several rules at once); else it is asked here.
    A baseline rule's series are judged together (``engine.batch``); ``stacked=False`` judges
    them one by one with :func:`observe`, which gives the same result (for tests and benchmarks).
    """
    started = time.perf_counter()
    at = now - ctx.group.query_offset
    by_fingerprint: dict[str, tuple[Labels, Observation | int]] = {}
    series_of: dict[str, Labels] = {}
    tiers: dict[str, str] = {}
    verdicts: dict[str, Verdict] | batch.Verdicts = {}
    source_error: SourceError | None = None
    error = ""
    answer = fetch(ctx, source, now) if fetched is None else fetched
    if isinstance(answer, SourceError):
        source_error, error, answer = answer, f"{answer.kind}: {answer}", []
    names: dict[Labels, _Names] = {}
    queried: dict[str, Labels] = {}
    query = _query(source, at)
    templated = ctx.templated_labels
    judgement: batch.Judgement | None = None
    if stacked and ctx.baseline is not None:
        known = [cache.names(s.labels) if cache is not None and not templated else None for s in answer]
        own_labels = [
            named[0] if named is not None else series.labels.without("__name__")
            for series, named in zip(answer, known, strict=True)
        ]
        judgement = batch.judge(
            answer,
            own_labels,
            spec=ctx.baseline,
            baselines=baselines,
            at=at,
            window=ctx.rule.trigger.window,
            fraction=ctx.rule.trigger.fraction,
            guard=ctx.rule.when,
            single=lambda i, detector: judge(ctx, answer[i], detector, at),
            stacks=cache.stacks if cache is not None else None,
            rule=ctx.name,
        )
        verdicts = batch.Verdicts(judgement)
        for i, series in enumerate(answer):
            named, series_labels = known[i], own_labels[i]
            seen = judgement.observations[i]
            if named is None:
                obs = seen if seen is not None else judgement.observation(i)
                own = _rendered_labels(ctx, series_labels, obs, query) if templated else None
                named = _names(ctx, series.labels, own)
            names[series.labels] = named
            _, labels, fingerprint = named
            queried[fingerprint] = series.labels
            # A normal series is kept as its position: its observation is built only if stepped.
            by_fingerprint[fingerprint] = (labels, seen if seen is not None else i)
            series_of[fingerprint] = series_labels
            tiers[fingerprint] = judgement.tiers[i]
            if judgement.has_verdict[i]:
                verdicts.add(fingerprint, i)
    else:
        plain: dict[str, Verdict] = {}
        verdicts = plain
        for series in answer:
            # Names of a rule with templated labels depend on the value: built anew every time.
            named = cache.names(series.labels) if cache is not None and not templated else None
            series_labels = named[0] if named is not None else series.labels.without("__name__")
            try:
                obs, verdict = observe(ctx, series, baselines, at, labels=series_labels)
            except (AlerterError, ValueError, FloatingPointError) as exc:
                log.warning(
                    "series evaluation failed",
                    extra={"rule": ctx.name, "labels": repr(series_labels), "error": str(exc)},
                )
                obs, verdict = Observation.error(f"evaluation failed: {exc}"), None
            if named is None:
                own = _rendered_labels(ctx, series_labels, obs, query) if templated else None
                named = _names(ctx, series.labels, own)
            names[series.labels] = named
            _, labels, fingerprint = named
            queried[fingerprint] = series.labels
            by_fingerprint[fingerprint] = (labels, obs)
            series_of[fingerprint] = series_labels
            tiers[fingerprint] = obs.tier or obs.reason
            if verdict is not None:
                plain[fingerprint] = verdict
    if cache is not None:
        cache.keep(names)
    active = sum(1 for _, obs in by_fingerprint.values() if not isinstance(obs, int) and obs.anomalous)
    if ctx.group.limit and active > ctx.group.limit:
        # Prometheus fails the rule ("exceeded limit of 10 with 12 alerts"). It also forgets the
        # rule's alerts; here they keep their state, as on any failed evaluation, so a firing
        # alert is never dropped without its resolve.
        error = f"exceeded limit of {ctx.group.limit} with {active} alerts"
        by_fingerprint = {
            fp: (labels, Observation.error(error)) for fp, (labels, _) in by_fingerprint.items()
        }
    for fingerprint, prev in previous.items():
        if fingerprint not in by_fingerprint:
            by_fingerprint[fingerprint] = (
                prev.labels,
                Observation.error(error) if error else Observation.absent(),
            )
    out: list[Alert] = []
    forget: list[str] = []
    finite_now = math.isfinite(now)  # else alerts.step refuses it, as it must
    for fingerprint, (labels, entry) in by_fingerprint.items():
        if isinstance(entry, int):
            if fingerprint not in previous and finite_now:
                continue  # normal, with no alert behind it: see below
            assert judgement is not None
            entry = judgement.observation(entry)
        obs = entry
        if obs.signal is alerts.Signal.NORMAL and fingerprint not in previous and finite_now:
            # A normal series with no alert behind it steps to a fresh inactive alert with no
            # history, which is forgotten at once: skip building it (most series, most ticks).
            continue
        record = alerts.step(
            previous.get(fingerprint),
            obs,
            now,
            ctx.lifecycle,
            rule=ctx.name,
            group=ctx.group.name,
            labels=labels,
        )
        if alerts.is_forgettable(record):
            if fingerprint in previous:
                forget.append(fingerprint)
            continue
        out.append(_annotate(ctx, record, query, queried.get(fingerprint)))
    health = RuleHealth(
        group=ctx.group.name,
        rule=ctx.name,
        last_eval=now,
        duration=time.perf_counter() - started,
        last_error=error,
        last_error_at=now if error else None,
        digest=ctx.digest,
    )
    return RuleResult(tuple(out), tuple(forget), verdicts, health, source_error, series_of, tiers)


Fetched = list[Series] | SourceError
"""What a rule's query returned: its series, or the error that stopped it."""


def fetch(ctx: RuleContext, source: Source, now: float) -> Fetched:
    """The data :func:`evaluate_rule` judges at ``now``; a source error is returned, not raised,
    so that fetches can run concurrently and each rule still meets its own error."""
    try:
        return _fetch(ctx, source, now - ctx.group.query_offset)
    except SourceError as exc:
        return exc


def _fetch(ctx: RuleContext, source: Source, at: float) -> list[Series]:
    """The rule's data as of ``at``: the recent window of a baseline rule; for a threshold rule,
    ``expr`` at ``at`` exactly, as Prometheus evaluates an alerting rule.

    A range query is answered on the grid of multiples of its step, so it serves a threshold
    rule only when ``at`` is on the grid (there it equals the instant query, and a backtest
    answers it from its one fetch); the scheduler's ticks are not, so they ask an instant query.
    """
    interval = ctx.group.interval
    if ctx.baseline is not None:
        return source.query_range(ctx.rule.expr, at - ctx.window, at, interval)
    if abs(at / interval - round(at / interval)) * interval < 1e-6:
        return source.query_range(ctx.rule.expr, at, at, interval)
    return source.query(ctx.rule.expr, at)


def _names(ctx: RuleContext, queried: Labels, rule_labels: Mapping[str, str] | None = None) -> _Names:
    series_labels = queried.without("__name__")
    labels = alert_labels(ctx, series_labels, rule_labels)
    return series_labels, labels, alert_fingerprint(ctx, labels)


def alert_fingerprint(ctx: RuleContext, labels: Labels) -> str:
    """The fingerprint of the alert a rule raises for these (alert) labels; equals ``Alert.fingerprint``."""
    return labels.with_(__rule__=ctx.name, __group__=ctx.group.name).fingerprint
