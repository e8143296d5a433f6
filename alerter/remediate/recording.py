"""An actuator over an in-memory picture of the targets, for backtests and ``alerter test``.

``alerter backtest`` replays history through the same runner with this actuator in place of
``remediate.kubernetes.KubeActuator``: plans, gates, audit and messages are exactly those of a
live run, while changes only move the values held here and are appended to ``applied``, so a
backtest can report "would have scaled 2 -> 4 at 03:12, reverted at 03:40".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from alerter.core.errors import ActionError
from alerter.remediate.actions import (
    ActionSpec,
    Change,
    RouteSpec,
    ScaleSpec,
    route_weights,
    scale_target,
)


@dataclass
class RecordingActuator:
    """Targets keyed by ``namespace/name``; an action on an unknown target fails as a 404 would.

    ``replicas``: Deployment -> replicas. ``routes``: HTTPRoute -> backend names and weights of
    the rule the policy names. ``configmaps``: ConfigMap -> data. ``annotations_of``: object ->
    annotations (e.g. the opt-out annotation).
    """

    replicas: dict[str, int] = field(default_factory=dict)
    routes: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    configmaps: dict[str, dict[str, str]] = field(default_factory=dict)
    annotations_of: dict[str, dict[str, str]] = field(default_factory=dict)
    applied: list[tuple[float, Change]] = field(default_factory=list)

    def annotations(self, spec: ActionSpec) -> Mapping[str, str]:
        return dict(self.annotations_of.get(_ref(spec), {}))

    def plan(self, spec: ActionSpec) -> Change:
        ref = _ref(spec)
        namespace, name = spec.target
        if isinstance(spec, ScaleSpec):
            current = self._get(self.replicas, ref, "deployment")
            desired = scale_target(current, spec)
            return Change("deployment/scale", namespace, name, current, desired,
                          f"scale deployment {ref} {current} -> {desired} replicas")  # fmt: skip
        if isinstance(spec, RouteSpec):
            refs = self._get(self.routes, ref, "httproute")
            names, weights = [n for n, _ in refs], [w for _, w in refs]
            try:
                desired_weights = route_weights(names, weights, spec)
            except ValueError as exc:
                raise ActionError(f"httproute {ref}: {exc}", retryable=False, reason="invalid") from exc
            return Change("httproute", namespace, name, weights, desired_weights,
                          f"route {spec.weight}% of httproute {ref} rule {spec.rule} to {spec.backend}",
                          extra={"rule": spec.rule, "names": names})  # fmt: skip
        data = self._get(self.configmaps, ref, "configmap")
        return Change("configmap", namespace, name, data.get(spec.key), spec.value,
                      f"set {spec.key}={spec.value!r} in configmap {ref}", extra={"key": spec.key})  # fmt: skip

    def apply(self, change: Change, now: float) -> Change:
        self._set(change, change.desired)
        done = replace(change, applied=True)
        self.applied.append((now, done))
        return done

    def revert(self, change: Change, now: float) -> tuple[bool, str]:
        current = self._read(change)
        where = f"{change.via} {change.namespace}/{change.name}"
        if current != change.desired:
            return False, f"left as is: {where} is now {current!r}, not the {change.desired!r} the action set"
        self.apply(replace(change, previous=change.desired, desired=change.previous), now)
        return True, f"reverted {where} {change.desired!r} -> {change.previous!r}"

    def _read(self, change: Change) -> Any:
        ref = f"{change.namespace}/{change.name}"
        if change.via == "deployment/scale":
            return self.replicas[ref]
        if change.via == "httproute":
            return [w for _, w in self.routes[ref]]
        return self.configmaps[ref].get(str(change.extra["key"]))

    def _set(self, change: Change, value: Any) -> None:
        ref = f"{change.namespace}/{change.name}"
        if change.via == "deployment/scale":
            self.replicas[ref] = int(value)
        elif change.via == "httproute":
            self.routes[ref] = [(n, int(w)) for (n, _), w in zip(self.routes[ref], value, strict=True)]
        elif value is None:
            self.configmaps[ref].pop(str(change.extra["key"]), None)
        else:
            self.configmaps[ref][str(change.extra["key"])] = str(value)

    @staticmethod
    def _get(table: Mapping[str, Any], ref: str, kind: str) -> Any:
        if ref not in table:
            raise ActionError(f"cannot read {kind} {ref}: not found", retryable=False, reason="not-found")
        return table[ref]


def _ref(spec: ActionSpec) -> str:
    namespace, name = spec.target
    return f"{namespace}/{name}"
