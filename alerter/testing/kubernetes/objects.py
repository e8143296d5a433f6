"""Objects as the tests and the demo put them into the stand-in API server.

Tests call these to arrange a cluster (``cluster.put("deployments", deployment(...))``); the demo
(``KubeApiServer.add_deployment``) creates its target Deployment with ``deployment``. Each is the
smallest object of its kind that the API server would accept and remediation reads.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def deployment(namespace: str, name: str, replicas: int, annotations: dict[str, str] | None = None) -> Obj:
    """A Deployment whose controller has caught up: ``status.replicas`` equals ``spec.replicas``."""
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": {"app": name},
                     "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "server"}]}},
        },
        "status": {"replicas": replicas},
    }  # fmt: skip


def hpa(namespace: str, name: str, deployment: str, min_replicas: int, max_replicas: int) -> Obj:
    """An ``autoscaling/v2`` HorizontalPodAutoscaler targeting ``deployment``."""
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [],
        },
    }


def scaledobject(
    namespace: str, name: str, deployment: str, max_count: int, min_count: int | None = None
) -> Obj:
    """A KEDA ScaledObject owning ``deployment`` (``minReplicaCount`` absent unless given)."""
    spec: Obj = {"scaleTargetRef": {"name": deployment}, "maxReplicaCount": max_count, "triggers": []}
    if min_count is not None:
        spec["minReplicaCount"] = min_count
    return {"metadata": {"namespace": namespace, "name": name}, "spec": spec}


def httproute(namespace: str, name: str, backends: list[tuple[str, int | None]]) -> Obj:
    """An HTTPRoute whose rule 0 splits traffic over ``backends`` (weight None: field absent)."""
    refs = [{"name": n, "port": 8000} | ({} if w is None else {"weight": w}) for n, w in backends]
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"parentRefs": [{"name": "gateway"}], "rules": [{"backendRefs": refs}]},
    }


def configmap(namespace: str, name: str, data: dict[str, str] | None) -> Obj:
    """A ConfigMap; ``data=None`` leaves the field out."""
    obj: Obj = {"metadata": {"namespace": namespace, "name": name}}
    if data is not None:
        obj["data"] = data
    return obj
