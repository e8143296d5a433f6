"""Pure planning: absolute targets, weight splits and validation of action specs."""

from __future__ import annotations

import pytest

from alerter.remediate.actions import (
    Change,
    ConfigMapSpec,
    RouteSpec,
    ScaleSpec,
    route_weights,
    scale_target,
    split_ref,
    target_key,
)


@pytest.mark.parametrize(
    ("current", "spec", "expected"),
    [
        (2, ScaleSpec(deployment="a/b", step=2, max_replicas=16), 4),
        (15, ScaleSpec(deployment="a/b", step=2, max_replicas=16), 16),
        (3, ScaleSpec(deployment="a/b", factor=1.5, max_replicas=16), 5),
        (4, ScaleSpec(deployment="a/b", factor=1.5, max_replicas=16), 6),
        (0, ScaleSpec(deployment="a/b", step=1, min_replicas=2, max_replicas=4), 2),
        (5, ScaleSpec(deployment="a/b", step=-2, min_replicas=4, max_replicas=8), 4),
        (5, ScaleSpec(deployment="a/b", factor=0.5, min_replicas=1, max_replicas=8), 2),
    ],
)
def test_scale_target_is_absolute_and_bounded(current: int, spec: ScaleSpec, expected: int) -> None:
    assert scale_target(current, spec) == expected


@pytest.mark.parametrize(
    ("names", "current", "backend", "weight", "expected"),
    [
        (["main", "backup"], [100, 0], "backup", 100, [0, 100]),
        (["main", "backup"], [90, 10], "backup", 50, [50, 50]),
        (["a", "b", "backup"], [1, 1, 1], "backup", 80, [10, 10, 80]),
        (["a", "b", "backup"], [3, 1, 0], "backup", 20, [60, 20, 20]),
        (["a", "b", "backup"], [0, 0, 5], "backup", 0, [50, 50, 0]),
        (["a", "b", "c", "backup"], [1, 1, 1, 0], "backup", 0, [34, 33, 33, 0]),
        (["backup"], [1], "backup", 100, [100]),
    ],
)
def test_route_weights(names: list[str], current: list[int], backend: str, weight: int,
                       expected: list[int]) -> None:  # fmt: skip
    out = route_weights(names, current, RouteSpec(httproute="a/r", backend=backend, weight=weight))
    assert out == expected and sum(out) == 100


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ScaleSpec(deployment="vllm", step=1, max_replicas=4), "not a namespaced reference"),
        (lambda: ScaleSpec(deployment="a/b", max_replicas=4), "exactly one of step or factor"),
        (
            lambda: ScaleSpec(deployment="a/b", step=1, factor=2.0, max_replicas=4),
            "exactly one of step or factor",
        ),
        (lambda: ScaleSpec(deployment="a/b", step=0, max_replicas=4), "step must not be 0"),
        (lambda: ScaleSpec(deployment="a/b", factor=1.0, max_replicas=4), "factor must be > 0 and != 1"),
        (lambda: ScaleSpec(deployment="a/b", step=1, min_replicas=5, max_replicas=4), "min_replicas <= max"),
        (lambda: RouteSpec(httproute="a/r", backend="x", weight=101), "percentage in \\[0, 100\\]"),
        (lambda: RouteSpec(httproute="a/r", backend="x", rule=-1), "rule must be >= 0"),
        (lambda: RouteSpec(httproute="a/r", backend=""), "must name a backendRef"),
        (lambda: ConfigMapSpec(configmap="a/c", key="", value="v"), "key must not be empty"),
        (lambda: ConfigMapSpec(configmap="a/c", key="k", value="v", restart="x"), "configmap.restart"),
    ],
)
def test_bad_specs_are_refused_with_the_field(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_unknown_backend_is_named() -> None:
    with pytest.raises(ValueError, match=r"backend 'x' is not a backendRef of rule 0 \(has \['a'\]\)"):
        route_weights(["a"], [1], RouteSpec(httproute="n/r", backend="x"))


def test_targets_and_refs() -> None:
    assert split_ref("inference/vllm", "f") == ("inference", "vllm")
    assert target_key(RouteSpec(httproute="inference/chat", backend="b")) == "httproute/inference/chat"
    assert target_key(ConfigMapSpec(configmap="inference/r", key="k", value="v")) == "configmap/inference/r"
    with pytest.raises(ValueError, match="f ' a/b' is not"):
        split_ref(" a/b", "f")


def test_change_round_trips_through_json() -> None:
    change = Change("httproute", "inference", "chat", [90, 10], [0, 100], "route", True, ("n",),
                    {"rule": 0, "names": ["a", "b"]})  # fmt: skip
    assert Change.from_json(change.to_json()) == change
    assert change.changes_anything and not Change("hpa", "a", "b", 3, 3, "s").changes_anything
