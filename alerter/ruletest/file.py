"""Rule unit-test files: their model, and loading them with every problem at file:line:col.

Called by :mod:`alerter.ruletest.run`. The layout and its defaults are promtool's
(prometheus/prometheus ``cmd/promtool/unittest.go`` and
``docs/configuration/unit_testing_rules.md``), so a promtool test file loads unchanged:

- ``rule_files`` is optional (a test group may test expressions only), globs are relative to the
  test file, and a pattern that matches nothing is a warning, as promtool prints it;
- ``evaluation_interval`` defaults to 1m, a test group's ``interval`` to ``evaluation_interval``;
- ``eval_time`` defaults to 0, ``exp_samples[].labels`` to no labels (``{}``) and ``value`` to 0;
- ``exp_alerts: [{}]`` is one alert with no labels but ``alertname``;
- ``external_labels``, ``external_url``, ``fuzzy_compare`` and ``start_timestamp`` (the time of
  step 0, unix seconds or RFC 3339; default 0, the Unix epoch, as promtool);
- a group named twice in ``group_eval_order`` is promtool's error "group name repeated in
  evaluation order".

An ``alertname`` that no rule raises is not an error of the file: promtool compares that case
with no alerts, so it passes when no alert is expected and fails, alone, when one is; the
runner's report then names the closest rule. Additions: ``exp_state`` on an expected alert
(``firing`` by default; ``pending``, ``resolved``, ``nodata`` and ``error`` also exist in
alerter's lifecycle).

Problems are reported like ``alerter check`` does, all at once: a bad key or type through the
pydantic models, a bad series or value notation at the ``series``/``values`` field (with the
character it starts at), an input series given twice.
"""

from __future__ import annotations

import datetime
import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from alerter.config import Bundle, expand, load
from alerter.config import check as config_check
from alerter.config.engine import AppConfig
from alerter.config.types import Duration, LabelMap, Model
from alerter.config.validate import errors_from, field_path
from alerter.config.yamlfile import Document, Loc, read
from alerter.core.errors import ConfigError, ConfigErrors
from alerter.ruletest.notation import (
    NotationError,
    Value,
    expand_values,
    parse_histogram,
    parse_series,
)

State = Literal["pending", "firing", "resolved", "nodata", "error"]


def _text(value: Any) -> Any:
    """``values: 1`` reads as an int in YAML; promtool takes it as the notation ``1``."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _none_is_empty(value: Any) -> Any:
    """``exp_alerts:`` with nothing after it is YAML null; promtool reads it as no alerts."""
    return [] if value is None else value


class InputSeries(Model):
    series: str
    values: str = ""

    _values_text = field_validator("values", mode="before")(_text)


class ExpectedAlert(Model):
    """One alert expected at ``eval_time``: its labels (``alertname`` is added), annotations, state."""

    exp_labels: LabelMap = Field(default_factory=dict)
    exp_annotations: dict[str, str] = Field(default_factory=dict)
    exp_state: State = "firing"

    @field_validator("exp_labels", "exp_annotations", mode="before")
    @classmethod
    def _none_is_no_labels(cls, value: Any) -> Any:
        return {} if value is None else value


class AlertTestCase(Model):
    eval_time: Duration = Field(default=0.0, ge=0)
    alertname: str = Field(min_length=1)
    exp_alerts: list[ExpectedAlert] = Field(default_factory=list)

    _empty = field_validator("exp_alerts", mode="before")(_none_is_empty)


class ExpectedSample(Model):
    """One expected sample; promtool's defaults are no labels and the value 0."""

    labels: str = ""
    value: float = 0.0
    histogram: str = ""
    """A native histogram in series notation (``{{schema:0 count:4 ...}}``); when given,
    ``value`` is ignored, as in promtool."""

    _value_text = field_validator("histogram", mode="before")(_text)


class PromqlTestCase(Model):
    expr: str = Field(min_length=1)
    eval_time: Duration = Field(default=0.0, ge=0)
    exp_samples: list[ExpectedSample] = Field(default_factory=list)

    _empty = field_validator("exp_samples", mode="before")(_none_is_empty)


