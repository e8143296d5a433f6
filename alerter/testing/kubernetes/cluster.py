"""One API request, from URL and verb to the answer, in the order kube-apiserver decides it.

``kubernetes.server`` hands every HTTP request to ``Cluster.handle``. The order is the real
handler chain's: the request is recorded as an RBAC triple and authorized (403 before anything
else, even for a resource that is not installed), then routed (404 for a path nothing serves, 405
for a verb the route lacks), then served by the registry rules of ``kubernetes.store``. PATCH
follows kubernetes/kubernetes ``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go``:
content type first (415), then the object (404), then the patch applied to the object as served
(Deployment ``scale``: to the Scale), then ``checkName`` (``handlers/rest.go``) and the same update
as a PUT, so a stale resourceVersion inside a patch is a 409 too. DELETE and watches are not
served; DELETE answers go-restful's 405.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alerter.testing.kubernetes.errors import (
    FieldError,
    GroupKind,
    GroupResource,
    bad_request,
    conflict,
    forbidden,
    generic,
    go_quote,
    invalid,
    not_found,
    path_not_found,
    storage_error,
    unsupported_media_type,
)
from alerter.testing.kubernetes.patch import PatchError, decode_json_patch, go_type, json_patch, merge_patch
from alerter.testing.kubernetes.resources import (
    APPLY_PATCH,
    BUILTIN_GROUP_VERSIONS,
    JSON_PATCH,
    KINDS,
    STRATEGIC_MERGE_PATCH,
    Kind,
    list_item,
    scale_of,
    wire,
)
from alerter.testing.kubernetes.store import Key, Store

Obj = dict[str, Any]
ANONYMOUS = "system:anonymous"

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))/namespaces/(?P<ns>[^/]+)/"
    r"(?P<plural>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?/?$"
)
_VERBS = {"GET": ("get", "list"), "POST": ("create", "create"), "PUT": ("update", "update"),
          "PATCH": ("patch", "patch"), "DELETE": ("delete", "deletecollection")}  # fmt: skip
_GO_TYPE_META = (
    'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
)


@dataclass(frozen=True)
class Call:
    """One request as RBAC sees it (and, for PATCH, its content type)."""

    group: str
    resource: str  # plural, or plural/subresource
    verb: str
    namespace: str
    name: str
    content_type: str


@dataclass(frozen=True)
class _Info:
    """``request.RequestInfo`` of a namespaced resource request."""

    group: str
    version: str
    plural: str
    sub: str
    namespace: str
    name: str
    verb: str


def _info(method: str, path: str) -> _Info:
    match = _PATH.match(path)
    if match is None or method not in _VERBS:
        raise path_not_found()
    named, unnamed = _VERBS[method]
    return _Info(match["group"] or "", match["version"] or match["core"], match["plural"], match["sub"] or "",
                 match["ns"], match["name"] or "", named if match["name"] else unnamed)  # fmt: skip


def _check_name(obj: Obj, info: _Info) -> None:
    """``checkName``: the object must carry the URL's name, and no other namespace."""
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    if not name:
        raise bad_request(
            f"the name of the object ({info.name} based on URL) was undeterminable: name must be provided"
        )
    if name != info.name:
        raise bad_request(f"the name of the object ({name}) does not match the name on the URL ({info.name})")
    if namespace and namespace != info.namespace:
        raise bad_request(
            f"the namespace of the object ({namespace}) does not match the namespace on the request "
            f"({info.namespace})"
        )


def _same_namespace(obj: Obj, info: _Info) -> None:
    """``EnsureObjectNamespaceMatchesRequestNamespace``: fill an empty namespace, refuse another."""
    meta = obj["metadata"]
    if meta.get("namespace") and meta["namespace"] != info.namespace:
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    meta["namespace"] = info.namespace


def _object(kind: Kind, body: Any) -> Obj:
    """A request body decoded as ``kind``: a JSON object with an object for metadata."""
    if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
        raise bad_request(
            f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
            f"json: cannot unmarshal {go_type(body)} into Go value of type {kind.kind}"
        )
    obj = copy.deepcopy(body)
    obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
    obj.setdefault("metadata", {})
    return obj


