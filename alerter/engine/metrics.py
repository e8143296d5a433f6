"""The engine's own metrics, exposed on ``/metrics``.

Owned by the app; the engine, scheduler and baseline cache record into it. Besides health
(evaluations, durations, failures, alerts by state, fits, missed and fenced ticks, reloads) it
exports the baselines themselves as ``alerter_baseline{alertname, <series labels>, bound}``, and
the value each band judged as ``alerter_observed{alertname, <series labels>}``, so a Grafana panel draws the
series inside its band from the engine's own numbers (the user need not repeat the rule's
expression); both families are rendered by ``BandCollector`` itself (see there) and appended to
the registry's output by ``EngineMetrics.exposition``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _untyped_go_float

from alerter.core.model import AlertState

Band = tuple[float, float, float, float]
"""(expected, lower, upper, value) at a verdict's last point with a value."""


_go_float = cast(Callable[[float], str], _untyped_go_float)
"""The library's float formatting (repr, Go's exponent from 1e7 up, +Inf, NaN), typed."""

LabelKey = tuple[tuple[str, str], ...]
BAND_NAME = "alerter_baseline"
BAND_HELP = "Learned band of each evaluated series (expected, lower, upper)."
BOUNDS = ("expected", "lower", "upper")
OBSERVED_NAME = "alerter_observed"
OBSERVED_HELP = "Value of each evaluated series at its last evaluation, as its band judged it."
_MARK = 'bound="expected"'


class _Samples(Collector):
    """A throwaway collector: lets ``generate_latest`` itself write the label text of new series."""

    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self._metric


class BandCollector(Collector):
    """Latest expected/lower/upper and value per (rule, series), replaced after every evaluation.

    Exported as ``alerter_baseline{<series labels>, alertname, rule_group, bound}`` (three
    samples per series) and ``alerter_observed{<series labels>, alertname, rule_group}`` (one):
    40,000 lines at 10,000 series. Formatting them through the client library's sample loop
    (sort, escape and join every label of every sample) cost about 0.6 s per scrape for the
    band alone at that size, so ``render`` writes both families itself: the label text of a
    series is rendered once, when the series first appears, by the library's own
    ``generate_latest`` (the same escaping, hence the same bytes), split around its ``bound``
    label and kept, with the observed family's text (the same labels without ``bound``) cut from
    it; a scrape only formats the four values with the library's ``floatToGoString``.
    ``collect`` still yields the families for a registry that holds them.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bands: dict[tuple[str, str], dict[LabelKey, Band]] = {}
        self._text: dict[tuple[str, str], dict[LabelKey, _Text]] = {}
        self._lock = threading.Lock()

    def update(self, group: str, rule: str, bands: Mapping[LabelKey, Band]) -> None:
        if not self.enabled:
            return
        with self._lock:
            known = self._text.get((group, rule), {})
        text = {key: known[key] for key in bands if key in known}
        fresh = [key for key in bands if key not in known]
        if fresh:
            text.update(_label_text(group, rule, fresh))
        with self._lock:
            self._bands[(group, rule)] = dict(bands)
            self._text[(group, rule)] = text

    def retain(self, keys: set[tuple[str, str]]) -> None:
        with self._lock:
            for key in [k for k in self._bands if k not in keys]:
                del self._bands[key]
                self._text.pop(key, None)

    def render(self) -> bytes:
        """Both families in the Prometheus text format 0.0.4, as ``generate_latest`` writes them."""
        with self._lock:
            snapshot = [(self._bands[k], self._text[k]) for k in sorted(self._bands)]
        out = [f"# HELP {BAND_NAME} {BAND_HELP}\n# TYPE {BAND_NAME} gauge\n"]
        for bands, text in snapshot:
            for key, values in bands.items():
                head, tail, _ = text[key]
                for bound, value in zip(BOUNDS, values[:3], strict=True):
                    if math.isfinite(value):
                        out.append(f'{head}bound="{bound}"{tail} {_go_float(value)}\n')
        out.append(f"# HELP {OBSERVED_NAME} {OBSERVED_HELP}\n# TYPE {OBSERVED_NAME} gauge\n")
        for bands, text in snapshot:
            for key, values in bands.items():
                if math.isfinite(values[3]):
                    out.append(f"{text[key][2]} {_go_float(values[3])}\n")
        return "".join(out).encode("utf-8")

    def collect(self) -> Iterator[Metric]:
        band = Metric(BAND_NAME, BAND_HELP, "gauge")
        observed = Metric(OBSERVED_NAME, OBSERVED_HELP, "gauge")
        with self._lock:
            snapshot = {k: dict(v) for k, v in self._bands.items()}
        for (group, rule), bands in sorted(snapshot.items()):
            for labels, values in bands.items():
                for bound, value in zip(BOUNDS, values[:3], strict=True):
                    if math.isfinite(value):
                        band.add_sample(BAND_NAME, _names(labels, group, rule, bound), value)
                if math.isfinite(values[3]):
                    observed.add_sample(OBSERVED_NAME, _names(labels, group, rule, None), values[3])
        yield band
        yield observed


_Text = tuple[str, str, str]
"""A series' band line up to and after its ``bound`` label, and its observed line up to the value."""


def _names(labels: LabelKey, group: str, rule: str, bound: str | None) -> dict[str, str]:
    """The labels of a sample; the observed family has no ``bound`` (not even a series' own)."""
    out = {**dict(labels), "alertname": rule, "rule_group": group}
    if bound is None:
        out.pop("bound", None)
    else:
        out["bound"] = bound
    return out


def _label_text(group: str, rule: str, keys: list[LabelKey]) -> dict[LabelKey, _Text]:
    """Each series' sample line up to and after its ``bound`` label, written by the library, and
    the observed family's line: the same sorted, escaped labels with ``bound`` cut out."""
    metric = Metric(BAND_NAME, BAND_HELP, "gauge")
    for key in keys:
        metric.add_sample(BAND_NAME, _names(key, group, rule, "expected"), 0.0)
    lines = generate_latest(_Samples(metric)).decode("utf-8").splitlines()[2:]
    out = {}
    for key, line in zip(keys, lines, strict=True):
        # A quote inside a label value is escaped, so the mark occurs once: as the label itself.
        at = line.index(_MARK)
        head, tail = line[:at], line[at + len(_MARK) : line.rindex(" ")]
        # ``alertname`` sorts before ``bound``, so a comma always precedes the mark.
        observed = OBSERVED_NAME + head[len(BAND_NAME) : -1] + tail
        out[key] = (head, tail, observed)
    return out


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

    def __init__(self, *, export_bands: bool = True) -> None:
        """``export_bands`` False leaves ``alerter_baseline`` and ``alerter_observed`` out of ``/metrics``."""
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
        self.fenced = Counter(
            "alerter_cluster_fenced_ticks",
            "Ticks whose results were dropped, unwritten and unsent, because this replica no longer "
            "owned the rule group when they were ready (with the cluster on).",
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
        self.false_pages = Counter(
            "alerter_false_pages",
            'Pages people confirmed were not incidents ("Not an incident" in Slack), by rule.',
            ["rule_group", "alertname"],
            registry=r,
        )
        self.bands = BandCollector(enabled=export_bands)

    def exposition(self) -> bytes:
        """The body of ``/metrics``: the registry, then the band and observed families rendered by their owner."""
        return generate_latest(self.registry) + (self.bands.render() if self.bands.enabled else b"")

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
