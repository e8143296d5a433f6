"""A local HTTP server that answers like the Kubernetes API server for what remediation uses.

The real ``kubernetes`` Python client talks to it over 127.0.0.1: namespaced objects of the
kinds below with get / list / create / update (with resourceVersion checks -> 409) / patch in the
three content types the API server accepts (JSON Patch with ``test`` ops failing as 422, JSON
merge patch, strategic merge patch, the last refused with 415 for custom resources as the real
server does), the Deployment ``scale`` subresource as an ``autoscaling/v1`` Scale, and
``Status`` bodies for 403 / 404 / 409 / 422. Every request is recorded as an RBAC triple
(apiGroup, resource, verb) so a test can check the shipped Role grants each call the code makes.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Obj = dict[str, Any]

# plural -> (apiGroup, version, kind, custom resource?)
KINDS: dict[str, tuple[str, str, str, bool]] = {
    "deployments": ("apps", "v1", "Deployment", False),
    "horizontalpodautoscalers": ("autoscaling", "v2", "HorizontalPodAutoscaler", False),
    "configmaps": ("", "v1", "ConfigMap", False),
    "leases": ("coordination.k8s.io", "v1", "Lease", False),
    "httproutes": ("gateway.networking.k8s.io", "v1", "HTTPRoute", True),
    "scaledobjects": ("keda.sh", "v1alpha1", "ScaledObject", True),
}
_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/(?P<version>[^/]+))/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>scale))?$"
)


@dataclass(frozen=True)
class Call:
    """One request as RBAC sees it."""

    group: str
    resource: str
    verb: str
    namespace: str
    name: str
    content_type: str


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, list):
            if not part.isdigit() or int(part) >= len(doc):
                raise ApiError(422, "Invalid", f"index {part} out of range")
            doc = doc[int(part)]
        elif isinstance(doc, dict) and part in doc:
            doc = doc[part]
        else:
            raise ApiError(422, "Invalid", f"path element {part!r} not found")
    return doc


def json_patch(doc: Obj, ops: list[Obj]) -> Obj:
    """RFC 6902 add / remove / replace / test, all or nothing, as the API server applies it."""
    out = copy.deepcopy(doc)
    for op in ops:
        parts = _pointer(op.get("path", ""))
        if not parts:
            raise ApiError(422, "Invalid", "patching the whole document is not supported")
        parent = _walk(out, parts[:-1])
        last = parts[-1]
        kind = op.get("op")
        if kind == "test":
            if _walk(out, parts) != op.get("value"):
                raise ApiError(422, "Invalid", f"testing value {op['path']} failed: test failed")
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "replace":
                    _walk(parent, [last])
                    parent[index] = op["value"]
                else:
                    parent.insert(index, op["value"])
            else:
                if kind == "replace" and last not in parent:
                    raise ApiError(422, "Invalid", f"replace operation does not apply: {op['path']} missing")
                parent[last] = op["value"]
        elif kind == "remove":
            _walk(parent, [last])
            del parent[int(last) if isinstance(parent, list) else last]
        else:
            raise ApiError(422, "Invalid", f"unsupported JSON patch op {kind!r}")
    return out


def merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386; also stands in for strategic merge on the map-only fields remediation patches."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class Cluster:
    """The object store: namespaced objects per plural, with resourceVersions and RBAC denials."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.on_request: Callable[[Call], None] | None = None
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.calls: list[Call] = []
        self.forbidden: set[tuple[str, str]] = set()  # (resource, verb) answered with 403
        self.not_installed: set[str] = set()  # plurals whose CRD is absent: every path is a 404
        self._version = 100

    def put(self, plural: str, obj: Obj) -> Obj:
        """Create or overwrite an object directly, as a human with kubectl would."""
        group, version, kind, _ = KINDS[plural]
        obj = copy.deepcopy(obj)
        obj["apiVersion"] = f"{group}/{version}" if group else version
        obj["kind"] = kind
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        with self.lock:
            self._stamp(obj)
            self.objects[(plural, meta["namespace"], meta["name"])] = obj
        return copy.deepcopy(obj)

    def get(self, plural: str, namespace: str, name: str) -> Obj:
        with self.lock:
            return copy.deepcopy(self.objects[(plural, namespace, name)])

    def calls_of(self, verb: str, resource: str) -> list[Call]:
        return [c for c in self.calls if c.verb == verb and c.resource == resource]

    def _stamp(self, obj: Obj) -> None:
        self._version += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._version)
        meta["generation"] = int(meta.get("generation", 0)) + 1
        meta.setdefault("uid", f"uid-{self._version}")

    def handle(self, method: str, path: str, content_type: str, body: Any) -> tuple[int, Obj]:
        match = _PATH.match(path.split("?", 1)[0])
        if not match or match["plural"] not in KINDS or match["plural"] in self.not_installed:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource {path}")
        plural, ns, name, sub = match["plural"], match["ns"], match["name"], match["sub"]
        group = KINDS[plural][0]
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update", "PATCH": "patch"}
        if method not in verb:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")
        resource = plural + (f"/{sub}" if sub else "")
        call = Call(group, resource, verb[method], ns, name or "", content_type)
        with self.lock:
            self.calls.append(call)
            if self.on_request is not None:
                self.on_request(call)
            if (resource, call.verb) in self.forbidden:
                raise ApiError(
                    403,
                    "Forbidden",
                    f'{resource}{"." + group if group else ""} "{name or ""}" is forbidden: User '
                    f'"system:serviceaccount:alerter:alerter" cannot {call.verb} resource "{resource}" '
                    f'in API group "{group}" in the namespace "{ns}"',
                )
            return self._dispatch(call, plural, sub, body)

    def _dispatch(self, call: Call, plural: str, sub: str | None, body: Any) -> tuple[int, Obj]:
        if call.verb == "list":
            items = [
                copy.deepcopy(o)
                for (p, n, _), o in self.objects.items()
                if p == plural and n == call.namespace
            ]
            group, version, kind, _ = KINDS[plural]
            api = f"{group}/{version}" if group else version
            return 200, {"apiVersion": api, "kind": f"{kind}List", "metadata": {}, "items": items}
        if call.verb == "create":
            name = body.get("metadata", {}).get("name", "")
            if (plural, call.namespace, name) in self.objects:
                raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists')
            body.setdefault("metadata", {})["namespace"] = call.namespace
            self.objects[(plural, call.namespace, name)] = body
            self._stamp(body)
            return 201, copy.deepcopy(body)
        key = (plural, call.namespace, call.name)
        if key not in self.objects:
            raise ApiError(404, "NotFound", f'{plural} "{call.name}" not found')
        current = self.objects[key]
        if call.verb == "get":
            return 200, _scale_of(current) if sub else copy.deepcopy(current)
        if call.verb == "update":
            sent = body.get("metadata", {}).get("resourceVersion")
            if sent != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {plural} "{call.name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                )
            body["metadata"]["generation"] = current["metadata"].get("generation", 1)
            self.objects[key] = body
            self._stamp(body)
            return 200, copy.deepcopy(body)
        return 200, self._patch(key, call, sub, body)

    def _patch(self, key: tuple[str, str, str], call: Call, sub: str | None, body: Any) -> Obj:
        current = self.objects[key]
        custom = KINDS[key[0]][3]
        doc = _scale_of(current) if sub else current
        if call.content_type == "application/json-patch+json":
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "JSON patch must be a list of operations")
            patched = json_patch(doc, body)
        elif call.content_type == "application/merge-patch+json" or (
            call.content_type == "application/strategic-merge-patch+json" and not custom
        ):
            patched = merge_patch(doc, body)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format: "
                "accepted media types include: application/json-patch+json, "
                "application/merge-patch+json, application/apply-patch+yaml",
            )
        if sub:
            updated = copy.deepcopy(current)
            updated["spec"]["replicas"] = patched["spec"]["replicas"]
        else:
            updated = patched
        self._stamp(updated)
        self.objects[key] = updated
        return _scale_of(updated) if sub else copy.deepcopy(updated)


