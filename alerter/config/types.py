"""Field types shared by the config models: durations, label names, label matchers.

Kept apart from the models so that the rule-file and engine-config models read as plain
declarations; every type here turns a bad value into a ValueError whose text is the hint the
user sees next to the file position.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, model_validator

from alerter.core.durations import check_bounded, format_duration, parse_duration

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class Model(BaseModel):
    """Base of every config model: frozen, unknown keys rejected, YAML names as aliases."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 5m or 1h, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return check_bounded(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 30s, 5m or 1h, got {type(value).__name__}")
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]
"""Seconds, written in YAML as a Prometheus duration (``30s``, ``1h30m``, ``21d``)."""


def _label_name(value: Any) -> str:
    if not isinstance(value, str) or not LABEL_NAME.match(value):
        raise ValueError(
            f"invalid label name {value!r} (use letters, digits and _, not starting with a digit)"
        )
    return value


LabelName = Annotated[str, BeforeValidator(_label_name)]


def _label_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping of label names to values, got {type(value).__name__}")
    out: dict[str, str] = {}
    for key, item in value.items():
        _label_name(key)
        if isinstance(item, Mapping | list):
            raise ValueError(f"label {key!r} must be a string, got {type(item).__name__}")
        out[str(key)] = "" if item is None else str(item)
    return out


LabelMap = Annotated[dict[str, str], BeforeValidator(_label_map)]


def _annotation_map(value: Any) -> Any:
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str) or not LABEL_NAME.match(k)]
        if bad:
            raise ValueError(
                f"invalid annotation name {bad[0]!r} (use letters, digits and _, not starting with a digit; "
                "e.g. runbook_url)"
            )
    return value


AnnotationMap = Annotated[dict[str, str], BeforeValidator(_annotation_map)]
"""Annotation names follow the label-name rule, as Prometheus' rulefmt checks them."""

_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"\s]*))\s*$')


class Matcher(Model):
    """One Alertmanager-style label matcher: ``severity="page"``, ``model_name=~"llama.*"``."""

    name: str
    op: str
    value: str

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        match = _MATCHER.match(data)
        if not match:
            raise ValueError(f'invalid matcher {data!r} (write name="value"; operators are =, !=, =~, !~)')
        name, op, quoted, bare = match.groups()
        value = bytes(quoted, "utf-8").decode("unicode_escape") if quoted is not None else bare
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r} in matcher: {exc}") from None
        return {"name": name, "op": op, "value": value}

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Alertmanager semantics: a missing label matches as the empty string; regexes are anchored."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def matches_all(matchers: list[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)