def _timestamp(value: Any) -> Any:
    """``start_timestamp``: unix seconds, or an RFC 3339 time such as 2020-01-01T00:00:00Z."""
    if isinstance(value, datetime.datetime):
        return value.timestamp() if value.tzinfo else value.replace(tzinfo=datetime.UTC).timestamp()
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC).timestamp()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"invalid timestamp {value!r} (unix seconds, or RFC 3339 such as 2020-01-01T00:00:00Z)"
            ) from None
        return parsed.timestamp() if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC).timestamp()
    return value


class TestGroup(Model):
    name: str = ""
    interval: Duration | None = Field(default=None, gt=0)
    """The step of the input series; promtool's default is ``evaluation_interval``."""
    input_series: list[InputSeries] = Field(default_factory=list)
    alert_rule_test: list[AlertTestCase] = Field(default_factory=list)
    promql_expr_test: list[PromqlTestCase] = Field(default_factory=list)
    external_labels: LabelMap = Field(default_factory=dict)
    external_url: str = ""
    start_timestamp: float = 0.0
    """Unix time of step 0 and of ``eval_time: 0`` (promtool: 0, the Unix epoch)."""

    _empty = field_validator("input_series", "alert_rule_test", "promql_expr_test", mode="before")(
        _none_is_empty
    )
    _start = field_validator("start_timestamp", mode="before")(_timestamp)

    @property
    def end(self) -> float:
        """The last ``eval_time`` of any case: promtool evaluates the rules up to it."""
        times = [c.eval_time for c in self.alert_rule_test] + [c.eval_time for c in self.promql_expr_test]
        return max(times, default=0.0)


class RuleTestFile(Model):
    """The top level of a test file."""

    rule_files: list[str] = Field(default_factory=list)
    evaluation_interval: Duration = Field(default=60.0, gt=0)
    fuzzy_compare: bool = False
    """Floats within one unit in the last place of each other compare equal (promtool's option)."""
    group_eval_order: list[str] = Field(default_factory=list)
    tests: list[TestGroup] = Field(default_factory=list)

    _empty = field_validator("rule_files", "group_eval_order", "tests", mode="before")(_none_is_empty)

    def interval_of(self, group: TestGroup) -> float:
        return group.interval or self.evaluation_interval


@dataclass(frozen=True)
class SeriesInput:
    """An input series ready to be written: labels and values per step of ``interval``."""

    labels: dict[str, str]
    values: list[Value]


@dataclass(frozen=True)
class LoadedTests:
    """A valid test file with its rules loaded and its series expanded (one list per test group)."""

    path: str
    spec: RuleTestFile
    bundle: Bundle
    series: list[list[SeriesInput]]
    warnings: tuple[str, ...] = ()
    """What promtool prints as ``WARNING:`` and carries on: rule-file patterns that match nothing,
    groups in ``group_eval_order`` that no rule file defines."""

    def alert_names(self) -> set[str]:
        return {rule.alert for f in self.bundle.rule_files for g in f.rules.groups for rule in g.alerting}

    def close_alert(self, name: str) -> str:
        """A hint for an ``alertname`` no rule raises: the closest name, or what exists."""
        return _close(name, self.alert_names())


def _notation_error(doc: Document, where: Loc, exc: NotationError) -> ConfigError:
    return ConfigError(
        doc.location(where), field_path(where), f"{exc.message} at character {exc.offset + 1}", exc.hint
    )


def _group_series(doc: Document, gi: int, group: TestGroup) -> tuple[list[SeriesInput], list[ConfigError]]:
    out: list[SeriesInput] = []
    errors: list[ConfigError] = []
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    for si, item in enumerate(group.input_series):
        base: Loc = ("tests", gi, "input_series", si)
        try:
            labels = parse_series(item.series)
        except NotationError as exc:
            errors.append(_notation_error(doc, (*base, "series"), exc))
            continue
        try:
            values = expand_values(item.values)
        except NotationError as exc:
            errors.append(_notation_error(doc, (*base, "values"), exc))
            continue
        key = tuple(sorted(labels.items()))
        if key in seen:
            errors.append(
                ConfigError(
                    doc.location((*base, "series")),
                    field_path((*base, "series")),
                    f"series {item.series!r} is given twice",
                    f"already at input_series[{seen[key]}]; merge the values into one entry",
                )
            )
            continue
        seen[key] = si
        out.append(SeriesInput(labels, values))
    return out, errors


