"""Pydantic models of rule files: Prometheus' ``groups``/``rules`` layout plus baselines.

A rule file is what users write most, and most users arrive with Prometheus rule files. So a
file Prometheus accepts loads here and means what it means in Prometheus: an alerting rule
without ``baseline:`` is a threshold rule (active while ``expr`` returns a sample, with ``for``
and ``keep_firing_for`` as Prometheus applies them), and a recording rule (``record:``) is
accepted and left to Prometheus, which evaluates it. ``baseline:`` (even ``baseline: {}``) is
what alerter adds: it turns the rule into anomaly detection on the value of ``expr``.

Values are validated here; checks that need more than one field or more than one file (detector
specs, templates, PromQL, policy references) live in ``config.check``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from alerter.config.types import AnnotationMap, Duration, LabelMap, Model
from alerter.detect import units

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
ALERTING = "alerting rule"
RECORDING = "recording rule"
"""The tags pydantic puts in an error's location to say which kind of rule it validated;
``config.validate`` drops them from the field path a user reads."""
BASELINE_ONLY = ("trigger", "when")
"""Keys that shape anomaly detection and mean nothing to a threshold rule."""


class Guard(Model):
    """Static guard (``when:``): the alert may fire only while the value is beyond these limits.

    Typical use is an SLO: a latency anomaly that stays under 500 ms is not worth a page.
    """

    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _some_limit(self) -> Guard:
        if self.above is None and self.below is None:
            raise ValueError("give `above`, `below` or both (or remove `when`)")
        return self

    def holds(self, value: float) -> bool:
        """True when ``value`` is beyond every configured limit (NaN never holds)."""
        if value != value:
            return False
        if self.above is not None and not value > self.above:
            return False
        return not (self.below is not None and not value < self.below)


class Trigger(Model):
    """How much of the recent window must be out of band before a tick counts as anomalous."""

    window: Duration = Field(default=300.0, gt=0)
    fraction: float = Field(default=0.8)

    @field_validator("fraction")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError(f"must be in (0, 1], got {value} (0.8 means 80% of the window out of band)")
        return value


class _Expression(Model):
    """What both kinds of rule share: a PromQL expression and extra labels."""

    expr: str
    labels: LabelMap = Field(default_factory=dict)

    @field_validator("expr", mode="before")
    @classmethod
    def _expr_number(cls, value: Any) -> Any:
        # ``expr: 1`` is a YAML number; Prometheus reads the scalar as the expression text.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("expr")
    @classmethod
    def _expr(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty (a PromQL expression)")
        return value


class RecordingRule(_Expression):
    """A recording rule: accepted so that Prometheus rule files load unchanged.

    Prometheus evaluates recording rules and stores their series; alerter's engine reads those
    series like any other and never evaluates a recording rule itself. ``alerter test`` does
    evaluate them, as promtool does, because alert rules under test may read them.
    """

    record: str

    @field_validator("record")
    @classmethod
    def _record(cls, value: str) -> str:
        # rulefmt: "invalid recording rule name" unless it is a valid metric name.
        if not METRIC_NAME.match(value):
            raise ValueError(
                f"invalid recording rule name {value!r} (a metric name: letters, digits, _ and :, "
                "not starting with a digit, e.g. job:http_errors:rate5m)"
            )
        return value


BASELINE_KEEP_FIRING = 30 * 60.0
"""``keep_firing_for`` of a baseline rule that does not set it (see ``Rule.keeps_firing_for``)."""


class Rule(_Expression):
    """One alerting rule, evaluated per series of its expression.

    Without ``baseline`` it is a Prometheus threshold rule: every series ``expr`` returns is
    active. With ``baseline`` (``{}`` for all defaults) each series is judged against its
    fitted baseline, and ``trigger`` and ``when`` shape that judgement.
    """

    alert: str
    baseline: dict[str, Any] | None = None
    """None: a threshold rule. A mapping (empty for the defaults): anomaly detection."""
    when: Guard | None = None
    trigger: Trigger = Field(default_factory=Trigger)
    for_: Duration = Field(default=0.0, alias="for")
    keep_firing_for: Duration = 0.0
    annotations: AnnotationMap = Field(default_factory=dict)
    """Names follow the label-name rule, as Prometheus' rulefmt checks them ("invalid annotation
    name"): Alertmanager refuses an alert whose annotation is named ``runbook-url``."""
    remediate: list[str] = Field(default_factory=list)
    unit: str | None = None
    """What the values measure (``seconds``, ``bytes``, ``ratio``, ``percent``, ``usd``, ``tokens``,
    ``requests/s`` or free text), for the numbers in messages; omitted: inferred from the metric
    names in ``expr`` (``config.units``), or none when unsure."""

    @property
    def keeps_firing_for(self) -> float:
        """``keep_firing_for`` as the rule runs: as written, or for a baseline rule that does not
        write it, ``BASELINE_KEEP_FIRING``.

        An anomaly that lets go for a few minutes and comes back is one incident to the person
        paged, not two: without this a weekend a young baseline has not seen, or a noisy recovery,
        paged every few minutes. A threshold rule keeps Prometheus' default of 0, and so does a
        ``detector: static`` baseline: its fixed bounds are a threshold the user chose, with no
        fitted baseline to be wrong about.
        """
        if (
            self.baseline is None
            or self.baseline.get("detector") == "static"
            or "keep_firing_for" in self.model_fields_set
        ):
            return self.keep_firing_for
        return BASELINE_KEEP_FIRING

    @model_validator(mode="before")
    @classmethod
    def _present_baseline(cls, data: Any) -> Any:
        # rulefmt: "only one of 'record' and 'alert' must be set".
        if isinstance(data, dict) and "record" in data:
            raise ValueError(
                "a rule has either `alert` (an alerting rule) or `record` (a recording rule), "
                "not both (split it into two rules)"
            )
        # ``baseline:`` written with nothing after it is YAML null, but the key is there: the
        # user asked for anomaly detection with every default, as ``baseline: {}`` does.
        if isinstance(data, dict) and "baseline" in data and data["baseline"] is None:
            return {**data, "baseline": {}}
        return data

    @field_validator("alert")
    @classmethod
    def _alert_name(cls, value: str) -> str:
        # An alert name is the value of the ``alertname`` label, and Prometheus' rulefmt asks
        # nothing more of it than to be set: ``node-down``, ``Disk/(sda) full`` are valid names.
        if not value.strip():
            raise ValueError("must not be empty (the alert's name, e.g. TTFTAnomaly)")
        return value

    @field_validator("baseline", mode="before")
    @classmethod
    def _baseline(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"expected a mapping such as {{detector: stl}}, got {type(value).__name__}")
        return value

    @field_validator(*BASELINE_ONLY)
    @classmethod
    def _needs_baseline(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for keys written in the file; ``baseline`` is declared first, so it is in
        # ``info.data`` unless it failed validation itself.
        if "baseline" in info.data and info.data["baseline"] is None:
            raise ValueError(
                f"`{info.field_name}` applies to anomaly detection, and this rule has no `baseline:` "
                "(add `baseline: {}` to judge the value against its baseline, or write the "
                "condition into `expr`, e.g. `expr: my_metric > 0.5`)"
            )
        return value

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str | None) -> str | None:
        if value is not None:
            units.parse(value)  # raises ValueError saying what a unit may be
        return value

    @property
    def is_threshold(self) -> bool:
        """A Prometheus threshold rule: no ``baseline:``, every returned series is active."""
        return self.baseline is None


