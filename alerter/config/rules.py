"""Pydantic models of rule files: Prometheus' ``groups``/``rules`` layout plus baselines.

A rule file is what users write most; the field names follow Prometheus (``alert``, ``expr``,
``for``, ``keep_firing_for``, ``labels``, ``annotations``) so existing rules port by adding a
``baseline:``. Values are validated here; checks that need more than one field or more than one
file (detector specs, templates, PromQL, policy references) live in ``config.check``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from alerter.config.types import AnnotationMap, Duration, LabelMap, Model


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


class Rule(Model):
    """One alerting rule evaluated per series of its expression."""

    alert: str
    expr: str
    baseline: dict[str, Any] = Field(default_factory=dict)
    when: Guard | None = None
    trigger: Trigger = Field(default_factory=Trigger)
    for_: Duration = Field(default=0.0, alias="for")
    keep_firing_for: Duration = 0.0
    labels: LabelMap = Field(default_factory=dict)
    annotations: AnnotationMap = Field(default_factory=dict)
    """Names follow the label-name rule, as Prometheus' rulefmt checks them ("invalid annotation
    name"): Alertmanager refuses an alert whose annotation is named ``runbook-url``."""
    remediate: list[str] = Field(default_factory=list)

    @field_validator("alert")
    @classmethod
    def _alert_name(cls, value: str) -> str:
        # An alert name is the value of the ``alertname`` label, and Prometheus' rulefmt asks
        # nothing more of it than to be set: ``node-down``, ``Disk/(sda) full`` are valid names.
        if not value.strip():
            raise ValueError("must not be empty (the alert's name, e.g. TTFTAnomaly)")
        return value

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

    @field_validator("baseline", mode="before")
    @classmethod
    def _baseline(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping such as {{detector: stl}}, got {type(value).__name__}")
        return value


class RuleGroup(Model):
    """Rules evaluated together at one interval; each group is one scheduler job."""

    name: str = Field(min_length=1)
    interval: Duration = Field(default=60.0, gt=0)
    labels: LabelMap = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("rules", mode="before")
    @classmethod
    def _no_rules(cls, value: Any) -> Any:
        # ``rules:`` with nothing after it is an empty group, as Prometheus reads it.
        return [] if value is None else value


class RuleFile(Model):
    """The top level of a rule file."""

    groups: list[RuleGroup] = Field(default_factory=list)
