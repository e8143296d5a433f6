"""A local server that answers like kube-apiserver for what remediation and leadership use.

``make demo`` (``alerter.demo.run``) runs one so remediation can plan against something that
reads like a cluster; the tests (``tests/remediate``, ``tests/engine``, ``tests/testing``) run one
per test through ``serve``. The real ``kubernetes`` client talks to it over 127.0.0.1. It serves,
in any namespace: Deployments (with the ``scale`` subresource as an ``autoscaling/v1`` Scale),
HorizontalPodAutoscalers (``autoscaling/v2``), ConfigMaps, Leases and, as custom resources,
HTTPRoutes and KEDA ScaledObjects, with get, list, create, update and patch in JSON Patch, JSON
merge patch and (built-in kinds only) strategic merge patch. Every answer, refusals included, is
the one kube-apiserver gives: the modules cite the kubernetes/kubernetes source each copies.
Every request is also recorded as an RBAC triple (``Cluster.calls``), and a test can deny
(``Cluster.forbidden``) or uninstall (``Cluster.not_installed``) what it likes, or leave a path
unanswered (``KubeApiServer.stall``).

Modules: ``errors`` (the ``Status`` bodies), ``patch`` (JSON Patch / merge patch), ``resources``
(kinds and their wire form), ``store`` (the registry's write rules), ``cluster`` (one request,
routed and authorized), ``server`` (HTTP and authentication), ``objects`` (test objects).
"""

from alerter.testing.kubernetes.cluster import Call, Cluster
from alerter.testing.kubernetes.errors import ApiError
from alerter.testing.kubernetes.objects import configmap, deployment, hpa, httproute, scaledobject
from alerter.testing.kubernetes.resources import KINDS, Kind
from alerter.testing.kubernetes.server import TOKEN, KubeApiServer, Stall, serve, write_kubeconfig

__all__ = [
    "KINDS",
    "TOKEN",
    "ApiError",
    "Call",
    "Cluster",
    "Kind",
    "KubeApiServer",
    "Stall",
    "configmap",
    "deployment",
    "hpa",
    "httproute",
    "scaledobject",
    "serve",
    "write_kubeconfig",
]
