"""The Kubernetes actuator through the real client against the local API server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alerter.core.errors import ActionError
from alerter.remediate.actions import Change, ConfigMapSpec, RouteSpec, ScaleSpec
from alerter.remediate.kubernetes import RESTARTED_AT, KubeActuator, Timeouts, connect
from alerter.testing.kubernetes import (
    ApiError,
    Call,
    Cluster,
    KubeApiServer,
    configmap,
    deployment,
    hpa,
    httproute,
    scaledobject,
    write_kubeconfig,
)
from alerter.testing.kubernetes.errors import timeout

NOW = 1_800_000_000.0
JSON_PATCH = "application/json-patch+json"


@pytest.fixture
def actuator(api_client: Any) -> KubeActuator:
    return KubeActuator(api_client)


def replicas(cluster: Cluster, name: str = "vllm") -> int:
    return int(cluster.get("deployments", "inference", name)["spec"]["replicas"])


def test_scale_without_hpa_patches_the_scale_subresource(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 2))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))
    assert (change.via, change.previous, change.desired) == ("deployment/scale", 2, 4)
    assert replicas(cluster) == 2, "planning must not write"
    done = actuator.apply(change, NOW)
    assert done.applied and replicas(cluster) == 4
    (patch,) = cluster.calls_of("patch", "deployments/scale")
    assert patch.content_type == JSON_PATCH


def test_scale_from_zero_replicas_whose_scale_omits_the_field(
    cluster: Cluster, actuator: KubeActuator
) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 0))
    change = actuator.apply(
        actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16)), NOW
    )
    assert (change.previous, change.desired) == (0, 2) and replicas(cluster) == 2


def test_scale_is_bounded_by_max_replicas(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 15))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", factor=2.0, max_replicas=16))
    assert change.desired == 16


def test_scale_with_hpa_raises_min_replicas_and_leaves_the_deployment(
    cluster: Cluster, actuator: KubeActuator
) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 3))
    cluster.put("horizontalpodautoscalers", hpa("inference", "vllm-hpa", "vllm", 2, 10))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))
    assert (change.via, change.name, change.previous, change.desired) == ("hpa", "vllm-hpa", 2, 5)
    actuator.apply(change, NOW)
    assert cluster.get("horizontalpodautoscalers", "inference", "vllm-hpa")["spec"]["minReplicas"] == 5
    assert replicas(cluster) == 3
    assert not cluster.calls_of("patch", "deployments/scale")


def test_hpa_max_replicas_caps_the_target(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 3))
    cluster.put("horizontalpodautoscalers", hpa("inference", "vllm-hpa", "vllm", 2, 6))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=8, max_replicas=16))
    assert change.desired == 6
    assert "HPA maxReplicas 6 caps the target 11" in change.notes


def test_keda_scaledobject_gets_min_replica_count_and_revert_removes_it(
    cluster: Cluster, actuator: KubeActuator
) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 2))
    cluster.put("scaledobjects", scaledobject("inference", "vllm-so", "vllm", max_count=8))
    change = actuator.apply(
        actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16)), NOW
    )
    assert (change.via, change.previous, change.desired) == ("scaledobject", None, 4)
    assert cluster.get("scaledobjects", "inference", "vllm-so")["spec"]["minReplicaCount"] == 4
    (patch,) = cluster.calls_of("patch", "scaledobjects")
    assert patch.content_type == JSON_PATCH
    reverted, message = actuator.revert(change, NOW + 60)
    assert reverted, message
    assert "minReplicaCount" not in cluster.get("scaledobjects", "inference", "vllm-so")["spec"]


def test_concurrent_change_between_plan_and_apply_is_refused(
    cluster: Cluster, actuator: KubeActuator
) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 2))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))
    cluster.put("deployments", deployment("inference", "vllm", 7))
    with pytest.raises(ActionError) as caught:
        actuator.apply(change, NOW)
    assert caught.value.reason == "changed-concurrently" and caught.value.retryable
    assert replicas(cluster) == 7


def test_applying_the_same_change_twice_is_idempotent(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 2))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))
    actuator.apply(change, NOW)
    actuator.apply(change, NOW)
    assert replicas(cluster) == 4


def test_route_flip_and_revert(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("httproutes", httproute("inference", "chat", [("llama3-70b", 90), ("llama3-70b-backup", 10)]))
    change = actuator.plan(RouteSpec(httproute="inference/chat", backend="llama3-70b-backup", weight=100))
    assert (change.previous, change.desired) == ([90, 10], [0, 100])
    actuator.apply(change, NOW)
    refs = cluster.get("httproutes", "inference", "chat")["spec"]["rules"][0]["backendRefs"]
    assert [r["weight"] for r in refs] == [0, 100]
    assert all(c.content_type == JSON_PATCH for c in cluster.calls_of("patch", "httproutes"))
    reverted, message = actuator.revert(change, NOW + 600)
    assert reverted, message
    refs = cluster.get("httproutes", "inference", "chat")["spec"]["rules"][0]["backendRefs"]
    assert [r["weight"] for r in refs] == [90, 10]


def test_route_with_default_weights_splits_the_rest(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("httproutes", httproute("inference", "chat", [("a", None), ("b", None), ("backup", None)]))
    change = actuator.apply(
        actuator.plan(RouteSpec(httproute="inference/chat", backend="backup", weight=80)), NOW
    )
    refs = cluster.get("httproutes", "inference", "chat")["spec"]["rules"][0]["backendRefs"]
    assert [r["weight"] for r in refs] == change.desired == [10, 10, 80]


def test_route_test_op_fails_when_weights_moved(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("httproutes", httproute("inference", "chat", [("main", 100), ("backup", 0)]))
    change = actuator.plan(RouteSpec(httproute="inference/chat", backend="backup", weight=100))
    cluster.put("httproutes", httproute("inference", "chat", [("main", 50), ("backup", 50)]))
    with pytest.raises(ActionError, match="changed concurrently") as caught:
        actuator.apply(change, NOW)
    assert caught.value.reason == "changed-concurrently"


def test_route_to_unknown_backend_is_a_clear_error(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("httproutes", httproute("inference", "chat", [("main", 100)]))
    with pytest.raises(
        ActionError, match=r"backend 'backup' is not a backendRef of rule 0 \(has \['main'\]\)"
    ):
        actuator.plan(RouteSpec(httproute="inference/chat", backend="backup"))


def test_revert_leaves_a_human_change_alone(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("httproutes", httproute("inference", "chat", [("main", 100), ("backup", 0)]))
    change = actuator.apply(actuator.plan(RouteSpec(httproute="inference/chat", backend="backup")), NOW)
    cluster.put("httproutes", httproute("inference", "chat", [("main", 30), ("backup", 70)]))
    reverted, message = actuator.revert(change, NOW + 60)
    assert not reverted
    assert "changed since" in message and "[30, 70]" in message
    refs = cluster.get("httproutes", "inference", "chat")["spec"]["rules"][0]["backendRefs"]
    assert [r["weight"] for r in refs] == [30, 70]


def test_configmap_key_and_rollout_restart(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("configmaps", configmap("inference", "router", {"model": "llama3-70b", "other": "x"}))
    cluster.put("deployments", deployment("inference", "router", 2))
    spec = ConfigMapSpec(
        configmap="inference/router", key="model", value="llama3-8b", restart="inference/router"
    )
    change = actuator.apply(actuator.plan(spec), NOW)
    assert cluster.get("configmaps", "inference", "router")["data"] == {"model": "llama3-8b", "other": "x"}
    template = cluster.get("deployments", "inference", "router")["spec"]["template"]
    assert template["metadata"]["annotations"][RESTARTED_AT] == "2027-01-15T08:00:00Z"
    assert template["metadata"]["labels"] == {"app": "router"}, "strategic merge keeps the other fields"
    reverted, _ = actuator.revert(change, NOW + 60)
    assert reverted
    assert cluster.get("configmaps", "inference", "router")["data"]["model"] == "llama3-70b"
    template = cluster.get("deployments", "inference", "router")["spec"]["template"]
    assert template["metadata"]["annotations"][RESTARTED_AT] == "2027-01-15T08:01:00Z"


def test_configmap_without_data_gets_the_key_and_revert_removes_it(
    cluster: Cluster, actuator: KubeActuator
) -> None:
    cluster.put("configmaps", configmap("inference", "router", None))
    change = actuator.apply(
        actuator.plan(ConfigMapSpec(configmap="inference/router", key="a/b", value="1")), NOW
    )
    assert cluster.get("configmaps", "inference", "router")["data"] == {"a/b": "1"}
    assert actuator.revert(change, NOW)[0]
    assert cluster.get("configmaps", "inference", "router")["data"] == {}


def test_forbidden_is_not_retryable_and_names_the_permission(
    cluster: Cluster, actuator: KubeActuator
) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 2))
    cluster.forbidden.add(("deployments/scale", "patch"))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=1, max_replicas=4))
    with pytest.raises(ActionError) as caught:
        actuator.apply(change, NOW)
    error = caught.value
    assert (error.reason, error.retryable) == ("forbidden", False)
    assert 'cannot patch resource "deployments/scale"' in str(error) and "rbac.yaml" in str(error)


def test_missing_deployment_is_not_found(actuator: KubeActuator) -> None:
    with pytest.raises(ActionError) as caught:
        actuator.plan(ScaleSpec(deployment="inference/nope", step=1, max_replicas=4))
    assert (caught.value.reason, caught.value.retryable) == ("not-found", False)
    assert "inference/nope" in str(caught.value)


def test_annotations_come_from_the_target(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 2, {"alerter.io/remediation": "disabled"}))
    cluster.put("httproutes", httproute("inference", "chat", [("main", 1)]))
    cluster.put("configmaps", configmap("inference", "router", {}))
    assert actuator.annotations(ScaleSpec(deployment="inference/vllm", step=1, max_replicas=4)) == {
        "alerter.io/remediation": "disabled"
    }
    assert actuator.annotations(RouteSpec(httproute="inference/chat", backend="main")) == {}
    assert actuator.annotations(ConfigMapSpec(configmap="inference/router", key="k", value="v")) == {}


def test_unreachable_api_server_is_retryable() -> None:
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"
    configuration.retries = 0
    actuator = KubeActuator(client.ApiClient(configuration))
    with pytest.raises(ActionError) as caught:
        actuator.plan(ScaleSpec(deployment="inference/vllm", step=1, max_replicas=4))
    assert (caught.value.reason, caught.value.retryable) == ("unreachable", True)


def test_connect_selects_the_kubeconfig_context(kube: tuple[str, Cluster], tmp_path: Path) -> None:
    url, cluster = kube
    cluster.put("deployments", deployment("inference", "vllm", 3))
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\n"
        f"clusters:\n- name: local\n  cluster: {{server: '{url}'}}\n"
        "- name: far\n  cluster: {server: 'http://127.0.0.1:9'}\n"
        "users:\n- name: bot\n  user: {token: abc}\n"
        "contexts:\n- name: here\n  context: {cluster: local, user: bot}\n"
        "- name: elsewhere\n  context: {cluster: far, user: bot}\n"
    )
    actuator = KubeActuator(connect(kubeconfig=str(kubeconfig), context="here"))
    assert actuator.plan(ScaleSpec(deployment="inference/vllm", step=1, max_replicas=9)).previous == 3


def test_connect_reports_a_bad_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(ActionError, match="cannot load Kubernetes credentials from kubeconfig"):
        connect(kubeconfig=str(tmp_path / "missing"))


def test_without_keda_installed_the_deployment_is_scaled(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.not_installed.add("scaledobjects")
    cluster.put("deployments", deployment("inference", "vllm", 2))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=1, max_replicas=4))
    assert (change.via, change.desired) == ("deployment/scale", 3)


def test_an_unlistable_keda_is_reported_not_guessed(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.forbidden.add(("scaledobjects", "list"))
    cluster.put("deployments", deployment("inference", "vllm", 2))
    with pytest.raises(ActionError, match="forbidden to list scaledobjects in inference") as caught:
        actuator.plan(ScaleSpec(deployment="inference/vllm", step=1, max_replicas=4))
    assert not caught.value.retryable


SCALE_PATH = "/apis/apps/v1/namespaces/inference/deployments/vllm/scale"


def test_a_write_whose_answer_is_lost_is_judged_by_a_re_read(
    apiserver: KubeApiServer, actuator: KubeActuator
) -> None:
    apiserver.cluster.put("deployments", deployment("inference", "vllm", 2))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))
    apiserver.stall("PATCH", SCALE_PATH, served=True, times=1, held=False)  # done, then the line drops
    done = actuator.apply(change, NOW)
    assert done.applied and replicas(apiserver.cluster) == 4
    assert done.notes == ("the API server's answer was lost; a re-read shows the change in place",)


def test_a_write_lost_unserved_stays_in_flight_and_its_revert_re_reads(
    apiserver: KubeApiServer, actuator: KubeActuator
) -> None:
    """No answer and no change yet: the write may still land, so it must not count as failed."""
    apiserver.cluster.put("deployments", deployment("inference", "vllm", 2))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))
    apiserver.stall("PATCH", SCALE_PATH, times=1, held=False)
    done = actuator.apply(change, NOW)
    assert done.applied and replicas(apiserver.cluster) == 2
    (note,) = done.notes
    assert "a re-read still shows 2; the write may land yet" in note
    reverted, message = actuator.revert(done, NOW + 60)
    assert not reverted and "is now 2, not the 4" in message


def test_a_504_after_the_write_committed_is_applied(cluster: Cluster, actuator: KubeActuator) -> None:
    cluster.put("deployments", deployment("inference", "vllm", 2))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))

    def commits_then_times_out(call: Call) -> None:
        if call.verb == "patch":
            cluster.on_request = None
            cluster.put("deployments", deployment("inference", "vllm", 4))
            raise timeout()

    cluster.on_request = commits_then_times_out
    done = actuator.apply(change, NOW)
    assert done.applied and done.notes == (
        "the API server's answer was lost; a re-read shows the change in place",
    )


def test_a_refused_connection_is_a_failure_not_a_maybe(cluster: Cluster, actuator: KubeActuator) -> None:
    """A 503 is refused before the handler runs: nothing was written, nothing to re-read."""
    cluster.put("deployments", deployment("inference", "vllm", 2))
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))

    def unavailable(call: Call) -> None:
        if call.verb == "patch":
            raise ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request")

    cluster.on_request = unavailable
    with pytest.raises(ActionError) as caught:
        actuator.apply(change, NOW)
    assert caught.value.reason == "server-error" and replicas(cluster) == 2


def test_a_failed_restart_after_the_configmap_changed_is_a_note(
    cluster: Cluster, actuator: KubeActuator
) -> None:
    cluster.put("configmaps", configmap("inference", "router", {"model": "a"}))
    cluster.put("deployments", deployment("inference", "router", 2))
    cluster.forbidden.add(("deployments", "patch"))
    spec = ConfigMapSpec(configmap="inference/router", key="model", value="b", restart="inference/router")
    done = actuator.apply(actuator.plan(spec), NOW)
    assert cluster.get("configmaps", "inference", "router")["data"] == {"model": "b"}
    (note,) = done.notes
    assert note.startswith("the restart of deployment inference/router failed") and "forbidden" in note


def test_timeouts_default_to_5s_to_connect_and_10s_to_answer() -> None:
    assert Timeouts().request_timeout == (5.0, 10.0)
    with pytest.raises(ValueError, match=r"remediation\.kubernetes\.read_timeout must be a positive number"):
        Timeouts(read=0)


def within(seconds: float, call: Callable[[], object]) -> BaseException | None:
    """What ``call`` raised, failing the test if it is still waiting after ``seconds``."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=run, name="kube-call")
    worker.start()
    worker.join(timeout=seconds)
    assert not worker.is_alive(), f"the call still waits after {seconds}s"
    return raised[0] if raised else None


