"""``alerter test``: promtool-style unit tests for rule files, run through alerter's own engine.

The CLI calls :func:`register` (adds the ``test`` subcommand) or :func:`main`; ``make test`` runs
the tests shipped in ``rules/tests/``. A test file names rule files, gives input series in
promtool's expanding notation and lists the alerts expected at given times (see
:mod:`alerter.ruletest.file` for the format and its defaults, and
:mod:`alerter.ruletest.notation` for the notation)::

    rule_files: [../vllm-capacity.yaml]
    tests:
      - input_series:
          - series: 'vllm:num_requests_waiting{model_name="llama"}'
            values: '0x30 200x30'
        alert_rule_test:
          - eval_time: 50m
            alertname: VLLMQueueDepthAnomaly
            exp_alerts:
              - exp_labels: {model_name: llama, severity: page, team: inference}
                exp_annotations: {summary: "..."}

How a test group runs, step for step as promtool's ``cmd/promtool/unittest.go`` does: a
throwaway real Prometheus (so every expression has real PromQL semantics) receives the input
series, and a clock walks from 0 to the last ``eval_time`` of the group (alert and expression
cases alike) in steps of ``evaluation_interval``. At each step, every rule group is evaluated in
``group_eval_order`` (then file order): its recording rules first, in file order, each an
instant query whose result is written back under the rule's name and labels (and a staleness
marker for a series that stopped being returned), so later rules and later steps read it; then
its alerting rules through alerter's own :class:`~alerter.engine.engine.Engine` (baselines
fitted synchronously), whose pending and firing alerts are written back as ``ALERTS`` and
``ALERTS_FOR_STATE`` series as Prometheus writes them. A group with ``baseline:`` rules runs
only when its own ``interval`` has passed, as the scheduler runs it; Prometheus rules run at
every step, as promtool runs them. Input samples reach Prometheus step by step, each before
the evaluation at its time, so every write is in time order.

An alert case is checked after the last step at or before its ``eval_time``; an expression case
is evaluated after the walk, at its ``eval_time``. Times are relative to the group's
``start_timestamp`` (0, the Unix epoch, by default: ``time()`` returns ``eval_time`` in seconds,
as in promtool).

Comparisons are promtool's: only firing alerts are compared (unless an expected alert names
another state in ``exp_state``: then alerts in that state are compared too), as multisets of
labels (``alertname`` added to the expected ones) and annotations; samples are compared as a
multiset by labels, floats exactly (NaN matches NaN), or within one unit in the last place with
``fuzzy_compare: true``. Each case fails on its own; an error evaluating a rule stops its test
group, as in promtool, and is reported as ``rule: NAME, time: T, err: ...``.

A baseline is fitted when a rule first runs and refitted every ``refit``; a series that
appears later is picked up by the next retry (10 minutes), as in production.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import struct
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from alerter.config import Bundle
from alerter.config.engine import AppConfig
from alerter.config.gotemplate.values import shortest_digits
from alerter.config.rules import RecordingRule, RuleGroup
from alerter.core.durations import format_duration
from alerter.core.errors import AlerterError, ConfigError, ConfigErrors
from alerter.core.model import Alert, AlertState
from alerter.engine.baselines import Baselines
from alerter.engine.engine import META_GROUP, Engine, group_names
from alerter.ruletest.cached import CachedSource
from alerter.ruletest.file import AlertTestCase, LoadedTests, PromqlTestCase, load_config, load_tests
from alerter.ruletest.histogram import NativeHistogram, same_histogram
from alerter.ruletest.notation import parse_histogram, parse_series
from alerter.ruletest.prometheus import (
    QueryFailed,
    Sample,
    SeriesData,
    ThrowawayPrometheus,
    find_binary,
    stale_nan,
)
from alerter.source.prometheus import PrometheusSource
from alerter.store.sqlite import Store

EPOCH = 0.0
"""Unix time of step 0 and of ``eval_time: 0s`` unless a test group sets ``start_timestamp``:
the Unix epoch, as in promtool (``time()`` is then ``eval_time`` in seconds)."""

ACTIVE = (AlertState.PENDING, AlertState.FIRING)
"""The states Prometheus writes to ``ALERTS`` (``alertstate="pending"`` or ``"firing"``)."""

Key = tuple[tuple[str, str], ...]


@dataclass(frozen=True, order=True)
class Shown:
    """An alert as a failure report shows it; ordered so lists compare as multisets."""

    labels: Key
    state: str = ""
    annotations: Key = ()

    def render(self, *, with_state: bool) -> str:
        text = f"Labels:{_braces(self.labels)}"
        if with_state:
            text += f"\nState:{self.state}"
        return f"{text}\nAnnotations:{_braces(self.annotations)}"


def _braces(items: Iterable[tuple[str, str]]) -> str:
    """Labels as Prometheus' ``labels.Labels.String`` writes them: ``{a="1", b="2"}``."""
    return "{" + ", ".join(f"{k}={_quote(v)}" for k, v in items) + "}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class Failure:
    """One case that did not hold, or an error that stopped a test group; renders as promtool."""

    group: str
    eval_time: float
    text: str
    note: str = ""

    def render(self) -> str:
        lines = [self.text]
        if self.note:
            lines.append(f"        note: {self.note}")
        return "\n".join(lines)


