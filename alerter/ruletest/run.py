"""``alerter test``: promtool-style unit tests for rule files, run through alerter's own engine.

The CLI calls :func:`register` (adds the ``test`` subcommand) or :func:`main`; ``make test`` runs
the tests shipped in ``rules/tests/``. A test file names rule files, gives input series in
promtool's expanding notation and lists the alerts expected at given times (see
:mod:`alerter.ruletest.file` for the format and :mod:`alerter.ruletest.notation` for the
notation)::

    rule_files: [../vllm-capacity.yaml]
    evaluation_interval: 1m
    tests:
      - interval: 1m
        input_series:
          - series: 'vllm:num_requests_waiting{model_name="llama"}'
            values: '0x30 200x30'
        alert_rule_test:
          - eval_time: 50m
            alertname: VLLMQueueDepthAnomaly
            exp_alerts:
              - exp_labels: {model_name: llama, severity: page, team: inference}
                exp_annotations: {summary: "..."}

How a test group runs: a throwaway real Prometheus receives the input series (so every
expression has real PromQL semantics), then alerter's own :class:`~alerter.engine.engine.Engine`, with
baselines fitted synchronously, walks a clock from 0 to the last ``eval_time`` in steps of
``evaluation_interval``. A rule group is ticked at a step when its own ``interval`` has passed
since its last tick, as the scheduler would run it (promtool ticks every group at every step;
here a 5m group with a 1m step runs every fifth step). Each expectation is checked against the
state after the last tick at or before its ``eval_time``. Times are
relative to :data:`EPOCH` (2020-01-01T00:00:00Z, a Wednesday), which matters only for calendar
periods such as a monthly budget.

A baseline is fitted when a rule first runs and refitted every ``refit``; a series that
appears later is picked up by the next retry (10 minutes), as in production, so an input series
that starts after time 0 is judged from then on.

Like promtool, only firing alerts are compared, unless an expected alert of the case names
another state in ``exp_state``: then alerts in that state are compared too. Labels and
annotations must match exactly (``alertname`` is added to the expected labels).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerter.config.engine import AppConfig
from alerter.core.durations import format_duration
from alerter.core.errors import AlerterError, ConfigError, ConfigErrors
from alerter.engine.baselines import Baselines
from alerter.engine.engine import Engine
from alerter.ruletest.file import AlertTestCase, LoadedTests, PromqlTestCase, load_config, load_tests
from alerter.ruletest.notation import parse_series
from alerter.ruletest.prometheus import SeriesData, ThrowawayPrometheus, find_binary
from alerter.source.prometheus import PrometheusSource
from alerter.store.sqlite import Store

EPOCH = 1577836800.0
"""Unix time of step 0 of every input series and of ``eval_time: 0s`` (2020-01-01T00:00:00Z)."""

SAMPLE_TOLERANCE = 1e-9
"""Relative tolerance of ``promql_expr_test`` values (floating-point sums differ in the last bits)."""


@dataclass(frozen=True, order=True)
class Shown:
    """An alert (or sample) as a failure report shows it; ordered so lists compare as multisets."""

    labels: tuple[tuple[str, str], ...]
    state: str = ""
    annotations: tuple[tuple[str, str], ...] = ()
    value: float | None = None

    def render(self, *, with_state: bool) -> str:
        text = f"Labels:{_braces(self.labels)}"
        if self.value is not None:
            return f"{text}\nValue:{self.value!r}"
        if with_state:
            text += f"\nState:{self.state}"
        return f"{text}\nAnnotations:{_braces(self.annotations)}"


def _braces(items: Iterable[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{k}={_quote(v)}" for k, v in items) + "}"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold: where, what was expected, what came out."""

    group: str
    eval_time: float
    subject: str
    expected: tuple[Shown, ...]
    got: tuple[Shown, ...]
    with_state: bool = False
    note: str = ""

    def render(self) -> str:
        lines = [f"    name: {self.group},"] if self.group else []
        lines.append(f"    {self.subject}, time: {format_duration(self.eval_time)},")
        lines.append(f"        exp:{self._list(self.expected)},")
        lines.append(f"        got:{self._list(self.got)}")
        if self.note:
            lines.append(f"        note: {self.note}")
        return "\n".join(lines)

    def _list(self, items: Sequence[Shown]) -> str:
        if not items:
            return "[]"
        parts = []
        for index, item in enumerate(items):
            body = item.render(with_state=self.with_state).replace("\n", "\n              ")
            parts.append(f"            {index}:\n              {body}")
        return "[\n" + ",\n".join(parts) + "\n            ]"