def _kind(value: Any) -> str:
    """Which model validates one entry of ``rules:``: recording rules are the ones with ``record``."""
    if isinstance(value, RecordingRule) or (
        isinstance(value, dict) and "record" in value and "alert" not in value
    ):
        return RECORDING
    return ALERTING


RULE_KINDS: dict[str, type[Model]] = {ALERTING: Rule, RECORDING: RecordingRule}

AnyRule = Annotated[
    Annotated[Rule, Tag(ALERTING)] | Annotated[RecordingRule, Tag(RECORDING)], Discriminator(_kind)
]


class RuleGroup(Model):
    """Rules evaluated together at one interval; each group is one scheduler job."""

    name: str = Field(min_length=1)
    interval: Duration = Field(default=60.0, gt=0)
    query_offset: Duration = 0.0
    """Evaluate as of this long ago, as Prometheus' ``query_offset`` does for data that arrives late."""
    limit: int = Field(default=0, ge=0)
    """At most this many alerts per rule; beyond it the rule fails, as in Prometheus. 0: no limit."""
    labels: LabelMap = Field(default_factory=dict)
    rules: list[AnyRule] = Field(default_factory=list)

    @field_validator("rules", mode="before")
    @classmethod
    def _no_rules(cls, value: Any) -> Any:
        # ``rules:`` with nothing after it is an empty group, as Prometheus reads it.
        return [] if value is None else value

    @property
    def alerting(self) -> list[Rule]:
        """The alerting rules, in file order: what the engine evaluates."""
        return [rule for rule in self.rules if isinstance(rule, Rule)]

    @property
    def recording(self) -> list[RecordingRule]:
        """The recording rules, in file order: evaluated by Prometheus (and by ``alerter test``)."""
        return [rule for rule in self.rules if isinstance(rule, RecordingRule)]


class RuleFile(Model):
    """The top level of a rule file."""

    groups: list[RuleGroup] = Field(default_factory=list)
