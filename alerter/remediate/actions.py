"""What an action is, and the pure arithmetic of its absolute target.

Used by ``remediate.kubernetes`` (which reads current values and applies the result) and by
``remediate.runner`` (which plans, audits and reverts). Actions compute an absolute target from
the current value (replicas = current + step, bounded), so applying the same plan twice gives
the same cluster state and a retry after an unknown outcome cannot overshoot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OBJECT_REF_HINT = 'use "namespace/name", e.g. "inference/vllm-llama3"'


def split_ref(ref: str, what: str) -> tuple[str, str]:
    """``"namespace/name"`` -> (namespace, name), with an error naming the field on bad input."""
    parts = ref.split("/")
    if len(parts) != 2 or not all(parts) or any(p != p.strip() for p in parts):
        raise ValueError(f"{what} {ref!r} is not a namespaced reference ({OBJECT_REF_HINT})")
    return parts[0], parts[1]


@dataclass(frozen=True)
class ScaleSpec:
    """Scale a Deployment by ``step`` replicas or by ``factor``, within [min_replicas, max_replicas]."""

    deployment: str
    max_replicas: int
    step: int | None = None
    factor: float | None = None
    min_replicas: int = 1

    def __post_init__(self) -> None:
        split_ref(self.deployment, "scale.deployment")
        if (self.step is None) == (self.factor is None):
            raise ValueError("scale needs exactly one of step or factor")
        if self.step is not None and self.step == 0:
            raise ValueError("scale.step must not be 0")
        if self.factor is not None and (self.factor <= 0 or self.factor == 1):
            raise ValueError(f"scale.factor must be > 0 and != 1, got {self.factor}")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"scale bounds must satisfy 0 <= min_replicas <= max_replicas, "
                f"got {self.min_replicas} and {self.max_replicas}"
            )

    @property
    def target(self) -> tuple[str, str]:
        return split_ref(self.deployment, "scale.deployment")


@dataclass(frozen=True)
class RouteSpec:
    """Give ``backend`` ``weight`` percent of rule ``rule`` of an HTTPRoute; the others share the rest."""

    httproute: str
    backend: str
    rule: int = 0
    weight: int = 100

    def __post_init__(self) -> None:
        split_ref(self.httproute, "route.httproute")
        if self.rule < 0:
            raise ValueError(f"route.rule must be >= 0, got {self.rule}")
        if not 0 <= self.weight <= 100:
            raise ValueError(f"route.weight is a percentage in [0, 100], got {self.weight}")
        if not self.backend:
            raise ValueError("route.backend must name a backendRef of the rule")

    @property
    def target(self) -> tuple[str, str]:
        return split_ref(self.httproute, "route.httproute")


@dataclass(frozen=True)
class ConfigMapSpec:
    """Set ``key`` of a ConfigMap-driven router to ``value``; optionally restart a Deployment to load it."""

    configmap: str
    key: str
    value: str
    restart: str | None = None

    def __post_init__(self) -> None:
        split_ref(self.configmap, "configmap.configmap")
        if not self.key:
            raise ValueError("configmap.key must not be empty")
        if self.restart is not None:
            split_ref(self.restart, "configmap.restart")

    @property
    def target(self) -> tuple[str, str]:
        return split_ref(self.configmap, "configmap.configmap")


ActionSpec = ScaleSpec | RouteSpec | ConfigMapSpec


def kind_of(spec: ActionSpec) -> str:
    """The object kind an action changes, for audit keys and allow-lists."""
    return {ScaleSpec: "deployment", RouteSpec: "httproute", ConfigMapSpec: "configmap"}[type(spec)]


def target_key(spec: ActionSpec) -> str:
    """``kind/namespace/name``: the unit cooldowns, rate limits and in-flight checks count per."""
    namespace, name = spec.target
    return f"{kind_of(spec)}/{namespace}/{name}"


def scale_target(current: int, spec: ScaleSpec) -> int:
    """The absolute replica count to set: current + step, or ceil(current * factor), bounded."""
    if spec.step is not None:
        desired = current + spec.step
    else:
        assert spec.factor is not None
        raw = current * spec.factor
        desired = math.ceil(raw - 1e-9) if spec.factor > 1 else math.floor(raw + 1e-9)
    return max(spec.min_replicas, min(spec.max_replicas, desired))


def route_weights(names: list[str], current: list[int], spec: RouteSpec) -> list[int]:
    """Weights after the flip: ``spec.backend`` gets ``spec.weight``; the others split 100 - weight
    in proportion to their current weights (equally when those are all zero)."""
    if spec.backend not in names:
        raise ValueError(f"backend {spec.backend!r} is not a backendRef of rule {spec.rule} (has {names})")
    chosen = names.index(spec.backend)
    others = [i for i in range(len(names)) if i != chosen]
    rest = 100 - spec.weight
    out = [0] * len(names)
    out[chosen] = spec.weight
    total = sum(current[i] for i in others)
    shares = [(current[i] / total if total else 1 / len(others)) for i in others] if others else []
    given = [math.floor(rest * share) for share in shares]
    for j in range(rest - sum(given)):
        given[j % len(given)] += 1
    for i, amount in zip(others, given, strict=True):
        out[i] = amount
    return out


@dataclass(frozen=True)
class Change:
    """What one action did (or would do) to one object: enough to explain and to revert it.

    ``previous`` and ``desired`` are JSON values (an int for replicas, a list of weights, a
    string or None for a ConfigMap key); ``via`` says which object carried the change
    (``deployment/scale``, ``hpa``, ``scaledobject``, ``httproute``, ``configmap``).
    """

    via: str
    namespace: str
    name: str
    previous: Any
    desired: Any
    summary: str
    applied: bool = False
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def changes_anything(self) -> bool:
        return bool(self.previous != self.desired)

    def to_json(self) -> dict[str, Any]:
        return {
            "via": self.via,
            "namespace": self.namespace,
            "name": self.name,
            "previous": self.previous,
            "desired": self.desired,
            "summary": self.summary,
            "applied": self.applied,
            "notes": list(self.notes),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            via=data["via"],
            namespace=data["namespace"],
            name=data["name"],
            previous=data["previous"],
            desired=data["desired"],
            summary=data["summary"],
            applied=bool(data.get("applied", False)),
            notes=tuple(data.get("notes", ())),
            extra=dict(data.get("extra", {})),
        )
