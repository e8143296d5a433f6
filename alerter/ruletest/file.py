"""Rule unit-test files: their model, and loading them with every problem at file:line:col.

Called by :mod:`alerter.ruletest.run`. The layout is promtool's (``rule_files``,
``evaluation_interval``, ``group_eval_order``, ``tests`` with ``input_series``,
``alert_rule_test`` and ``promql_expr_test``), so tests written for Prometheus rules port with
few changes. Additions: ``exp_state`` on an expected alert (``firing`` by default; ``pending``,
``resolved``, ``nodata`` and ``error`` also exist in alerter's lifecycle).

Problems are reported like ``alerter check`` does, all at once: a bad key or type through the
pydantic models, a bad series or value notation at the ``series``/``values`` field (with the
character it starts at), an ``alertname`` that no rule defines, an input series given twice.
"""

from __future__ import annotations

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
from alerter.ruletest.notation import NotationError, Value, expand_values, parse_series

State = Literal["pending", "firing", "resolved", "nodata", "error"]


def _text(value: Any) -> Any:
    """``values: 1`` reads as an int in YAML; promtool takes it as the notation ``1``."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class InputSeries(Model):
    series: str
    values: str = ""

    _values_text = field_validator("values", mode="before")(_text)


class ExpectedAlert(Model):
    """One alert expected at ``eval_time``: its labels (``alertname`` is added), annotations, state."""

    exp_labels: LabelMap = Field(default_factory=dict)
    exp_annotations: dict[str, str] = Field(default_factory=dict)
    exp_state: State = "firing"


class AlertTestCase(Model):
    eval_time: Duration
    alertname: str = Field(min_length=1)
    exp_alerts: list[ExpectedAlert] = Field(default_factory=list)

    @field_validator("exp_alerts", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


class ExpectedSample(Model):
    labels: str
    value: float


class PromqlTestCase(Model):
    expr: str = Field(min_length=1)
    eval_time: Duration
    exp_samples: list[ExpectedSample] = Field(default_factory=list)


class TestGroup(Model):
    name: str = ""
    interval: Duration | None = Field(default=None, gt=0)
    input_series: list[InputSeries] = Field(default_factory=list)
    alert_rule_test: list[AlertTestCase] = Field(default_factory=list)
    promql_expr_test: list[PromqlTestCase] = Field(default_factory=list)


class RuleTestFile(Model):
    """The top level of a test file."""

    rule_files: list[str] = Field(min_length=1)
    evaluation_interval: Duration = Field(default=60.0, gt=0)
    group_eval_order: list[str] = Field(default_factory=list)
    tests: list[TestGroup] = Field(min_length=1)


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


def _case_errors(doc: Document, spec: RuleTestFile, bundle: Bundle) -> Iterator[ConfigError]:
    names = {rule.alert for f in bundle.rule_files for g in f.rules.groups for rule in g.rules}
    groups = {g.name for f in bundle.rule_files for g in f.rules.groups}
    for index, name in enumerate(spec.group_eval_order):
        if name not in groups:
            where: Loc = ("group_eval_order", index)
            yield ConfigError(
                doc.location(where), field_path(where), f"no rule group `{name}`", _close(name, groups)
            )
    for gi, group in enumerate(spec.tests):
        for ci, case in enumerate(group.alert_rule_test):
            if case.alertname not in names:
                where = ("tests", gi, "alert_rule_test", ci, "alertname")
                yield ConfigError(
                    doc.location(where),
                    field_path(where),
                    f"no rule in the rule files raises `{case.alertname}`",
                    _close(case.alertname, names),
                )
        for ci, expr_case in enumerate(group.promql_expr_test):
            for si, sample in enumerate(expr_case.exp_samples):
                try:
                    parse_series(sample.labels, require_name=False)
                except NotationError as exc:
                    where = ("tests", gi, "promql_expr_test", ci, "exp_samples", si, "labels")
                    yield _notation_error(doc, where, exc)


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
    problems = config_check.config(doc, cfg)
    if problems:
        raise ConfigErrors(problems)
    return cfg


def _rules(doc: Document, spec: RuleTestFile, config: AppConfig | None, config_path: str | None) -> Bundle:
    base = Path(doc.path).parent
    missing = [
        ConfigError(
            doc.location(("rule_files", i)),
            f"rule_files[{i}]",
            f"no rule files match `{pattern}`",
            "paths are relative to the test file",
        )
        for i, pattern in enumerate(spec.rule_files)
        if expand([pattern], base)[1] or not all(p.exists() for p in expand([pattern], base)[0])
    ]
    if missing:
        raise ConfigErrors(missing)
    bundle = load(None, expand(spec.rule_files, base)[0])
    if config is None:
        return bundle
    policies = {p.name for p in config.policies}
    problems = [
        problem
        for loaded in bundle.rule_files
        for problem in config_check.rule_file(read(loaded.path, what="rule file"), policies)
    ]
    if problems:
        raise ConfigErrors(problems)
    return Bundle(config, config_path, bundle.rule_files)


def load_tests(
    path: str | Path, *, config: AppConfig | None = None, config_path: str | None = None
) -> LoadedTests:
    """Read, validate and prepare one test file; ConfigErrors lists every problem found."""
    doc = read(path, what="rule test file")
    try:
        spec = RuleTestFile.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigErrors(errors_from(exc, doc, RuleTestFile)) from None
    bundle = _rules(doc, spec, config, config_path)
    errors = list(_case_errors(doc, spec, bundle))
    series: list[list[SeriesInput]] = []
    for gi, group in enumerate(spec.tests):
        found, problems = _group_series(doc, gi, group)
        series.append(found)
        errors += problems
    if errors:
        raise ConfigErrors(errors)
    return LoadedTests(str(path), spec, bundle, series)
