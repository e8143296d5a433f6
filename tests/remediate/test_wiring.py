"""From alerter.yaml models to a working runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alerter.config.engine import AppConfig
from alerter.config.engine import Policy as PolicyConfig
from alerter.core.model import Alert, AlertState, Labels
from alerter.remediate.actions import ConfigMapSpec, RouteSpec, ScaleSpec
from alerter.remediate.kubernetes import Timeouts
from alerter.remediate.policy import Mode
from alerter.remediate.wiring import (
    build_runner,
    policy_from_config,
    switches_from_config,
    timeouts_from_config,
)
from alerter.store.sqlite import Store
from alerter.testing.kubernetes import Cluster, deployment

T0 = 1_800_000_000.0


def config(**extra: Any) -> AppConfig:
    return AppConfig.model_validate(
        {
            "prometheus": {"url": "http://127.0.0.1:9090"},
            "policies": [
                {"name": "scale-vllm", "mode": "auto", "scale": {"deployment": "inference/vllm", "step": 2,
                                                                 "max_replicas": 16},
                 "cooldown": "10m", "max_actions": {"count": 3, "per": "1h"}, "verify": {"within": "10m"},
                 "circuit_breaker": {"after_ineffective": 2}, "revert_on_resolve": True,
                 "budget": {"chain_gap": "30m", "max_per_chain": 3, "max_per_day": 6}},
                {"name": "fallback", "mode": "approve",
                 "route": {"httproute": "inference/chat", "backend": "backup", "weight": 100}},
                {"name": "router", "configmap": {"configmap": "inference/router", "key": "model", "value": "8b",
                                                 "restart": "inference/router"}},
            ],
            "remediation": {"allow_namespaces": ["inference"], "max_concurrent": 2,
                            "lease": {"namespace": "alerter", "name": "alerter", "duration": "15s"}},
            **extra,
        }
    )  # fmt: skip


def test_policies_convert_field_by_field() -> None:
    scale, route, router = (policy_from_config(p) for p in config().policies)
    assert scale.action == ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16)
    assert (scale.limits.mode, scale.limits.cooldown, scale.limits.max_actions, scale.limits.per) == (
        Mode.AUTO, 600.0, 3, 3600.0)  # fmt: skip
    assert (scale.limits.verify_within, scale.limits.after_ineffective, scale.limits.revert_on_resolve) == (
        600.0, 2, True)  # fmt: skip
    assert route.action == RouteSpec(httproute="inference/chat", backend="backup", weight=100)
    assert route.limits.mode is Mode.APPROVE
    assert router.action == ConfigMapSpec(configmap="inference/router", key="model", value="8b",
                                          restart="inference/router")  # fmt: skip
    assert router.limits.mode is Mode.DRY_RUN, "dry-run unless the user says otherwise"
    switches = switches_from_config(config().remediation)
    assert (switches.paused, switches.max_concurrent, switches.allow) == (False, 2, ("inference",))


def test_budgets_convert_and_default_to_two_per_incident_chain_and_four_a_day() -> None:
    scale, route, _ = (policy_from_config(p) for p in config().policies)
    assert (scale.limits.chain_gap, scale.limits.max_per_chain, scale.limits.max_per_day) == (1800.0, 3, 6)
    assert (route.limits.chain_gap, route.limits.max_per_chain, route.limits.max_per_day) == (3600.0, 2, 4)


def test_kubernetes_timeouts_convert_and_default_to_5s_and_10s() -> None:
    assert timeouts_from_config(config().remediation) == Timeouts(connect=5.0, read=10.0)
    remediation = {"kubernetes": {"connect_timeout": "2s", "read_timeout": "1m"}}
    assert timeouts_from_config(config(remediation=remediation).remediation) == Timeouts(2.0, 60.0)
    refused = r"remediation.kubernetes.read_timeout\n  Input should be greater than 0"
    with pytest.raises(ValidationError, match=refused):
        config(remediation={"kubernetes": {"read_timeout": "0s"}})


def test_route_weight_beyond_a_percentage_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match=r"route.weight\n  Input should be less than or equal to 100"):
        PolicyConfig.model_validate(
            {"name": "flip", "route": {"httproute": "a/b", "backend": "x", "weight": 500}}
        )


def test_built_runner_acts_as_lease_holder(cluster: Cluster, api_client: Any, tmp_path: Path) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 2))
    with Store(tmp_path / "state.db", synchronous="NORMAL") as store:
        runner = build_runner(config(), store, identity="pod-a", api_client=api_client)
        firing = Alert(rule="TTFT", group="g", labels=Labels(), state=AlertState.FIRING, fired_at=T0 - 60, value=2.0,
                       lower=0.0, upper=1.0)  # fmt: skip
        (event,) = runner.step([(firing, ["scale-vllm"])], T0)
    assert event.decision == "taken"
    assert cluster.get("deployments", "inference", "vllm")["spec"]["replicas"] == 4
    assert cluster.get("leases", "alerter", "alerter")["spec"]["holderIdentity"] == "pod-a"


def test_unusable_credentials_are_reported(tmp_path: Path) -> None:
    from alerter.core.errors import ActionError

    cfg = config(remediation={"kubernetes": {"kubeconfig": str(tmp_path / "none")}})
    with Store(":memory:") as store, pytest.raises(ActionError, match="cannot load Kubernetes credentials"):
        build_runner(cfg, store, identity="pod-a")


def test_runners_built_with_one_lock_decide_under_it(
    cluster: Cluster, api_client: Any, tmp_path: Path
) -> None:
    """What a reload relies on: the new runner waits for a decision the old one is still making."""
    import threading

    cluster.put("deployments", deployment("inference", "vllm", 2))
    lock = threading.Lock()
    with Store(tmp_path / "state.db", synchronous="NORMAL") as store:
        old = build_runner(config(), store, identity="pod-a", api_client=api_client, lock=lock)
        new = build_runner(config(), store, identity="pod-a", api_client=api_client, lock=lock)
        assert old.lock is lock and new.lock is lock
        firing = Alert(rule="TTFT", group="g", labels=Labels(), state=AlertState.FIRING, fired_at=T0 - 60, value=2.0,
                       lower=0.0, upper=1.0)  # fmt: skip
        done = threading.Event()
        with lock:  # the old runner is mid-decision
            worker = threading.Thread(target=lambda: (new.step([(firing, ["scale-vllm"])], T0), done.set()))
            worker.start()
            assert not done.wait(0.5), "the new runner's tick ran while the old runner held the lock"
        worker.join(10)
        assert done.is_set()
    assert cluster.get("deployments", "inference", "vllm")["spec"]["replicas"] == 4