@dataclass
class FileReport:
    """The outcome of one test file."""

    path: str
    failures: list[Failure] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problem: str = ""
    cases: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.failures or self.errors or self.problem)


# -- comparing -------------------------------------------------------------------------------


def _go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` writes it (``0s``, ``1m0s``, ``1h2m3.5s``)."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    ms = round(abs(seconds) * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs = f"{ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}"
    if minutes:
        return f"{sign}{minutes}m{secs}"
    return sign + secs


def _list(items: Sequence[Shown], *, with_state: bool) -> str:
    """promtool's ``labelsAndAnnotations.String``, indented as its report indents it."""
    if not items:
        return "[]"
    parts = []
    for index, item in enumerate(items):
        body = item.render(with_state=with_state).replace("\n", "\n              ")
        parts.append(f"            {index}:\n              {body}")
    return "[\n" + ",\n".join(parts) + "\n            ]"


def _float_text(value: float) -> str:
    """A float as Go's ``strconv.FormatFloat(v, 'E', -1, 64)``: ``1E+00``, ``3.999999999999991E-01``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    digits, point = shortest_digits(value) if value != 0 else ("0", 1)
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exponent = point - 1
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    return f"{sign}{mantissa}E{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def _ulps_apart(a: float, b: float) -> int:
    """How many representable doubles lie between ``a`` and ``b`` (same sign assumed)."""
    ia: int = struct.unpack("<q", struct.pack("<d", a))[0]
    ib: int = struct.unpack("<q", struct.pack("<d", b))[0]
    return abs(ia - ib)


def same_value(expected: float, got: float, *, fuzzy: bool) -> bool:
    """promtool's float comparison: exact (``reflect.DeepEqual``), or one unit in the last place
    apart with ``fuzzy_compare`` (prometheus/prometheus#16395). NaN matches NaN here, where
    DeepEqual never matches it, so that an expected NaN can be written at all."""
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    if expected == got:
        return True
    if not fuzzy or math.isinf(expected) or math.isinf(got) or (expected < 0) != (got < 0):
        return False
    return _ulps_apart(expected, got) <= 1


def _sample_key(labels: Mapping[str, str]) -> Key:
    return tuple(sorted(labels.items()))


def _samples_text(samples: Sequence[tuple[Key, str]]) -> str:
    """promtool's ``parsedSamplesString``: ``{__name__="x", a="1"} 1E+00, ...`` or ``nil``."""
    if not samples:
        return "nil"
    return ", ".join(f"{_braces(labels)} {value}" for labels, value in samples)


Expected = tuple[Key, float, NativeHistogram | None]


def _same_sample(expected: Expected, got: Sample, *, fuzzy: bool) -> tuple[bool, str, str]:
    """Whether one expected sample holds, and both as promtool prints them.

    A float is written as Go's ``FormatFloat(v, 'E', -1, 64)``, a histogram as its
    ``TestExpression()``: promtool compares histograms by that string (``cmd/promtool/unittest.go``,
    ``parsedSample.Histogram``), so a float never equals a histogram, and two histograms are
    equal when they print the same (see :func:`alerter.ruletest.histogram.same_histogram` for
    what the HTTP API lets this compare).
    """
    _, value, histogram = expected
    if histogram is not None:
        if got.histogram is None:
            return False, histogram.test_expression(), _float_text(got.value)
        return same_histogram(histogram, got.histogram)
    if got.histogram is not None:
        return False, _float_text(value), got.histogram.render()
    return same_value(value, got.value, fuzzy=fuzzy), _float_text(value), _float_text(got.value)


def _shown_alone(sample: Sample) -> str:
    return sample.histogram.render() if sample.histogram is not None else _float_text(sample.value)


def check_samples(
    case: PromqlTestCase, got: Sequence[Sample], *, fuzzy: bool, group: str = ""
) -> Failure | None:
    """Compare an expression's result with ``exp_samples``, order-insensitively by labels."""
    expected: list[Expected] = sorted(
        (
            (
                _sample_key(parse_series(e.labels, require_name=False)),
                e.value,
                parse_histogram(e.histogram) if e.histogram else None,
            )
            for e in case.exp_samples
        ),
        key=lambda item: item[0],
    )
    actual = sorted(got, key=lambda s: _sample_key(s.labels))
    ok = len(expected) == len(actual)
    exp_text: list[tuple[Key, str]] = []
    got_text: list[tuple[Key, str]] = []
    for index in range(max(len(expected), len(actual))):
        mine = expected[index] if index < len(expected) else None
        theirs = actual[index] if index < len(actual) else None
        if mine is not None and theirs is not None:
            same, shown_exp, shown_got = _same_sample(mine, theirs, fuzzy=fuzzy)
            ok = ok and same and mine[0] == _sample_key(theirs.labels)
            exp_text.append((mine[0], shown_exp))
            got_text.append((_sample_key(theirs.labels), shown_got))
        elif mine is not None:
            shown = mine[2].test_expression() if mine[2] is not None else _float_text(mine[1])
            exp_text.append((mine[0], shown))
        elif theirs is not None:
            got_text.append((_sample_key(theirs.labels), _shown_alone(theirs)))
    if ok:
        return None
    return Failure(
        group,
        case.eval_time,
        f"    expr: {_go_quote(case.expr)}, time: {format_duration(case.eval_time)},\n"
        f"        exp: {_samples_text(exp_text)}\n        got: {_samples_text(got_text)}",
    )


def _go_quote(text: str) -> str:
    """Go's ``%q`` for the strings a test file holds."""
    return (
        '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    )


def _compared(case: AlertTestCase) -> set[str]:
    return {"firing"} | {alert.exp_state for alert in case.exp_alerts}


def check_alerts(
    alerts: Sequence[Alert], case: AlertTestCase, tests: LoadedTests, group: str
) -> Failure | None:
    """Compare the alerts of ``case.alertname`` across every rule group with ``exp_alerts``.

    ``alerts`` are the engine's alerts after the step (``Engine.alerts()``, read once per step
    for all the cases checked there)."""
    states = _compared(case)
    mine = [a for a in alerts if a.group != META_GROUP and a.labels.get("alertname") == case.alertname]
    got = sorted(
        Shown(_sample_key(a.labels), a.state.value, _sample_key(a.annotations))
        for a in mine
        if a.state.value in states
    )
    expected = sorted(
        Shown(
            _sample_key({**e.exp_labels, "alertname": case.alertname}),
            e.exp_state,
            _sample_key(e.exp_annotations),
        )
        for e in case.exp_alerts
    )
    if got == expected:
        return None
    with_state = states != {"firing"}
    head = f"    name: {group},\n" if group else ""
    text = (
        f"{head}    alertname: {case.alertname}, time: {format_duration(case.eval_time)}, \n"
        f"        exp:{_list(expected, with_state=with_state)}, \n"
        f"        got:{_list(got, with_state=with_state)}"
    )
    notes = []
    others: dict[str, int] = {}
    for alert in mine:
        if alert.state.value not in states:
            others[alert.state.value] = others.get(alert.state.value, 0) + 1
    if others:
        notes.append("not compared: " + ", ".join(f"{n} {s}" for s, n in sorted(others.items())))
    if case.alertname not in tests.alert_names():
        notes.append(
            f"no rule in the rule files raises `{case.alertname}` ({tests.close_alert(case.alertname)})"
        )
    return Failure(group, case.eval_time, text, note="; ".join(notes))


# -- writing rule results back -----------------------------------------------------------------


class _Writes:
    """Samples waiting to be written, and the series each producer returned last time.

    A producer is a recording rule or an alerting rule's ``ALERTS``; a series it returned at the
    last step and not at this one gets a staleness marker, as Prometheus' rule group writes one.
    Samples wait until a query may read them (an expression or template that names one of the
    pending metrics, or any expression case after the walk), so a test whose rules never read
    ``ALERTS`` or a recorded series writes them once, at the end, not at every step.
    """

    def __init__(self, prometheus: ThrowawayPrometheus) -> None:
        self.prometheus = prometheus
        self.pending: dict[Key, list[tuple[int, float]]] = {}
        self.names: set[str] = set()
        self._last: dict[str, set[Key]] = {}

    def put(self, producer: str, at_ms: int, samples: Iterable[tuple[Mapping[str, str], float]]) -> None:
        now: set[Key] = set()
        for labels, value in samples:
            key = _sample_key(labels)
            now.add(key)
            self.pending.setdefault(key, []).append((at_ms, value))
            self.names.add(labels.get("__name__", ""))
        for key in self._last.get(producer, set()) - now:
            self.pending.setdefault(key, []).append((at_ms, stale_nan()))
            self.names.add(dict(key).get("__name__", ""))
        self._last[producer] = now

    def flush_for(self, expressions: Iterable[str]) -> None:
        """Write what is pending if any of ``expressions`` may read it (names one pending metric)."""
        if self.pending:
            names = frozenset(self.names)
            if any(_reads_names(expr, names) for expr in expressions):
                self.flush()

    def flush(self, extra: Sequence[SeriesData] = ()) -> None:
        series = [SeriesData(dict(key), samples) for key, samples in self.pending.items()]
        self.pending = {}
        self.names = set()
        self.prometheus.push([*extra, *series])


def _reads(expr: str, names: Iterable[str]) -> bool:
    """Whether ``expr`` may read a series named one of ``names``."""
    return _reads_names(expr, frozenset(names))


@functools.lru_cache(maxsize=4096)
def _reads_names(expr: str, names: frozenset[str]) -> bool:
    # ``{__name__=~"..."}`` could read anything: treat a selector without a literal name as a read.
    if "__name__" in expr:
        return True
    return _name_pattern(names).search(expr) is not None


@functools.lru_cache(maxsize=64)
def _name_pattern(names: frozenset[str]) -> re.Pattern[str]:
    """One regex for any of ``names`` as a whole metric name (``(?!)`` matches nothing)."""
    words = "|".join(re.escape(name) for name in sorted(names) if name)
    return re.compile(rf"(?<![\w:])(?:{words})(?![\w:])" if words else "(?!)")


def _recorded(
    rule: RecordingRule, group: RuleGroup, samples: Sequence[Sample]
) -> list[tuple[dict[str, str], float]]:
    """A recording rule's output: each sample renamed, with the group's and the rule's labels.

    A rule that records native histograms (``rate()`` of a histogram series) is refused with a
    clear error: its results would be written behind the newest input sample, which the TSDB
    takes for floats inside its out-of-order window but, before Prometheus 2.51, not for
    histograms.
    """
    out = []
    for sample in samples:
        if sample.histogram is not None:
            raise QueryFailed(
                "the rule records native histograms, which alerter test cannot write back yet; "
                "record a float instead (histogram_count(), histogram_sum(), histogram_quantile())"
            )
        labels = {**sample.labels, **group.labels, **rule.labels, "__name__": rule.record}
        out.append(({k: v for k, v in labels.items() if v != ""}, sample.value))
    return out


# -- running ---------------------------------------------------------------------------------


class _Inputs:
    """The input series of a test group, written to Prometheus before the walk starts."""

    def __init__(self, tests: LoadedTests, index: int, start: float) -> None:
        interval = tests.spec.interval_of(tests.spec.tests[index])
        self._series = []
        for series in tests.series[index]:
            floats: list[tuple[int, float]] = []
            histograms: list[tuple[int, NativeHistogram]] = []
            for step, value in enumerate(series.values):
                at_ms = round((start + step * interval) * 1000)
                if isinstance(value, NativeHistogram):
                    histograms.append((at_ms, value))
                elif value is not None:
                    floats.append((at_ms, value))
            self._series.append(SeriesData(series.labels, floats, histograms))

    def all(self) -> list[SeriesData]:
        return list(self._series)


def _stepped(bundle: Bundle, step: float) -> Bundle:
    """The bundle with every group of Prometheus rules evaluated every ``step``, as promtool does.

    promtool evaluates every group at every step at the step's own time, whatever the group's
    ``interval``; the engine reads a group's data on the grid of its interval. Setting a
    Prometheus group's interval to the step makes both the same. Groups with ``baseline:`` rules
    keep their interval (their windows and history are sized to it).
    """
    files = []
    for loaded in bundle.rule_files:
        groups = [
            g if any(not r.is_threshold for r in g.alerting) else g.model_copy(update={"interval": step})
            for g in loaded.rules.groups
        ]
        files.append(replace(loaded, rules=loaded.rules.model_copy(update={"groups": groups})))
    return replace(bundle, rule_files=files)


def _group_order(tests: LoadedTests) -> list[tuple[str, RuleGroup]]:
    """(engine name, group): ``group_eval_order`` first, then every other group in file order.

    promtool names groups by their ``name`` alone in ``group_eval_order``; a name two files
    share orders both of its groups there. The engine names such groups ``<file>;<name>``.
    """
    named = [
        (scoped, group)
        for loaded, names in zip(tests.bundle.rule_files, group_names(tests.bundle), strict=True)
        for group, scoped in zip(loaded.rules.groups, names, strict=True)
    ]
    order = tests.spec.group_eval_order
    first = [item for name in order for item in named if item[1].name == name]
    return first + [item for item in named if item[1].name not in order]


class _Stop(Exception):
    """A rule failed to evaluate: promtool ends the test group there."""


def _step(
    now: float,
    order: Sequence[tuple[str, RuleGroup]],
    engine: Engine,
    prometheus: ThrowawayPrometheus,
    writes: _Writes,
    due: Mapping[str, bool],
    start: float,
) -> list[Failure]:
    """Evaluate every due rule group at ``now``; returns the evaluation errors (promtool's format)."""
    at_ms = round(now * 1000)
    errors: list[Failure] = []
    for name, group in order:
        if not due[name]:
            continue
        for rule in group.recording:
            writes.flush_for([rule.expr])
            try:
                recorded = _recorded(rule, group, prometheus.query(rule.expr, now))
            except QueryFailed as exc:
                errors.append(_rule_error(rule.record, now - start, str(exc)))
                continue
            writes.put(f"record/{group.name}/{rule.record}/{id(rule)}", at_ms, recorded)
        alerting = group.alerting
        if not alerting:
            continue
        # A template may query Prometheus too (``{{ query "..." }}``): its text counts as a read.
        writes.flush_for(
            text for r in alerting for text in (r.expr, *r.labels.values(), *r.annotations.values())
        )
        for result in engine.tick(group.name, now):
            if result.health.last_error:
                errors.append(_rule_error(result.health.rule, now - start, result.health.last_error))
        active = [a for a in engine.alerts() if a.group == group.name and a.state in ACTIVE]
        for alert_rule in alerting:
            mine = [a for a in active if a.rule == alert_rule.alert]
            writes.put(
                f"alerts/{group.name}/{alert_rule.alert}",
                at_ms,
                [({**a.labels, "__name__": "ALERTS", "alertstate": a.state.value}, 1.0) for a in mine],
            )
            writes.put(
                f"for-state/{group.name}/{alert_rule.alert}",
                at_ms,
                [
                    (
                        {**a.labels, "__name__": "ALERTS_FOR_STATE"},
                        a.active_at if a.active_at is not None else now,
                    )
                    for a in mine
                ],
            )
    return errors


def _rule_error(rule: str, at: float, error: str) -> Failure:
    return Failure("", at, f"    rule: {rule}, time: {_go_duration(at)}, err: {error}")


def _walk(tests: LoadedTests, index: int, engine: Engine, prometheus: ThrowawayPrometheus) -> list[Failure]:
    """promtool's loop: every step from 0 to the group's last ``eval_time``, cases checked on the way."""
    group = tests.spec.tests[index]
    start = group.start_timestamp
    step = tests.spec.evaluation_interval
    cases = sorted(group.alert_rule_test, key=lambda c: c.eval_time)
    order = _group_order(tests)
    writes = _Writes(prometheus)
    last: dict[str, float] = {}
    failures: list[Failure] = []
    tick = 0
    while tick * step <= group.end + 1e-9:
        offset = tick * step
        now = start + offset
        due = {}
        for name, rule_group in order:
            anomaly = any(not r.is_threshold for r in rule_group.alerting)
            previous = last.get(name)
            # A group of baseline rules runs when its own interval has passed, as the scheduler
            # runs it; Prometheus rules run at every step, as promtool runs them.
            due[name] = not anomaly or previous is None or offset - previous >= rule_group.interval - 1e-6
            if due[name]:
                last[name] = offset
        errors = _step(now, order, engine, prometheus, writes, due, start)
        if errors:
            return failures + errors
        alerts = engine.alerts() if cases and cases[0].eval_time < offset + step - 1e-9 else []
        while cases and cases[0].eval_time < offset + step - 1e-9:
            failure = check_alerts(alerts, cases.pop(0), tests, group.name)
            if failure is not None:
                failures.append(failure)
        tick += 1
    # What the rules wrote is sent when something may read it (see ``_Writes``); the expression
    # cases after the walk may read anything.
    writes.flush()
    return failures


def run_group(
    tests: LoadedTests, index: int, binary: str, launched: ThrowawayPrometheus | None = None
) -> list[Failure]:
    """Run one test group against its own throwaway Prometheus (``launched``, if given, is one
    already starting: see ``ThrowawayPrometheus.launch``)."""
    group = tests.spec.tests[index]
    with (
        launched or ThrowawayPrometheus(binary) as prometheus,
        PrometheusSource(prometheus.url, timeout=60.0) as source,
        Store(":memory:") as store,
    ):
        start = group.start_timestamp
        prometheus.push(_Inputs(tests, index, start).all())
        written = {"ALERTS", "ALERTS_FOR_STATE"} | {
            r.record for f in tests.bundle.rule_files for g in f.rules.groups for r in g.recording
        }
        cached = CachedSource(source, lambda expr: not _reads(expr, written), start + group.end)
        bundle = _stepped(tests.bundle, tests.spec.evaluation_interval)
        engine = Engine(bundle, cached, store, Baselines(cached, store), now=start)
        failures = _walk(tests, index, engine, prometheus)
        if any(f.text.startswith("    rule: ") for f in failures):
            return failures
        for case in group.promql_expr_test:
            try:
                got = prometheus.query(case.expr, start + case.eval_time)
            except QueryFailed as exc:
                failures.append(
                    Failure(
                        group.name,
                        case.eval_time,
                        f"    expr: {_go_quote(case.expr)}, time: {format_duration(case.eval_time)}, err: {exc}",
                    )
                )
                continue
            failure = check_samples(case, got, fuzzy=tests.spec.fuzzy_compare, group=group.name)
            if failure is not None:
                failures.append(failure)
    return failures


def run_file(
    path: str,
    *,
    config: AppConfig | None = None,
    config_path: str | None = None,
    binary: str,
    run: Sequence[str] = (),
) -> FileReport:
    """Load and run every test group of one file (those whose name matches a ``run`` pattern)."""
    started = time.perf_counter()
    report = FileReport(path)
    try:
        tests = load_tests(path, config=config, config_path=config_path)
    except ConfigErrors as exc:
        report.errors = list(exc.errors)
        return report
    except ConfigError as exc:
        report.errors = [exc]
        return report
    report.warnings = list(tests.warnings)
    patterns = [re.compile(p) for p in run]
    chosen = [
        index
        for index, group in enumerate(tests.spec.tests)
        if not patterns or any(p.search(group.name) for p in patterns)
    ]
    following: ThrowawayPrometheus | None = None
    try:
        for position, index in enumerate(chosen):
            group = tests.spec.tests[index]
            report.cases += len(group.alert_rule_test) + len(group.promql_expr_test)
            current, following = following, None
            if position + 1 < len(chosen):
                # The next group's Prometheus starts while this group runs.
                following = ThrowawayPrometheus(binary).launch()
            try:
                report.failures += run_group(tests, index, binary, current)
            except AlerterError as exc:
                report.problem = str(exc)
                break
    finally:
        if following is not None:
            following.stop()
    report.seconds = time.perf_counter() - started
    return report


def render(report: FileReport) -> str:
    """promtool's layout: ``Unit Testing:  FILE`` then SUCCESS or FAILED with every failure."""
    head = [f"Unit Testing:  {report.path}", *(f"  WARNING: {w}" for w in report.warnings)]
    if report.errors:
        return "\n".join([*head, "  FAILED:", *(f"    {e}" for e in report.errors)])
    if report.problem:
        return "\n".join([*head, "  FAILED:", f"    {report.problem}"])
    if report.failures:
        return "\n".join([*head, "  FAILED:", *(f.render() for f in report.failures)])
    return "\n".join([*head, f"  SUCCESS ({report.cases} cases, {report.seconds:.1f}s)"])


# -- command line ----------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="alerter.yaml, to check the rules' remediate policies")
    parser.add_argument(
        "--prometheus", help="Prometheus binary that evaluates the expressions (default: prometheus on PATH)"
    )
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="REGEX",
        help="run only the test groups whose name matches (repeatable), as promtool's --run",
    )
    parser.add_argument("test_files", nargs="+", metavar="TEST_FILE", help="rule test files (YAML)")


def command(args: argparse.Namespace) -> int:
    """Run every test file named in ``args``; 0 when all pass, 1 otherwise (promtool's codes)."""
    try:
        binary = find_binary(args.prometheus)
        config = load_config(args.config) if args.config else None
        run = [re.compile(p).pattern for p in args.run]
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    except re.error as exc:
        print(f"alerter test: --run: invalid regular expression: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, AlerterError) as exc:
        print(f"alerter test: {exc}", file=sys.stderr)
        return 1
    failed = 0
    for path in args.test_files:
        report = run_file(path, config=config, config_path=args.config, binary=binary, run=run)
        print(render(report), file=sys.stdout if report.ok else sys.stderr, flush=True)
        failed += not report.ok
    return 1 if failed else 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``alerter test`` to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "test",
        help="run rule unit tests (promtool's format) against a throwaway Prometheus",
        description="Run promtool-style unit tests of rule files: input series, evaluation times, "
        "expected alerts and expression results.",
    )
    _arguments(parser)
    parser.set_defaults(func=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``alerter test`` on its own (``python -m alerter.ruletest``)."""
    parser = argparse.ArgumentParser(prog="alerter test", description="Run promtool-style rule unit tests.")
    _arguments(parser)
    return command(parser.parse_args(argv))


__all__ = ["EPOCH", "Failure", "FileReport", "command", "main", "register", "render", "run_file"]
