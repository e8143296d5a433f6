"""The demo cluster answers the real kubernetes client the way remediation needs it to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from alerter.core.errors import ActionError
from alerter.remediate.actions import ScaleSpec
from alerter.remediate.kubernetes import KubeActuator, connect
from alerter.remediate.lease import LeaseLock
from alerter.testing.kubernetes import DemoCluster, write_kubeconfig


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[DemoCluster, object]]:
    demo = DemoCluster().start()
    demo.add_deployment("inference", "vllm-llama3", 2)
    api = connect(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig.yaml", demo.url)))
    yield demo, api
    demo.stop()


def test_scale_plan_reads_the_deployment_and_apply_patches_it(cluster: tuple[DemoCluster, object]) -> None:
    demo, api = cluster
    actuator = KubeActuator(api)
    spec = ScaleSpec(deployment="inference/vllm-llama3", step=2, max_replicas=8)
    change = actuator.plan(spec)
    assert (change.via, change.previous, change.desired) == ("deployment/scale", 2, 4)
    assert actuator.read(change) == 2
    assert demo.replicas("inference", "vllm-llama3") == 2, "planning changes nothing"
    actuator.apply(change, 1_000.0)
    assert demo.replicas("inference", "vllm-llama3") == 4


def test_lease_is_created_then_renewed(cluster: tuple[DemoCluster, object]) -> None:
    _, api = cluster
    lock = LeaseLock(api, namespace="inference", name="alerter", identity="demo", duration=15)
    assert lock.acquire(1_000.0)
    assert lock.acquire(1_005.0), "the holder renews its own lease"
    other = LeaseLock(api, namespace="inference", name="alerter", identity="other", duration=15)
    assert not other.acquire(1_006.0), "another identity waits until the lease expires"


def test_unknown_objects_and_kinds_are_not_found(cluster: tuple[DemoCluster, object]) -> None:
    _, api = cluster
    apps = client.AppsV1Api(api)
    with pytest.raises(client.ApiException) as missing:
        apps.read_namespaced_deployment("nope", "inference")
    assert missing.value.status == 404
    with pytest.raises(client.ApiException) as unserved:
        client.CoreV1Api(api).read_namespaced_config_map("x", "inference")
    assert unserved.value.status == 404 and "does not serve" in str(unserved.value.body)


def test_a_wrong_token_is_refused(cluster: tuple[DemoCluster, object], tmp_path: Path) -> None:
    demo, _ = cluster
    path = tmp_path / "other.yaml"
    path.write_text(
        write_kubeconfig(tmp_path / "k.yaml", demo.url).read_text().replace("demo-cluster-token", "x")
    )
    actuator = KubeActuator(connect(kubeconfig=str(path)))
    with pytest.raises(ActionError):
        actuator.plan(ScaleSpec(deployment="inference/vllm-llama3", step=1, max_replicas=8))