class Cluster(Store):
    """The store plus what the API server does around it: RBAC, routing, the verbs.

    ``forbidden`` holds (resource, verb) pairs to answer 403 (``resource`` as RBAC names it,
    e.g. ``deployments/scale``); ``not_installed`` plurals whose CRD is absent; ``on_request``
    runs for every request, under the lock, before it is served (to race it); ``calls``
    records every request; ``user`` is who the requests are made as.
    """

    def __init__(self) -> None:
        super().__init__()
        self.on_request: Callable[[Call], None] | None = None
        self.calls: list[Call] = []
        self.forbidden: set[tuple[str, str]] = set()
        self.not_installed: set[str] = set()
        self.user = "system:serviceaccount:alerter:alerter"

    def calls_of(self, verb: str, resource: str) -> list[Call]:
        return [c for c in self.calls if c.verb == verb and c.resource == resource]

    def handle(
        self, method: str, path: str, content_type: str, body: bytes, user: str | None = None
    ) -> tuple[int, Obj]:
        """Answer one request with (HTTP status, JSON body); refusals raise ``ApiError``."""
        info = _info(method, path)
        resource = info.plural + (f"/{info.sub}" if info.sub else "")
        call = Call(info.group, resource, info.verb, info.namespace, info.name, content_type)
        with self.lock:
            self.calls.append(call)
            if self.on_request is not None:
                self.on_request(call)
            self._authorize(info, call, user or self.user)
            kind = self._route(info)
            return self._serve(kind, info, content_type, body)

    def _authorize(self, info: _Info, call: Call, user: str) -> None:
        """RBAC's denial, as ``responsewriters.Forbidden`` words it (``handlers/responsewriters/errors.go``).

        The message names ``resource/subresource``; the error's own resource has no subresource.
        """
        if user != ANONYMOUS and (call.resource, call.verb) not in self.forbidden:
            return
        reason = (f'User "{user}" cannot {call.verb} resource "{call.resource}" in API group "{info.group}" '
                  f'in the namespace "{info.namespace}"')  # fmt: skip
        raise forbidden(GroupResource(info.group, info.plural), info.name, reason)

    def _route(self, info: _Info) -> Kind:
        kind = KINDS.get(info.plural)
        if (
            kind is None
            or (kind.group, kind.version) != (info.group, info.version)
            or (info.plural in self.not_installed)
        ):
            if (info.group, info.version) in BUILTIN_GROUP_VERSIONS:
                raise generic(404)  # go-restful has no route for it
            raise path_not_found()  # no CRD for it: the end of the delegation chain
        if info.sub and not (info.sub == "scale" and kind.scale):
            if kind.custom:  # customresource_handler.go answers an unknown subresource this way
                raise not_found(kind.resource, info.name)
            raise generic(404)
        if info.sub:
            allowed = {"get", "update", "patch"}
        else:
            allowed = {"get", "update", "patch"} if info.name else {"list", "create"}
        if info.verb not in allowed:
            raise generic(405)
        return kind

    def _serve(self, kind: Kind, info: _Info, content_type: str, raw: bytes) -> tuple[int, Obj]:
        key: Key = (info.plural, info.namespace, info.name)
        if info.verb == "list":
            items = [list_item(kind, o) for (p, n, _), o in sorted(self.objects.items()) if p == info.plural
                     and n == info.namespace]  # fmt: skip
            return 200, {"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                         "metadata": {"resourceVersion": self.version}, "items": items}  # fmt: skip
        if info.verb == "patch" and content_type not in kind.patch_types:
            raise unsupported_media_type(kind.patch_types)
        body = self._decode(raw)
        if info.verb == "create":
            obj = _object(kind, body)
            _same_namespace(obj, info)
            return 201, wire(kind, self.create(kind, info.namespace, obj))
        if info.verb == "update" and not info.sub:
            obj = _object(kind, body)
            _check_name(obj, info)
            obj["metadata"]["namespace"] = info.namespace
            if key not in self.objects:
                if not kind.create_on_update:
                    raise not_found(kind.resource, info.name)
                obj["metadata"].pop("resourceVersion", None)
                return 201, wire(kind, self.create(kind, info.namespace, obj))
            return 200, wire(kind, self.update(kind, key, obj))
        if key not in self.objects:
            raise not_found(kind.resource, info.name)
        current = wire(kind, self.objects[key])
        if info.verb == "get":
            return 200, scale_of(current) if info.sub else current
        doc = scale_of(current) if info.sub else current
        if info.verb == "patch":
            changed = self._patched(kind, doc, content_type, body)
            _same_namespace(changed, info)
            _check_name(changed, info)
        else:  # update of the scale subresource
            changed = _object(kind, body)
            _check_name(changed, info)
        if info.sub:
            written = self.update(kind, key, self._from_scale(changed, info))
            return 200, scale_of(wire(kind, written))
        return 200, wire(kind, self.update(kind, key, changed))

    @staticmethod
    def _decode(raw: bytes) -> Any:
        try:
            return json.loads(raw) if raw else None
        except ValueError as exc:
            raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc

    @staticmethod
    def _patched(kind: Kind, doc: Obj, content_type: str, body: Any) -> Obj:
        """``applyJSPatch`` (JSON Patch, merge patch) or strategic merge, on the object as served."""
        if content_type == APPLY_PATCH:
            raise storage_error(
                500, "InternalError", "Internal error occurred: server-side apply is not served"
            )
        if content_type == JSON_PATCH:
            ops = decode_json_patch(body)
            try:
                patched = json_patch(doc, ops)
            except PatchError as exc:
                raise generic(422) from exc
        elif content_type == STRATEGIC_MERGE_PATCH:
            if not isinstance(body, dict):
                raise bad_request(
                    f"json: cannot unmarshal {go_type(body)} into Go value of type map[string]interface {{}}"
                )
            patched = merge_patch(doc, body)
        else:
            if body is None:
                raise bad_request("Invalid JSON Patch")  # jsonpatch.ErrBadJSONPatch
            patched = merge_patch(doc, body)
        if not isinstance(patched, dict):  # the patch replaced the document: it no longer decodes
            text = json.dumps(patched, separators=(",", ":"))
            detail = f"couldn't get version/kind; json parse error: json: cannot unmarshal {go_type(patched)} into Go value of type {_GO_TYPE_META}"
            raise invalid(GroupKind(), "", [FieldError("FieldValueInvalid", "patch", go_quote(text), detail)])
        patched.setdefault("metadata", {})
        patched["apiVersion"], patched["kind"] = kind.api_version, kind.kind
        return patched

    def _from_scale(self, scale: Obj, info: _Info) -> Obj:
        """``scaleUpdatedObjectInfo``: replicas and resourceVersion move from the Scale to the Deployment."""
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            text = go_quote(json.dumps(scale, separators=(",", ":")))
            detail = f"json: cannot unmarshal {go_type(replicas)} into Go struct field ScaleSpec.spec.replicas of type int32"
            raise invalid(GroupKind(), "", [FieldError("FieldValueInvalid", "patch", text, detail)])
        if replicas < 0:
            negative = FieldError(
                "FieldValueInvalid", "spec.replicas", str(replicas), "must be greater than or equal to 0"
            )
            raise invalid(GroupKind("autoscaling", "Scale"), info.name, [negative])
        deployment = copy.deepcopy(self.objects[(info.plural, info.namespace, info.name)])
        uid = (scale.get("metadata") or {}).get("uid")
        if uid and uid != deployment["metadata"].get("uid"):
            raise conflict(GroupResource("apps", "deployments/scale"), info.name,
                           f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                           f"{deployment['metadata'].get('uid')}")  # fmt: skip
        deployment["spec"]["replicas"] = replicas
        deployment["metadata"]["resourceVersion"] = (scale.get("metadata") or {}).get("resourceVersion", "")
        return deployment
