"""The in-memory actuator drives the same runner as the cluster one, for backtests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerter.core.errors import ActionError
from alerter.core.model import Alert, AlertState, Labels
from alerter.remediate.actions import ConfigMapSpec, RouteSpec, ScaleSpec
from alerter.remediate.audit import AuditLog
from alerter.remediate.policy import Limits, Mode, Switches
from alerter.remediate.recording import RecordingActuator
from alerter.remediate.runner import Policy, Runner
from alerter.store.sqlite import Store

T0 = 1_800_000_000.0
FIRING = Alert(rule="TTFT", group="g", labels=Labels(m="x"), state=AlertState.FIRING, fired_at=T0 - 600, value=2.0,
               lower=0.0, upper=1.0)  # fmt: skip
RESOLVED = Alert(rule="TTFT", group="g", labels=Labels(m="x"), state=AlertState.RESOLVED, value=0.5)


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:") as s:
        yield s


def test_backtest_run_scales_verifies_and_reverts(store: Store) -> None:
    actuator = RecordingActuator(replicas={"inference/vllm": 2})
    policy = Policy(Limits(name="p", mode=Mode.AUTO, revert_on_resolve=True),
                    ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))  # fmt: skip
    runner = Runner(AuditLog(store), actuator, [policy], Switches(allow=("inference",)))
    assert [e.decision for e in runner.step([(FIRING, ["p"])], T0)] == ["taken"]
    assert actuator.replicas["inference/vllm"] == 4
    assert [e.decision for e in runner.step([(RESOLVED, ["p"])], T0 + 300)] == ["effective", "reverted"]
    assert actuator.replicas["inference/vllm"] == 2
    assert [(t, c.previous, c.desired) for t, c in actuator.applied] == [(T0, 2, 4), (T0 + 300, 4, 2)]


def test_route_and_configmap_and_human_changes() -> None:
    actuator = RecordingActuator(routes={"inference/chat": [("main", 100), ("backup", 0)]},
                                 configmaps={"inference/router": {}})  # fmt: skip
    route = actuator.apply(actuator.plan(RouteSpec(httproute="inference/chat", backend="backup")), T0)
    assert actuator.routes["inference/chat"] == [("main", 0), ("backup", 100)]
    assert actuator.revert(route, T0 + 1)[0]
    assert actuator.routes["inference/chat"] == [("main", 100), ("backup", 0)]
    cm = actuator.apply(actuator.plan(ConfigMapSpec(configmap="inference/router", key="k", value="v")), T0)
    actuator.configmaps["inference/router"]["k"] = "human"
    reverted, message = actuator.revert(cm, T0 + 1)
    assert not reverted and "'human'" in message


def test_unknown_targets_fail_like_a_404() -> None:
    with pytest.raises(ActionError) as caught:
        RecordingActuator().plan(ScaleSpec(deployment="a/b", step=1, max_replicas=3))
    assert (caught.value.reason, caught.value.retryable) == ("not-found", False)
    assert RecordingActuator(annotations_of={"a/b": {"x": "y"}}).annotations(
        ScaleSpec(deployment="a/b", step=1, max_replicas=3)
    ) == {"x": "y"}
