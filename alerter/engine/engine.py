"""The engine: one tick of a rule group, reloads that carry state, and the state it holds.

The scheduler calls ``tick(group, now)``; everything else (backtests, tests) can call it with any
``now``. A tick evaluates each rule of the group (a failing rule does not stop the others),
saves the group's alerts and rule health in one store transaction, hands the alerts to the
``sink`` (the notification pipeline), and steps the engine's own ``AlerterSourceDown`` alert.
Each piece of mutable state here has one owner: this object, behind one lock per group.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Protocol

from alerter.config import Bundle, RuleGroup
from alerter.core import alerts
from alerter.core.alerts import Lifecycle, Observation, Signal
from alerter.core.model import Alert, AlertState, Labels, Verdict
from alerter.engine.baselines import Baselines
from alerter.engine.batch import last_bands
from alerter.engine.evaluate import (
    Fetched,
    RuleCache,
    RuleContext,
    RuleResult,
    alert_fingerprint,
    alert_labels,
    evaluate_rule,
    fetch,
    rule_names,
)
from alerter.engine.metrics import EngineMetrics
from alerter.source import Source
from alerter.store.sqlite import RuleHealth, Store

log = logging.getLogger(__name__)

META_GROUP = "alerter"
SOURCE_DOWN = "AlerterSourceDown"
QUERY_CONCURRENCY = 4
"""Rule queries of one group in flight at once: enough to overlap Prometheus' evaluation of
them, few enough not to load it with a burst as large as the group."""
OUTAGE_KINDS = frozenset({"unreachable", "timeout", "server_error", "auth", "malformed"})
"""Source errors that mean the metrics source is down (not that one rule's query is wrong)."""

Sink = Callable[[Sequence[Alert], float], None]


class Owned(Protocol):
    """Whether this replica still owns the group being ticked, judged when called: the
    scheduler binds ``cluster.sharding.Sharding.owns`` to the group and its clock."""

    @property
    def replica(self) -> str:
        """This replica's id, for the log of a dropped tick."""
        ...

    def __call__(self) -> bool: ...


@dataclass(frozen=True)
class SeriesStatus:
    """One series of a rule at its last evaluation, for the status API."""

    labels: Labels
    tier: str
    state: AlertState


@dataclass(frozen=True)
class GroupPlan:
    """A rule group as the scheduler sees it."""

    name: str
    interval: float
    rules: tuple[RuleContext, ...]

    @property
    def load(self) -> int:
        """Its rule evaluations an hour: what the replicas split the groups by (``cluster.sharding``).

        From the configuration alone, so every replica reading the same rule files computes the
        same loads (series counts would follow the cost closer, but each replica sees only its own).
        """
        return round(len(self.rules) * 3600 / self.interval)


def group_names(bundle: Bundle) -> list[list[str]]:
    """The name each group is scheduled, stored and shown under, file by file.

    Prometheus scopes a group to its file, so two files may both hold a group ``vllm``. A name
    that only one file uses is the group's own; a name several files use becomes
    ``<file>;<name>``, the key Prometheus itself gives a group (``rules.GroupKey``).
    """
    files: dict[str, set[str]] = {}
    for loaded in bundle.rule_files:
        for group in loaded.rules.groups:
            files.setdefault(group.name, set()).add(loaded.path)
    return [
        [g.name if len(files[g.name]) == 1 else f"{loaded.path};{g.name}" for g in loaded.rules.groups]
        for loaded in bundle.rule_files
    ]


def plan(bundle: Bundle) -> dict[str, GroupPlan]:
    """Rule contexts of every group in a validated bundle (its alerting rules; Prometheus
    evaluates the recording rules)."""
    groups: dict[str, GroupPlan] = {}
    cfg = bundle.config
    externals: dict[str, object] = {
        "external_labels": dict(cfg.external_labels) if cfg is not None else {},
        "external_url": (cfg.server.external_url or "") if cfg is not None else "",
    }
    for loaded, names in zip(bundle.rule_files, group_names(bundle), strict=True):
        for group, name in zip(loaded.rules.groups, names, strict=True):
            scoped = group if name == group.name else group.model_copy(update={"name": name})
            rules = scoped.alerting
            groups[name] = GroupPlan(
                name,
                scoped.interval,
                tuple(
                    RuleContext.build(scoped, r, n, externals=externals)
                    for r, n in zip(rules, rule_names(rules), strict=True)
                ),
            )
    return groups


class Engine:
    """Alert state of every rule, evaluated group by group."""

    def __init__(
        self,
        bundle: Bundle,
        source: Source,
        store: Store,
        baselines: Baselines,
        *,
        metrics: EngineMetrics | None = None,
        sink: Sink | None = None,
        now: float,
        query_threads: int = 1,
        load_alerts: bool = True,
    ) -> None:
        """``query_threads`` > 1 sends a group's rule queries concurrently (the app uses
        ``QUERY_CONCURRENCY``); 1 asks them one by one on the ticking thread, for sources that
        answer from memory (backtests, rule tests) where threads would only add overhead.
        ``load_alerts=False`` starts with no group's alerts: a replica sharing the groups with
        others takes each one's up from the store (``adopt``) when it comes to own it."""
        self.source = source
        self.store = store
        self.baselines = baselines
        self.metrics = metrics or EngineMetrics()
        self.sink = sink
        self._lock = threading.RLock()
        self._group_locks: dict[str, threading.Lock] = {}
        self._alerts: dict[tuple[str, str], dict[str, Alert]] = {}
        self._health: dict[tuple[str, str], RuleHealth] = store.load_rule_health()
        self._failing: dict[str, str] = {}
        self._series: dict[tuple[str, str], dict[str, SeriesStatus]] = {}
        self._meta: Alert | None = None
        self._meta_life = Lifecycle(for_=60.0, keep_firing_for=0.0, flap_max_transitions=0)
        self.groups: dict[str, GroupPlan] = {}
        self._query_threads = max(1, query_threads)
        self._queries: ThreadPoolExecutor | None = None
        """Threads sending a group's rule queries concurrently; created at the first such tick."""
        self._caches: dict[str, dict[str, RuleCache]] = {}
        """Group -> rule -> the evaluation cache of that rule's context in ``groups``; replaced
        together with ``groups``, so a cache never outlives its context."""
        self.metrics.watch_alerts(self.counts)
        self._install(bundle, store.load_alerts() if load_alerts else [], now)

    def _install(self, bundle: Bundle, current: Sequence[Alert], now: float) -> None:
        """Switch to ``bundle``, carrying alert state of unchanged rules (restart and reload)."""
        groups = plan(bundle)
        old = {key: h.digest for key, h in self._health.items() if h.digest}
        new = {ctx.key: ctx.digest for g in groups.values() for ctx in g.rules}
        carried = alerts.carry_over([a for a in current if a.group != META_GROUP], old, new, now)
        by_rule: dict[tuple[str, str], dict[str, Alert]] = {}
        for record in (*carried.kept, *(a for a in carried.ended if (a.group, a.rule) in new)):
            by_rule.setdefault((record.group, record.rule), {})[record.fingerprint] = record
        meta = [a for a in current if a.group == META_GROUP]
        with self._lock:
            self.bundle = bundle
            self.groups = groups
            self._caches = {name: {ctx.name: RuleCache() for ctx in g.rules} for name, g in groups.items()}
            self._alerts = by_rule
            self._meta = meta[0] if meta else self._meta
            for name in groups:
                self._group_locks.setdefault(name, threading.Lock())
            self._health = {k: h for k, h in self._health.items() if k in new}
        removed = [a for a in carried.ended if (a.group, a.rule) not in new]
        dropped = [a.fingerprint for a in carried.dropped] + [a.fingerprint for a in removed]
        with self.store.transaction():
            self.store.save_alerts([*carried.kept, *carried.ended], drop=dropped)
            self.store.save_rule_health([h for h in self._health.values()])
            self.store.delete_rule_health([k for k in old if k not in new])
        self.baselines.forget({ctx.baseline.key for g in groups.values() for ctx in g.rules if ctx.baseline})
        self.metrics.bands.retain(set(new))
        if carried.ended and self.sink is not None:
            self.sink(list(carried.ended), now)
        if removed:
            self.store.delete_alerts([a.fingerprint for a in removed])

    def reload(self, bundle: Bundle, now: float) -> None:
        """Switch to a new validated configuration; unchanged rules keep their alerts."""
        with self._lock:
            current = [a for rule in self._alerts.values() for a in rule.values()]
            if self._meta is not None:
                current.append(self._meta)
        self._install(bundle, current, now)

    def adopt(self, group: str, now: float) -> None:
        """Take ``group`` up from the store: its alerts as its previous owner last saved them.

        A replica that comes to own a group (``cluster.sharding``) continues the same alerts, so
        a firing alert stays firing instead of being raised, and announced, again. Alerts of a
        rule whose definition differs from the one that produced them end as on a reload
        (``core.alerts.carry_over``), judged by the digests saved with the rules' health.
        """
        with self._lock:
            plan_ = self.groups.get(group)
            lock = self._group_locks.get(group)
        if plan_ is None or lock is None:
            return
        with lock:
            stored = self.store.load_alerts(group=group)
            health = {k: h for k, h in self.store.load_rule_health().items() if k[0] == group}
            old = {key: h.digest for key, h in health.items() if h.digest}
            new = {ctx.key: ctx.digest for ctx in plan_.rules}
            carried = alerts.carry_over(stored, old, new, now)
            by_rule: dict[tuple[str, str], dict[str, Alert]] = {key: {} for key in new}
            ended = [a for a in carried.ended if (a.group, a.rule) in new]
            for record in (*carried.kept, *ended):
                by_rule[(record.group, record.rule)][record.fingerprint] = record
            gone = [a.fingerprint for a in carried.dropped]
            gone += [a.fingerprint for a in carried.ended if (a.group, a.rule) not in new]
            with self.store.transaction():
                self.store.save_alerts([*carried.kept, *ended], drop=gone)
            with self._lock:
                self._alerts.update(by_rule)
                self._health.update({k: h for k, h in health.items() if k in new})
        if ended and self.sink is not None:
            self.sink(ended, now)

    def release(self, group: str) -> None:
        """Forget ``group``'s alerts in memory: another replica owns it now (the store keeps them)."""
        with self._lock:
            plan_ = self.groups.get(group)
            lock = self._group_locks.get(group)
        if plan_ is None or lock is None:
            return
        with lock, self._lock:  # a tick in flight finishes first, so its results are not left behind
            for ctx in plan_.rules:
                self._alerts.pop(ctx.key, None)
                self._series.pop(ctx.key, None)
            self._failing.pop(group, None)

    def tick(self, group: str, now: float, *, owned: Owned | None = None) -> list[RuleResult]:
        """Evaluate every rule of ``group`` at ``now`` and persist the outcome.

        ``owned`` (with the cluster on) is asked again once the results are ready, right before
        they are written and handed to the sink: an evaluation can outlast this replica's
        ownership (a slow Prometheus, up to its timeout), and by then another replica may have
        loaded the group from the store and ticked it. A tick no longer owned keeps nothing
        (``_fence``) and returns no results, as for a group this engine does not know.
        """
        with self._lock:
            plan_ = self.groups.get(group)
            lock = self._group_locks.get(group)
            caches = self._caches.get(group, {})
        if plan_ is None or lock is None:
            return []
        with lock:
            return self._tick(plan_, caches, now, owned)

    def _tick(
        self, group: GroupPlan, caches: Mapping[str, RuleCache], now: float, owned: Owned | None = None
    ) -> list[RuleResult]:
        results: list[RuleResult] = []
        with self.metrics.duration.labels(group.name).time():
            answers = self._fetch_all(group, now)
            for ctx, answer in zip(group.rules, answers, strict=True):
                with self._lock:
                    previous = dict(self._alerts.get(ctx.key, {}))
                result = evaluate_rule(
                    ctx,
                    self.source,
                    self.baselines,
                    previous,
                    now,
                    cache=caches.get(ctx.name),
                    fetched=answer,
                )
                results.append(result)
        if owned is not None and not owned():
            self._fence(group.name, owned.replica, now)
            return []
        outage = next(
            (r.source_error for r in results if r.source_error and r.source_error.kind in OUTAGE_KINDS), None
        )
        meta = self._step_meta(group.name, f"{outage.kind}: {outage}" if outage else "", now)
        changed = [a for r in results for a in r.alerts]
        health = [self._merged_health(ctx, r) for ctx, r in zip(group.rules, results, strict=True)]
        # Durable first, visible second: the API never shows a state that a crash would undo.
        with self.store.transaction():
            self.store.save_alerts(
                [*changed, *([meta] if meta else [])], drop=[f for r in results for f in r.forget]
            )
            self.store.save_rule_health(health)
        for ctx, result, rule_health in zip(group.rules, results, health, strict=True):
            self._record(ctx, result, rule_health)
        if self.sink is not None:
            self.sink([*changed, *([meta] if meta else [])], now)
        return results

    def _fence(self, group: str, replica: str, now: float) -> None:
        """Drop a tick that finished after this replica stopped owning ``group``.

        Nothing of it is written, sent, kept in memory or counted into the source-outage alert:
        the group's new owner loads the alerts from the store as they were before this tick
        (``adopt``) and evaluates the same data itself, so nothing is lost and nothing is told
        twice. Checked just before the write, the fence holds while the write lands within the
        Lease's margin (duration minus renew deadline) of the check, as no other replica can own
        the group sooner.
        """
        self.metrics.fenced.labels(group).inc()
        log.warning(
            "tick dropped: this replica no longer owns the rule group",
            extra={"group": group, "replica": replica, "at": now},
        )

    def _merged_health(self, ctx: RuleContext, result: RuleResult) -> RuleHealth:
        """The rule's health after ``result``: a success keeps the time of the last error."""
        health = result.health
        with self._lock:
            before = self._health.get(ctx.key)
        if health.last_error_at is None and before is not None and before.last_error_at is not None:
            health = replace(health, last_error_at=before.last_error_at, last_error="")
        return health

    def _record(self, ctx: RuleContext, result: RuleResult, health: RuleHealth) -> None:
        """Publish a persisted evaluation to memory, metrics and the baselines' exclusions."""
        # Read from the batch evaluation's arrays: no verdict is built for the export.
        bands = {
            _band_key(result.series[fp]): band
            for fp, band in last_bands(result.verdicts).items()
            if fp in result.series
        }
        by_fp = {a.fingerprint: a for a in result.alerts}
        with self._lock:
            self._alerts[ctx.key] = by_fp
            self._health[ctx.key] = health
            self._series[ctx.key] = {
                fp: SeriesStatus(
                    labels, result.tiers.get(fp, ""), by_fp[fp].state if fp in by_fp else AlertState.INACTIVE
                )
                for fp, labels in result.series.items()
            }
        self.metrics.bands.update(ctx.group.name, ctx.name, bands)
        self.metrics.evaluations.labels(ctx.group.name, ctx.name).inc()
        if result.health.last_error:
            reason = result.source_error.kind if result.source_error else "error"
            self.metrics.failures.labels(ctx.group.name, ctx.name, reason).inc()
        # Ended incidents are kept out of later training. A period still firing is not: if it
        # lasts, it is a level shift the detector must be able to adopt (``adopt_after``).
        for alert in result.alerts:
            if (
                ctx.baseline is not None
                and alert.state is AlertState.RESOLVED
                and alert.active_at is not None
                and alert.resolved_at is not None
            ):
                series = result.series.get(alert.fingerprint)
                if series is not None:
                    self.baselines.note_firing(
                        ctx.baseline.key, series.fingerprint, alert.active_at, alert.resolved_at
                    )

    def _step_meta(self, group: str, outage: str, now: float) -> Alert | None:
        """Step ``AlerterSourceDown``: firing while any group's queries fail because the source is down."""
        with self._lock:
            was_down = bool(self._failing)
            if outage:
                self._failing[group] = outage
            else:
                # One source serves every group: any group's successful query proves it is back,
                # so a group on a longer interval must not keep the outage open with a stale error.
                self._failing.clear()
            if self._failing and not was_down:
                log.warning("source outage started", extra={"group": group, "error": outage})
            elif was_down and not self._failing:
                log.warning("source outage ended", extra={"group": group})
            if not self._failing and self._meta is None:
                return None
            reason = "; ".join(f"{g}: {why}" for g, why in sorted(self._failing.items()))
            obs = (
                Observation(Signal.ANOMALOUS, value=float(len(self._failing)), reason=reason, tier="engine")
                if self._failing
                else Observation(Signal.NORMAL, value=0.0, tier="engine")
            )
            labels = Labels(alertname=SOURCE_DOWN, severity="page")
            meta = alerts.step(
                self._meta, obs, now, self._meta_life, rule=SOURCE_DOWN, group=META_GROUP, labels=labels
            )
            if meta.state is AlertState.FIRING:
                meta = _with_summary(meta, reason)
            self._meta = None if alerts.is_forgettable(meta) else meta
            self.metrics.source_up.set(0 if self._failing else 1)
            return meta

    def _fetch_all(self, group: GroupPlan, now: float) -> list[Fetched | None]:
        """Every rule's query of a group, at most ``query_threads`` in flight at once.

        The queries of a group are independent and most of their time is Prometheus evaluating
        them, so they are sent together rather than one after another; judging stays in rule
        order on the ticking thread. A group of one rule fetches inline (None: ask in place).
        """
        if len(group.rules) < 2:
            return [None] * len(group.rules)
        with self._lock:
            if self._queries is None:
                self._queries = ThreadPoolExecutor(
                    max_workers=QUERY_CONCURRENCY, thread_name_prefix="rule-query"
                )
            pool = self._queries
        futures = [pool.submit(fetch, ctx, self.source, now) for ctx in group.rules]
        return [f.result() for f in futures]

    def close(self) -> None:
        """Stop the query threads (the app calls it after the scheduler has stopped ticking)."""
        with self._lock:
            pool, self._queries = self._queries, None
        if pool is not None:
            pool.shutdown(wait=True)

    def context(self, group: str, rule: str) -> RuleContext | None:
        with self._lock:
            plan_ = self.groups.get(group)
        return next((c for c in plan_.rules if c.name == rule), None) if plan_ else None

    def remediation_candidates(self) -> list[tuple[Alert, list[str]]]:
        """Firing and resolved alerts whose rule names remediation policies, with those names."""
        out = []
        for alert in self.alerts():
            ctx = self.context(alert.group, alert.rule)
            if (
                ctx is not None
                and ctx.rule.remediate
                and alert.state in (AlertState.FIRING, AlertState.RESOLVED)
            ):
                out.append((alert, list(ctx.rule.remediate)))
        return out

    def recent_verdict(self, alert: Alert, now: float, span: float) -> Verdict | None:
        """The alert's series over the last ``span`` seconds judged by its baseline (for charts),
        with the detector's ``lookback`` before them (a burn rate's longest window, a forecast's
        budget period): without it the first points' windows are cut short and judged unlike a
        tick judges them. At most about 10,000 points (Prometheus refuses 11,000)."""
        ctx = self.context(alert.group, alert.rule)
        if ctx is None or ctx.baseline is None:
            return None  # a threshold rule has no baseline to judge against
        start = now - span - ctx.lookback
        step = max(ctx.group.interval, span / 720, (now - start) / 10_000)
        for series in self.source.query_range(ctx.rule.expr, start, now, step):
            labels = series.labels.without("__name__")
            if alert_fingerprint(ctx, alert_labels(ctx, labels)) != alert.fingerprint:
                continue
            detector = self.baselines.detector(ctx.baseline, labels.fingerprint, now)
            return detector.evaluate(series.timestamps, series.values) if detector is not None else None
        return None

    # -- read-only views for the HTTP API ------------------------------------------------

    def alerts(self) -> list[Alert]:
        with self._lock:
            out = [a for rule in self._alerts.values() for a in rule.values()]
            if self._meta is not None:
                out.append(self._meta)
        return sorted(out, key=lambda a: (a.group, a.rule, a.fingerprint))

    def counts(self) -> Mapping[AlertState, int]:
        counts: dict[AlertState, int] = {}
        for alert in self.alerts():
            counts[alert.state] = counts.get(alert.state, 0) + 1
        return counts

    def series(self, key: tuple[str, str]) -> list[SeriesStatus]:
        """The series a rule's last evaluation saw, with the tier that judged each."""
        with self._lock:
            return list(self._series.get(key, {}).values())

    def health(self) -> dict[tuple[str, str], RuleHealth]:
        with self._lock:
            return dict(self._health)

    def group_of(self, name: str) -> RuleGroup | None:
        plan_ = self.groups.get(name)
        return plan_.rules[0].group if plan_ and plan_.rules else None


@functools.lru_cache(maxsize=65_536)
def _band_key(labels: Labels) -> tuple[tuple[str, str], ...]:
    """The label pairs keying a series' band gauge; the same series come back every tick."""
    return tuple(sorted(labels.items()))


def _with_summary(meta: Alert, reason: str) -> Alert:
    return replace(
        meta,
        annotations={
            "summary": "alerter cannot query its metrics source; rules are in error and no alert resolves",
            "description": reason,
        },
    )
