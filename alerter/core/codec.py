"""Alerts as plain values and back: the one place that knows an alert's fields.

Used by the store (SQLite columns), the notification pipeline (alert JSON in its group tables),
the HTTP API and the annotation templates. The field list is read from the :class:`Alert`
dataclass, so a field added there is stored, sent, shown and restored everywhere at once.

Plain values are what JSON and SQLite hold: labels and annotations as dicts, the state as its
name, transitions as a list. A missing number (NaN) may come back as None (SQLite and strict
JSON have no NaN) and is restored as NaN; a field absent from older data takes its default. A
format that shows only some fields (the API, the notification groups) names them, so each
format keeps its keys while the conversion of every field stays here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from typing import Any

from alerter.core.model import Alert, AlertState, Labels

FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Alert))
"""Every field of an alert, in declaration order."""
NUMBERS: tuple[str, ...] = ("value", "expected", "lower", "upper", "score", "fraction")
"""The numbers an evaluation writes onto an alert (from its observation)."""
FLAP_HISTORY: tuple[str, ...] = ("transitions", "flapping")
"""What flap damping remembers across ticks: kept by the engine and the store, never notified."""
NOTIFIED: tuple[str, ...] = tuple(name for name in FIELDS if name not in FLAP_HISTORY)
"""The fields a notification group holds of an alert (its JSON has always had exactly these)."""
_FIELD_SET = frozenset(FIELDS)
_NAN_DEFAULT = frozenset(
    f.name for f in fields(Alert) if isinstance(f.default, float) and math.isnan(f.default)
)
TEMPLATE_VARIABLES: tuple[str, ...] = (
    "labels",
    "value",
    "expected",
    "lower",
    "upper",
    "score",
    "fraction",
    "since",
    "tier",
    "rule",
)
"""The names an annotation template may use (see :func:`template_context`)."""


_PLAIN: dict[str, Callable[[Alert], object]] = {
    "labels": lambda alert: dict(alert.labels),
    "annotations": lambda alert: dict(alert.annotations),
    "state": lambda alert: AlertState(alert.state).value,
    "transitions": lambda alert: [float(t) for t in alert.transitions],
    "flapping": lambda alert: bool(alert.flapping),
}
"""Fields whose plain value is not the attribute itself."""


def to_plain(alert: Alert, names: Iterable[str] = FIELDS) -> dict[str, Any]:
    """The ``names`` fields of ``alert`` (all by default), in that order, as JSON-able values.

    NaN stays a float: JSON with NaN, strict JSON and SQLite each decide what a missing number is.
    """
    out: dict[str, Any] = {}
    for name in names:
        if name not in _FIELD_SET:
            raise ValueError(f"{name!r} is not a field of Alert")
        convert = _PLAIN.get(name)
        out[name] = convert(alert) if convert is not None else getattr(alert, name)
    return out


def from_plain(data: Mapping[str, Any]) -> Alert:
    """The alert ``to_plain`` (or older data lacking later fields) describes; extra keys are ignored."""
    values: dict[str, Any] = {}
    for name in FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is None and name in _NAN_DEFAULT:
            value = math.nan
        values[name] = value
    values["labels"] = Labels(dict(data.get("labels") or {}))
    values["annotations"] = dict(data.get("annotations") or {})
    values["state"] = AlertState(data.get("state", Alert.state))
    values["transitions"] = tuple(float(t) for t in data.get("transitions") or ())
    values["flapping"] = bool(data.get("flapping", False))
    return Alert(**values)


def template_context(alert: Alert) -> dict[str, Any]:
    """What annotation templates see: ``labels``, the numbers, ``since`` (pending since), ``tier``, ``rule``."""
    context: dict[str, Any] = {
        "labels": dict(alert.labels),
        **{name: getattr(alert, name) for name in NUMBERS},
        "since": alert.active_at,
        "tier": alert.tier,
        "rule": alert.rule,
    }
    return context


__all__ = [
    "FIELDS",
    "FLAP_HISTORY",
    "NOTIFIED",
    "NUMBERS",
    "TEMPLATE_VARIABLES",
    "from_plain",
    "template_context",
    "to_plain",
]
