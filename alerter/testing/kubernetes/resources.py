"""The kinds the stand-in API server serves, and how each is written on the wire.

``kubernetes.store`` looks kinds up here and encodes every object it answers with ``wire``.
Each ``Kind`` carries the registry strategy switches of its real counterpart, because they
decide answers: whether a PUT without resourceVersion is accepted (``AllowUnconditionalUpdate``),
whether a PUT may create (``AllowCreateOnUpdate``), whether writes keep the old status (a status
subresource) and when ``metadata.generation`` moves. Sources, in kubernetes/kubernetes:
``pkg/registry/apps/deployment/strategy.go``, ``pkg/registry/core/configmap/strategy.go``,
``pkg/registry/coordination/lease/strategy.go``,
``pkg/registry/autoscaling/horizontalpodautoscaler/strategy.go`` and, for custom resources,
``staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresource/strategy.go``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from alerter.testing.kubernetes.errors import GroupResource, bad_request

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Kind:
    """One served resource and the strategy switches of its registry."""

    plural: str
    group: str
    version: str
    kind: str
    custom: bool = False
    """Served by the apiextensions server from a CRD (unstructured, no strategic merge)."""
    status: bool = False
    """Has a status subresource: create clears status, writes to the main resource keep it."""
    generation: Literal["none", "spec", "content"] = "none"
    """``spec``: bumped when spec or annotations change (Deployments); ``content``: when anything
    outside metadata and status changes (custom resources); ``none``: never set."""
    unconditional_update: bool = True
    create_on_update: bool = False
    scale: bool = False
    """Serves ``/scale`` as an ``autoscaling/v1`` Scale."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> GroupResource:
        return GroupResource(self.group, self.plural)

    @property
    def patch_types(self) -> tuple[str, ...]:
        """The PATCH content types, in the order the 415 answer lists them.

        ``supportedTypes`` in ``staging/src/k8s.io/apiserver/pkg/endpoints/installer.go`` and, without
        strategic merge, in ``.../apiextensions-apiserver/pkg/apiserver/customresource_handler.go``.
        """
        if self.custom:
            return (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)
        return (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)


KINDS: dict[str, Kind] = {
    k.plural: k
    for k in (
        Kind("deployments", "apps", "v1", "Deployment", status=True, generation="spec", scale=True),
        Kind("horizontalpodautoscalers", "autoscaling", "v2", "HorizontalPodAutoscaler", status=True),
        Kind("configmaps", "", "v1", "ConfigMap"),
        Kind("leases", "coordination.k8s.io", "v1", "Lease", unconditional_update=False, create_on_update=True),
        Kind("httproutes", "gateway.networking.k8s.io", "v1", "HTTPRoute", custom=True, status=True,
             generation="content", unconditional_update=False),
        Kind("scaledobjects", "keda.sh", "v1alpha1", "ScaledObject", custom=True, status=True,
             generation="content", unconditional_update=False),
    )
}  # fmt: skip

BUILTIN_GROUP_VERSIONS = {("", "v1"), ("apps", "v1"), ("autoscaling", "v1"), ("autoscaling", "v2"),
                          ("coordination.k8s.io", "v1")}  # fmt: skip
"""Group versions go-restful serves: an unknown resource under them is go-restful's 404."""

_META_ORDER = ("name", "generateName", "namespace", "uid", "resourceVersion", "generation",
               "creationTimestamp", "labels", "annotations", "ownerReferences", "finalizers")  # fmt: skip
_MICROTIME = ("acquireTime", "renewTime")


def _sorted(value: Any) -> Any:
    """``encoding/json`` writes map keys in sorted order; unstructured objects are all maps."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def wire(kind: Kind, obj: Obj) -> Obj:
    """``obj`` as the API server writes it.

    Custom resources are unstructured maps: every key sorted, empty values kept. Built-in kinds
    are Go structs: ``kind``, ``apiVersion``, ``metadata`` first, and the ``omitempty`` fields of
    ``ObjectMeta`` and ``ConfigMap.data`` / ``binaryData`` vanish when empty (an empty map and an
    absent one are the same object to the API server).
    """
    if kind.custom:
        return dict(_sorted(copy.deepcopy(obj)))
    obj = copy.deepcopy(obj)
    meta = obj.pop("metadata", {})
    out: Obj = {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": {}}
    for key in (*_META_ORDER, *sorted(set(meta) - set(_META_ORDER))):
        value = meta.get(key)
        if value not in (None, "", 0, {}, []):
            out["metadata"][key] = _sorted(value) if key in ("labels", "annotations") else value
    for key, value in obj.items():
        if key in ("kind", "apiVersion"):
            continue
        if kind.plural == "configmaps" and key in ("data", "binaryData"):
            if value:
                out[key] = _sorted(value)
            continue
        out[key] = value
    return out


def list_item(kind: Kind, obj: Obj) -> Obj:
    """An item of a list: built-in kinds lose ``kind`` and ``apiVersion`` there, custom ones keep them.

    kubernetes/kubernetes#3030 (open): typed list items are encoded with empty type metadata.
    """
    item = wire(kind, obj)
    if not kind.custom:
        item.pop("kind", None)
        item.pop("apiVersion", None)
    return item


def selector_string(selector: Obj | None) -> str:
    """``metav1.LabelSelectorAsSelector(...).String()``: requirements sorted by key."""
    selector = selector or {}
    parts: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key", ""), req.get("operator", ""), sorted(req.get("values") or [])
        text = {"In": f"{key} in ({','.join(values)})", "NotIn": f"{key} notin ({','.join(values)})",
                "Exists": key, "DoesNotExist": f"!{key}"}.get(op, key)  # fmt: skip
        parts.append((key, text))
    return ",".join(text for _, text in sorted(parts))


def scale_of(deployment: Obj) -> Obj:
    """``scaleFromDeployment`` (``pkg/registry/apps/deployment/storage/storage.go``) on the wire.

    ``autoscaling/v1`` ``ScaleSpec.replicas`` is ``omitempty`` (0 replicas: ``spec: {}``),
    ``ScaleStatus.replicas`` is not, and it is the Deployment's *status* replicas
    (``staging/src/k8s.io/api/autoscaling/v1/types.go``).
    """
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    keep = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    scale: Obj = {"kind": "Scale", "apiVersion": "autoscaling/v1",
                  "metadata": {k: meta[k] for k in keep if meta.get(k)}, "spec": {}}  # fmt: skip
    if spec.get("replicas"):
        scale["spec"]["replicas"] = spec["replicas"]
    status: Obj = {"replicas": int((deployment.get("status") or {}).get("replicas") or 0)}
    selector = selector_string(spec.get("selector"))
    if selector:
        status["selector"] = selector
    scale["status"] = status
    return scale


def microtime(kind: Kind, obj: Obj) -> None:
    """Leases' ``metav1.MicroTime`` fields read back as RFC 3339 with six fraction digits, in UTC."""
    if kind.plural != "leases":
        return
    spec = obj.get("spec") or {}
    for field in _MICROTIME:
        value = spec.get(field)
        if value is None:
            continue
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise bad_request(
                f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
                f"parsing time {json.dumps(value)}: {exc}"
            ) from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        spec[field] = parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
