"""The engine's own metrics, exposed on ``/metrics``.

Owned by the app; the engine, scheduler and baseline cache record into it. Besides health
(evaluations, durations, failures, alerts by state, fits, missed ticks, reloads) it exports the
baselines themselves as ``alerter_baseline{alertname, <series labels>, bound}`` so Grafana can
draw the expected band next to the raw series.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerter.core.model import AlertState

Band = tuple[float, float, float]


class BandCollector(Collector):
    """Latest expected/lower/upper per (rule, series), replaced after every evaluation."""

    def __init__(self) -> None:
        self._bands: dict[tuple[str, str], dict[tuple[tuple[str, str], ...], Band]] = {}
        self._lock = threading.Lock()

    def update(self, group: str, rule: str, bands: Mapping[tuple[tuple[str, str], ...], Band]) -> None:
        with self._lock:
            self._bands[(group, rule)] = dict(bands)

    def retain(self, keys: set[tuple[str, str]]) -> None:
        with self._lock:
            for key in [k for k in self._bands if k not in keys]:
                del self._bands[key]

    def collect(self) -> Iterator[Metric]:
        metric = Metric(
            "alerter_baseline", "Learned band of each evaluated series (expected, lower, upper).", "gauge"
        )
        with self._lock:
            snapshot = {k: dict(v) for k, v in self._bands.items()}
        for (group, rule), bands in sorted(snapshot.items()):
            for labels, values in bands.items():
                for bound, value in zip(("expected", "lower", "upper"), values, strict=True):
                    if math.isfinite(value):
                        names = {**dict(labels), "alertname": rule, "rule_group": group, "bound": bound}
                        metric.add_sample("alerter_baseline", names, value)
        yield metric


class AlertsCollector(Collector):
    """``alerter_alerts{state}`` computed at scrape time from the engine's counts."""

    def __init__(self, counts: Callable[[], Mapping[AlertState, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("alerter_alerts", "Alerts held by the engine, by state.", labels=["state"])
        counts = self._counts()
        for state in AlertState:
            family.add_metric([state.value], float(counts.get(state, 0)))
        yield family


class EngineMetrics:
    """Every metric of one engine, on its own registry (so tests can build several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._watched: dict[str, Gauge] = {}
        r = self.registry
        self.evaluations = Counter(
            "alerter_rule_evaluations", "Rule evaluations.", ["rule_group", "alertname"], registry=r
        )
        self.failures = Counter(
            "alerter_rule_evaluation_failures",
            "Failed rule evaluations, by reason.",
            ["rule_group", "alertname", "reason"],
            registry=r,
        )
        self.duration = Histogram(
            "alerter_group_evaluation_duration_seconds",
            "Wall time of one tick of a rule group.",
            ["rule_group"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.missed = Counter(
            "alerter_group_missed_ticks",
            "Ticks skipped because the previous one still ran.",
            ["rule_group"],
            registry=r,
        )
        self.fit_seconds = Histogram(
            "alerter_baseline_fit_seconds",
            "Time to fit the baselines of one rule.",
            registry=r,
            buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 120, 300),
        )
        self.fitted_series = Counter("alerter_baseline_fits", "Series baselines fitted.", registry=r)
        self.reloads = Counter(
            "alerter_config_reloads", "Configuration reload attempts, by result.", ["result"], registry=r
        )
        self.reload_ok = Gauge(
            "alerter_config_last_reload_successful", "1 when the last reload succeeded.", registry=r
        )
        self.reload_ok.set(1)
        self.source_up = Gauge(
            "alerter_source_up", "1 when the last query to the metrics source succeeded.", registry=r
        )
        self.source_up.set(1)
        self.notifications = Counter(
            "alerter_notifications",
            "Notification outbox results (sent, retrying, failed, muted).",
            ["result"],
            registry=r,
        )
        self.remediation = Counter(
            "alerter_remediation_decisions", "Remediation decisions, by kind.", ["decision"], registry=r
        )
        self.bands = BandCollector()
        r.register(self.bands)

    def watch_alerts(self, counts: Callable[[], Mapping[AlertState, int]]) -> None:
        self.registry.register(AlertsCollector(counts))

    def watch(self, name: str, doc: str, read: Callable[[], float]) -> None:
        """A gauge read at scrape time (queue and outbox sizes owned by other components).

        Watching a name again replaces what it reads: a reload rebuilds its components, and
        a registry refuses the same metric twice.
        """
        gauge = self._watched.get(name)
        if gauge is None:
            gauge = self._watched[name] = Gauge(name, doc, registry=self.registry)
        gauge.set_function(read)