SHORT = Timeouts(connect=1.0, read=0.2)


def test_a_hanging_api_server_fails_a_read_within_its_timeout(
    apiserver: KubeApiServer, api_client: Any
) -> None:
    apiserver.cluster.put("deployments", deployment("inference", "vllm", 2))
    stall = apiserver.stall("GET", SCALE_PATH)
    actuator = KubeActuator(api_client, timeouts=SHORT)
    error = within(10, lambda: actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16)))
    assert stall.arrived.is_set()
    assert isinstance(error, ActionError) and (error.reason, error.retryable) == ("timeout", True)
    assert "no answer from the API server while trying to read the scale of deployment" in str(error)


def test_a_write_whose_answer_times_out_is_judged_by_a_re_read(
    apiserver: KubeApiServer, api_client: Any
) -> None:
    apiserver.cluster.put("deployments", deployment("inference", "vllm", 2))
    actuator = KubeActuator(api_client, timeouts=SHORT)
    change = actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16))
    apiserver.stall("PATCH", SCALE_PATH, served=True)
    done: list[Change] = []
    assert within(10, lambda: done.append(actuator.apply(change, NOW))) is None
    assert done[0].notes == ("the API server's answer was lost; a re-read shows the change in place",)
    assert replicas(apiserver.cluster) == 4


def test_connect_makes_one_attempt_per_call(apiserver: KubeApiServer, tmp_path: Path) -> None:
    """urllib3 retries a timed-out GET three times; one call must cost one timeout, not four."""
    apiserver.cluster.put("deployments", deployment("inference", "vllm", 2))
    stall = apiserver.stall("GET", SCALE_PATH)
    kubeconfig = write_kubeconfig(tmp_path / "config", apiserver.url, token="unused")
    actuator = KubeActuator(connect(kubeconfig=str(kubeconfig)), timeouts=SHORT)
    error = within(10, lambda: actuator.plan(ScaleSpec(deployment="inference/vllm", step=2, max_replicas=16)))
    assert isinstance(error, ActionError) and error.reason == "timeout"
    assert stall.hits == 1