@dataclass
class FileReport:
    """The outcome of one test file."""

    path: str
    failures: list[Failure] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    problem: str = ""
    cases: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.failures or self.errors or self.problem)


# -- running ---------------------------------------------------------------------------------


def _series_data(tests: LoadedTests, index: int) -> list[SeriesData]:
    interval = tests.spec.tests[index].interval or tests.spec.evaluation_interval
    out = []
    for series in tests.series[index]:
        samples = [
            (round((EPOCH + step * interval) * 1000), value)
            for step, value in enumerate(series.values)
            if value is not None
        ]
        out.append(SeriesData(series.labels, samples))
    return out


def _group_order(tests: LoadedTests) -> list[str]:
    """``group_eval_order`` first, then every other rule group in file order."""
    names = [g.name for f in tests.bundle.rule_files for g in f.rules.groups]
    first = list(tests.spec.group_eval_order)
    return first + [n for n in names if n not in first]


def _compared(case: AlertTestCase) -> set[str]:
    return {"firing"} | {alert.exp_state for alert in case.exp_alerts}


def _check_alerts(engine: Engine, case: AlertTestCase, group: str) -> Failure | None:
    states = _compared(case)
    mine = [a for a in engine.alerts() if a.rule == case.alertname]
    got = sorted(
        Shown(tuple(sorted(a.labels.items())), a.state.value, tuple(sorted(a.annotations.items())))
        for a in mine
        if a.state.value in states
    )
    expected = sorted(
        Shown(
            tuple(sorted({**e.exp_labels, "alertname": case.alertname}.items())),
            e.exp_state,
            tuple(sorted(e.exp_annotations.items())),
        )
        for e in case.exp_alerts
    )
    if got == expected:
        return None
    others: dict[str, int] = {}
    for alert in mine:
        if alert.state.value not in states:
            others[alert.state.value] = others.get(alert.state.value, 0) + 1
    note = ", ".join(f"{n} {s}" for s, n in sorted(others.items()))
    return Failure(
        group,
        case.eval_time,
        f"alertname: {case.alertname}",
        tuple(expected),
        tuple(got),
        with_state=states != {"firing"},
        note=f"not compared: {note}" if note else "",
    )


def _check_expr(source: PrometheusSource, case: PromqlTestCase, group: str) -> Failure | None:
    result = source.query(case.expr, EPOCH + case.eval_time)
    got = sorted(Shown(tuple(sorted(s.labels.items())), value=float(s.values[-1])) for s in result if len(s))
    expected = sorted(
        Shown(tuple(sorted(parse_series(e.labels, require_name=False).items())), value=e.value)
        for e in case.exp_samples
    )
    if len(got) == len(expected) and all(
        g.labels == e.labels and _same(g.value, e.value) for g, e in zip(got, expected, strict=True)
    ):
        return None
    return Failure(group, case.eval_time, f"expr: {case.expr.strip()!r}", tuple(expected), tuple(got))


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=SAMPLE_TOLERANCE, abs_tol=0.0) or a == b


