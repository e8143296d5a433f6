"""deploy/kubernetes/rbac.yaml grants every API call remediation makes, and nothing more.

The calls are not listed by hand: every action path (scale with and without HPA or KEDA, route,
ConfigMap with restart, their reverts, opt-out reads, Lease create/renew/takeover) runs through
the real client against the local API server, which records each request as an RBAC triple.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from alerter.remediate.actions import ActionSpec, ConfigMapSpec, RouteSpec, ScaleSpec
from alerter.remediate.kubernetes import KubeActuator
from alerter.remediate.lease import LeaseLock
from alerter.testing.kubernetes import Call, Cluster, configmap, deployment, hpa, httproute, scaledobject

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "rbac.yaml"
SUBJECT = ("alerter", "alerter")  # namespace, name of the ServiceAccount
T0 = 1_800_000_000.0


@dataclass(frozen=True)
class Grant:
    namespace: str | None  # None: cluster-wide
    groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    names: tuple[str, ...]

    def allows(self, call: Call) -> bool:
        if self.namespace is not None and self.namespace != call.namespace:
            return False
        if (
            call.group not in self.groups
            or call.resource not in self.resources
            or call.verb not in self.verbs
        ):
            return False
        # resourceNames cannot restrict create, and a list restricted by names is not a plain list
        return not self.names or (call.verb not in ("create", "list") and call.name in self.names)


def documents() -> list[dict[str, Any]]:
    return [dict(d) for d in YAML(typ="safe").load_all(RBAC.read_text()) if d]


def grants() -> list[Grant]:
    docs = documents()
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
    out = []
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any((s.get("namespace"), s["name"]) == SUBJECT for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else None, ref["name"])]
        for rule in role["rules"]:
            out.append(Grant(namespace, tuple(rule["apiGroups"]), tuple(rule["resources"]), tuple(rule["verbs"]),
                             tuple(rule.get("resourceNames", ()))))  # fmt: skip
    return out


def exercise(actuator: KubeActuator, cluster: Cluster, spec: ActionSpec) -> None:
    actuator.annotations(spec)
    change = actuator.apply(actuator.plan(spec), T0)
    reverted, message = actuator.revert(change, T0 + 60)
    assert reverted, message


@pytest.fixture
def calls(cluster: Cluster, api_client: Any) -> Iterator[list[Call]]:
    cluster.put("deployments", deployment("inference", "vllm-llama3", 2))
    cluster.put("deployments", deployment("inference", "router", 1))
    cluster.put("httproutes", httproute("inference", "chat", [("llama3-70b", 100), ("llama3-70b-backup", 0)]))
    cluster.put("configmaps", configmap("inference", "router-config", {"model": "llama3-70b"}))
    actuator = KubeActuator(api_client)
    scale = ScaleSpec(deployment="inference/vllm-llama3", step=2, max_replicas=16)
    exercise(actuator, cluster, scale)
    cluster.put("horizontalpodautoscalers", hpa("inference", "vllm-llama3", "vllm-llama3", 2, 10))
    exercise(actuator, cluster, scale)
    cluster.put("scaledobjects", scaledobject("inference", "vllm-llama3", "vllm-llama3", 10, 1))
    exercise(actuator, cluster, scale)
    exercise(actuator, cluster, RouteSpec(httproute="inference/chat", backend="llama3-70b-backup"))
    exercise(actuator, cluster, ConfigMapSpec(configmap="inference/router-config", key="model",
                                              value="llama3-8b", restart="inference/router"))  # fmt: skip
    first, second = (LeaseLock(api_client, namespace="alerter", name="alerter-remediation", identity=i,
                               duration=15) for i in ("a", "b"))  # fmt: skip
    assert first.acquire(T0) and first.acquire(T0 + 5) and second.acquire(T0 + 60)
    yield cluster.calls


def test_every_call_the_code_makes_is_granted(calls: list[Call]) -> None:
    granted = grants()
    missing = sorted({(c.group, c.resource, c.verb, c.namespace, c.name) for c in calls
                      if not any(g.allows(c) for g in granted)})  # fmt: skip
    assert not missing, f"rbac.yaml does not grant: {missing}"


def test_nothing_is_granted_that_the_code_does_not_use(calls: list[Call]) -> None:
    used = {(c.group, c.resource, c.verb) for c in calls}
    granted = {
        (g, r, v) for grant in grants() for g in grant.groups for r in grant.resources for v in grant.verbs
    }
    assert granted - used == set(), "granted but never used"
    assert all("*" not in {*g.groups, *g.resources, *g.verbs} for g in grants())


def test_the_check_itself_refuses_what_is_not_granted() -> None:
    granted = grants()
    for call in (
        Call("apps", "deployments/scale", "update", "inference", "vllm-llama3", ""),
        Call("apps", "deployments/scale", "patch", "inference", "someone-else", ""),
        Call("apps", "deployments/scale", "patch", "kube-system", "vllm-llama3", ""),
        Call("", "secrets", "get", "inference", "token", ""),
        Call("coordination.k8s.io", "leases", "update", "alerter", "other-lease", ""),
    ):
        assert not any(g.allows(call) for g in granted), call


def test_manifest_kinds_and_names() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in documents())
    assert kinds == [
        ("ClusterRole", "alerter-remediation"),
        ("Role", "alerter-leader"),
        ("RoleBinding", "alerter-leader"),
        ("RoleBinding", "alerter-remediation"),
        ("ServiceAccount", "alerter"),
    ]
