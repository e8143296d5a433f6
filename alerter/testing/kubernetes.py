"""The demo cluster: a tiny in-process server answering like the Kubernetes API for one Deployment.

``make demo`` (``alerter.demo.run``) runs it so that remediation can plan its dry-run decision against
something that reads like a cluster, without one: the real ``kubernetes`` client talks to it over
127.0.0.1 through a kubeconfig written by ``write_kubeconfig``. It serves only what the scale
action and the leader Lease use: ``GET`` of a Deployment, ``GET``/``PATCH`` (JSON Patch) of its
``scale`` subresource, an empty list of HorizontalPodAutoscalers, and ``GET``/``POST``/``PUT`` of
Leases. Anything else answers a Kubernetes
``Status`` 404, so a call the demo does not cover fails loudly instead of succeeding silently.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["DemoCluster", "write_kubeconfig"]

Obj = dict[str, Any]

_PATH = re.compile(
    r"^/apis/(?P<group>apps|coordination\.k8s\.io|autoscaling)/v[12]/namespaces/(?P<ns>[a-z0-9-]+)/"
    r"(?P<plural>deployments|leases|horizontalpodautoscalers)(?:/(?P<name>[a-z0-9.-]+))?(?:/(?P<sub>scale))?$"
)
TOKEN = "demo-cluster-token"

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{{name: demo-cluster, cluster: {{server: "{url}"}}}}]
users: [{{name: alerter, user: {{token: {token}}}}}]
contexts: [{{name: demo-cluster, context: {{cluster: demo-cluster, user: alerter}}}}]
current-context: demo-cluster
"""


def _status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class DemoCluster:
    """One namespace's Deployments and Leases in memory, served on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._version = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_deployment(self, namespace: str, name: str, replicas: int) -> None:
        """A Deployment with ``replicas`` ready pods (the demo's target of the scale policy)."""
        meta = {"name": name, "namespace": namespace, "labels": {"app": name}}
        spec = {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}},
        }
        self._put(
            "deployments", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}
        )

    def replicas(self, namespace: str, name: str) -> int:
        with self._lock:
            return int(self._objects[("deployments", namespace, name)]["spec"]["replicas"])

    def _put(self, plural: str, obj: Obj) -> Obj:
        with self._lock:
            self._version += 1
            obj["metadata"]["resourceVersion"] = str(self._version)
            meta = obj["metadata"]
            self._objects[(plural, meta["namespace"], meta["name"])] = obj
            return copy.deepcopy(obj)

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Obj]:
        """Answer one request: (HTTP status, JSON body)."""
        match = _PATH.match(path)
        if match is None:
            return 404, _status(404, "NotFound", f"the demo cluster does not serve {path}")
        ns, plural, name, sub = match["ns"], match["plural"], match["name"], match["sub"]
        if method == "GET" and name is None and plural == "horizontalpodautoscalers":
            # No autoscaler owns the demo Deployment: the scale action patches it directly.
            return 200, {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscalerList",
                "items": [],
                "metadata": {"resourceVersion": "1"},
            }
        if method == "POST" and name is None and plural == "leases":
            body.setdefault("metadata", {})["namespace"] = ns
            if (plural, ns, body["metadata"].get("name")) in self._objects:
                return 409, _status(409, "AlreadyExists", "lease already exists")
            return 201, self._put(plural, body)
        with self._lock:
            current = self._objects.get((plural, ns, name or ""))
        if current is None:
            return 404, _status(404, "NotFound", f'{plural} "{name}" not found')
        if method == "GET":
            return 200, (_scale(current) if sub else copy.deepcopy(current))
        if method == "PUT" and plural == "leases":
            body["metadata"]["namespace"] = ns
            return 200, self._put(plural, body)
        if method == "PATCH" and sub:
            return self._patch_scale(current, body)
        return 405, _status(405, "MethodNotAllowed", f"{method} {path} is not served by the demo cluster")

    def _patch_scale(self, deployment: Obj, ops: Any) -> tuple[int, Obj]:
        for op in ops if isinstance(ops, list) else []:
            if op.get("path") != "/spec/replicas":
                continue
            if op.get("op") == "test" and op.get("value") != deployment["spec"]["replicas"]:
                return 422, _status(422, "Invalid", "replicas changed since the plan was made")
            if op.get("op") in ("replace", "add"):
                deployment["spec"]["replicas"] = int(op["value"])
        return 200, _scale(self._put("deployments", deployment))

    def start(self) -> DemoCluster:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), daemon=True, name="demo-cluster"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _scale(deployment: Obj) -> Obj:
    meta = deployment["metadata"]
    replicas = deployment["spec"]["replicas"]
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "resourceVersion": meta["resourceVersion"],
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas},
    }


def write_kubeconfig(path: Path, url: str) -> Path:
    """A kubeconfig whose only context is the demo cluster at ``url``."""
    path.write_text(KUBECONFIG.format(url=url, token=TOKEN), encoding="utf-8")
    return path


def _handler_for(cluster: DemoCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Lease renewals every few seconds would flood the terminal."""

        def _serve(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, answer = 401, _status(401, "Unauthorized", "the demo cluster wants its token")
            else:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                    status, answer = cluster.handle(self.command, self.path.split("?")[0], body)
                except (ValueError, KeyError, TypeError) as exc:
                    status, answer = 400, _status(400, "BadRequest", f"malformed request: {exc}")
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = _serve

    return Handler