def _case_errors(doc: Document, spec: RuleTestFile) -> Iterator[ConfigError]:
    seen: dict[str, int] = {}
    for index, name in enumerate(spec.group_eval_order):
        if name in seen:
            where: Loc = ("group_eval_order", index)
            yield ConfigError(
                doc.location(where),
                field_path(where),
                f"group name repeated in evaluation order: {name}",
                f"already at group_eval_order[{seen[name]}]; list each group once",
            )
        seen.setdefault(name, index)
    for gi, group in enumerate(spec.tests):
        for ci, expr_case in enumerate(group.promql_expr_test):
            for si, sample in enumerate(expr_case.exp_samples):
                base: Loc = ("tests", gi, "promql_expr_test", ci, "exp_samples", si)
                try:
                    parse_series(sample.labels, require_name=False)
                except NotationError as exc:
                    yield _notation_error(doc, (*base, "labels"), exc)
                if sample.histogram:  # promtool: a non-empty string means value is ignored
                    try:
                        parse_histogram(sample.histogram)
                    except NotationError as exc:
                        yield _notation_error(doc, (*base, "histogram"), exc)


def _order_warnings(spec: RuleTestFile, bundle: Bundle) -> list[str]:
    groups = {g.name for f in bundle.rule_files for g in f.rules.groups}
    return [
        f"group_eval_order: no rule group `{name}` ({_close(name, groups)})"
        for name in spec.group_eval_order
        if name not in groups
    ]


def _close(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"known: {', '.join(sorted(known))}" if known else "the rule files define none"


def load_config(path: str) -> AppConfig:
    """``alerter.yaml`` on its own (its rule files are not loaded: the test file names its own)."""
    doc = read(path, what="config file")
    try:
        cfg = AppConfig.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigErrors(errors_from(exc, doc, AppConfig)) from None
    problems = config_check.config(doc)
    if problems:
        raise ConfigErrors(problems)
    return cfg


def _rules(
    doc: Document, spec: RuleTestFile, config: AppConfig | None, config_path: str | None
) -> tuple[Bundle, list[str]]:
    base = Path(doc.path).parent
    paths, missing = expand(spec.rule_files, base)
    # promtool: "WARNING: no file match pattern <pattern>", and the tests run without them.
    warnings = [f"no file match pattern {error.location.file}" for error in missing]
    bundle = load(None, [p for p in paths if p.exists()])
    warnings += [f"no file match pattern {p}" for p in paths if not p.exists()]
    if config is None:
        return bundle, warnings
    policies = {p.name for p in config.policies}
    problems = [
        problem
        for loaded in bundle.rule_files
        for problem in config_check.rule_file(read(loaded.path, what="rule file"), policies)
    ]
    if problems:
        raise ConfigErrors(problems)
    return Bundle(config, config_path, bundle.rule_files), warnings


def load_tests(
    path: str | Path, *, config: AppConfig | None = None, config_path: str | None = None
) -> LoadedTests:
    """Read, validate and prepare one test file; ConfigErrors lists every problem found."""
    doc = read(path, what="rule test file")
    try:
        spec = RuleTestFile.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigErrors(errors_from(exc, doc, RuleTestFile)) from None
    bundle, warnings = _rules(doc, spec, config, config_path)
    errors = list(_case_errors(doc, spec))
    series: list[list[SeriesInput]] = []
    for gi, group in enumerate(spec.tests):
        found, problems = _group_series(doc, gi, group)
        series.append(found)
        errors += problems
    if errors:
        raise ConfigErrors(errors)
    return LoadedTests(str(path), spec, bundle, series, tuple(warnings + _order_warnings(spec, bundle)))