def _scale_of(deployment: Obj) -> Obj:
    meta = deployment["metadata"]
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "resourceVersion": meta["resourceVersion"],
        },
        "spec": {"replicas": deployment["spec"].get("replicas", 1)},
        "status": {
            "replicas": deployment.get("status", {}).get("replicas", deployment["spec"].get("replicas", 1))
        },
    }


def _status(error: ApiError) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": error.message,
        "reason": error.reason,
        "code": error.code,
    }


def _handler(cluster: Cluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            try:
                body = json.loads(raw) if raw else None
                code, payload = cluster.handle(self.command, self.path, content_type, body)
            except ApiError as error:
                code, payload = error.code, _status(error)
            except (ValueError, KeyError, TypeError) as error:
                code, payload = 400, _status(ApiError(400, "BadRequest", str(error)))
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = _serve

    return Handler


@contextmanager
def serve(cluster: Cluster | None = None) -> Iterator[tuple[str, Cluster]]:
    """Run a server on a free port of 127.0.0.1; yield its URL and the cluster behind it."""
    cluster = cluster or Cluster()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cluster))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", cluster
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def deployment(namespace: str, name: str, replicas: int, annotations: dict[str, str] | None = None) -> Obj:
    """A minimal Deployment as the API server stores it."""
    return {
        "metadata": {"namespace": namespace, "name": name, "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "server"}]}},
        },
        "status": {"replicas": replicas},
    }


def hpa(namespace: str, name: str, deployment: str, min_replicas: int, max_replicas: int) -> Obj:
    """An autoscaling/v2 HPA targeting ``deployment``."""
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
    """A KEDA ScaledObject owning ``deployment``."""
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
    obj: Obj = {"metadata": {"namespace": namespace, "name": name}}
    if data is not None:
        obj["data"] = data
    return obj