def _walk(tests: LoadedTests, index: int, engine: Engine) -> list[Failure]:
    """Tick every rule group from 0 to the last ``eval_time``; check each case at its time."""
    group = tests.spec.tests[index]
    step = tests.spec.evaluation_interval
    cases = sorted(group.alert_rule_test, key=lambda c: c.eval_time)
    end = cases[-1].eval_time if cases else -1.0
    order = _group_order(tests)
    intervals = {name: plan.interval for name, plan in engine.groups.items()}
    last: dict[str, float] = {}
    failures: list[Failure] = []
    tick = 0
    while tick * step <= end:
        now = tick * step
        for name in order:
            # A group runs when its own interval has passed, as the scheduler runs it.
            if name not in last or now - last[name] >= intervals[name] - 1e-6:
                engine.tick(name, EPOCH + now)
                last[name] = now
        while cases and cases[0].eval_time < now + step:
            failure = _check_alerts(engine, cases.pop(0), group.name)
            if failure is not None:
                failures.append(failure)
        tick += 1
    return failures


def run_group(tests: LoadedTests, index: int, binary: str) -> list[Failure]:
    """Run one test group against its own throwaway Prometheus."""
    group = tests.spec.tests[index]
    with (
        ThrowawayPrometheus(binary) as prometheus,
        PrometheusSource(prometheus.url, timeout=60.0) as source,
        Store(":memory:") as store,
    ):
        prometheus.push(_series_data(tests, index))
        engine = Engine(tests.bundle, source, store, Baselines(source, store), now=EPOCH)
        failures = _walk(tests, index, engine)
        for case in group.promql_expr_test:
            failure = _check_expr(source, case, group.name)
            if failure is not None:
                failures.append(failure)
    return sorted(failures, key=lambda f: f.eval_time)


def run_file(
    path: str, *, config: AppConfig | None = None, config_path: str | None = None, binary: str
) -> FileReport:
    """Load and run every test group of one file."""
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
    for index, group in enumerate(tests.spec.tests):
        report.cases += len(group.alert_rule_test) + len(group.promql_expr_test)
        try:
            report.failures += run_group(tests, index, binary)
        except AlerterError as exc:
            report.problem = str(exc)
            break
    report.seconds = time.perf_counter() - started
    return report


def render(report: FileReport) -> str:
    """promtool's layout: ``Unit Testing: FILE`` then SUCCESS or FAILED with every failure."""
    head = f"Unit Testing:  {report.path}"
    if report.errors:
        return "\n".join([head, "  FAILED:", *(f"    {e}" for e in report.errors)])
    if report.problem:
        return f"{head}\n  FAILED:\n    {report.problem}"
    if report.failures:
        return "\n".join([head, "  FAILED:", *(f.render() for f in report.failures)])
    return f"{head}\n  SUCCESS ({report.cases} cases, {report.seconds:.1f}s)"


# -- command line ----------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", help="alerter.yaml, to check the rules' remediate policies")
    parser.add_argument(
        "--prometheus", help="Prometheus binary that evaluates the expressions (default: prometheus on PATH)"
    )
    parser.add_argument("test_files", nargs="+", metavar="TEST_FILE", help="rule test files (YAML)")


def command(args: argparse.Namespace) -> int:
    """Run every test file named in ``args``; 0 when all pass, 1 otherwise."""
    try:
        binary = find_binary(args.prometheus)
        config = load_config(args.config) if args.config else None
    except ConfigErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        return 1
    except (ConfigError, AlerterError) as exc:
        print(f"alerter test: {exc}", file=sys.stderr)
        return 1
    failed = 0
    for path in args.test_files:
        report = run_file(path, config=config, config_path=args.config, binary=binary)
        print(render(report), file=sys.stdout if report.ok else sys.stderr, flush=True)
        failed += not report.ok
    return 1 if failed else 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``alerter test`` to an argparse subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "test",
        help="run rule unit tests (promtool-style) against a throwaway Prometheus",
        description="Run promtool-style unit tests of rule files: input series, evaluation times, expected alerts.",
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
