"""The stand-in API server's objects and the registry rules every write goes through.

``kubernetes.cluster.Cluster`` (the request side) builds on ``Store``; tests reach it as
``cluster.put`` / ``cluster.get`` to arrange and inspect objects the way ``kubectl`` and the
controllers would leave them. The write rules are those of ``Store.Update`` in kubernetes/kubernetes
``staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go`` and of
``BeforeCreate`` / ``BeforeUpdate`` in ``staging/src/k8s.io/apiserver/pkg/registry/rest/``:
resourceVersion preconditions, create-on-update, system fields carried over, status kept for
kinds with a status subresource, generation bumps, and no new resourceVersion for a write that
changes nothing (``GuaranteedUpdate`` skips identical bytes).
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from alerter.testing.kubernetes.errors import (
    FieldError,
    GroupKind,
    already_exists,
    conflict,
    invalid,
    storage_error,
)
from alerter.testing.kubernetes.resources import KINDS, Kind, microtime, wire

Obj = dict[str, Any]
Key = tuple[str, str, str]  # plural, namespace, name

_NAME_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # staging/src/k8s.io/apimachinery/pkg/util/rand


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _content(kind: Kind, obj: Obj) -> Obj:
    """What a custom resource's generation follows: everything but metadata (and status)."""
    drop = {"metadata", "status"} if kind.status else {"metadata"}
    return {k: v for k, v in obj.items() if k not in drop}


def _defaults(kind: Kind, obj: Obj) -> None:
    """The defaulting the stand-in applies: ``SetDefaults_Deployment`` (``pkg/apis/apps/v1/defaults.go``)
    gives 1 replica, ``SetDefaults_HorizontalPodAutoscaler`` (``pkg/apis/autoscaling/v2/defaults.go``)
    a minReplicas of 1. Other defaults (rollout strategy, pod template fields) are not filled in."""
    spec = obj.get("spec")
    if kind.plural == "deployments" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
    if kind.plural == "horizontalpodautoscalers" and isinstance(spec, dict):
        spec.setdefault("minReplicas", 1)
    microtime(kind, obj)


class Store:
    """Namespaced objects by (plural, namespace, name), one global resourceVersion counter."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[Key, Obj] = {}
        self._version = 100

    @property
    def version(self) -> str:
        """The newest resourceVersion: what a list answers in ``metadata.resourceVersion``."""
        return str(self._version)

    def put(self, plural: str, obj: Obj) -> Obj:
        """Create or overwrite an object directly, as ``kubectl`` and the controllers would leave it.

        Status is stored as given (a controller's job), resourceVersion always moves; the
        namespace defaults to ``default``.
        """
        kind = KINDS[plural]
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        with self.lock:
            current = self.objects.get((plural, meta["namespace"], meta["name"]))
            meta.setdefault("uid", (current or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
            self._generation(kind, obj, current)
            _defaults(kind, obj)
            return self._stamp((plural, meta["namespace"], meta["name"]), obj)

    def get(self, plural: str, namespace: str, name: str) -> Obj:
        """The stored object (a copy); KeyError when there is none."""
        with self.lock:
            return copy.deepcopy(self.objects[(plural, namespace, name)])

    def _stamp(self, key: Key, obj: Obj) -> Obj:
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)
        self.objects[key] = obj
        return copy.deepcopy(obj)

    @staticmethod
    def _generation(kind: Kind, obj: Obj, old: Obj | None) -> None:
        """``PrepareForCreate`` sets 1; ``PrepareForUpdate`` adds 1 when what it watches changed."""
        meta = obj["metadata"]
        if kind.generation == "none":
            return
        if old is None:
            meta["generation"] = 1
            return
        previous = int(old["metadata"].get("generation") or 1)
        if kind.generation == "spec":
            changed = obj.get("spec") != old.get("spec") or (meta.get("annotations") or {}) != (
                old["metadata"].get("annotations") or {}
            )
        else:
            changed = _content(kind, obj) != _content(kind, old)
        meta["generation"] = previous + 1 if changed else previous

    def create(self, kind: Kind, namespace: str, obj: Obj) -> Obj:
        """``Store.Create``: name (or generateName) required, no resourceVersion, name not taken."""
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choices(_NAME_SUFFIX, k=5))
        name = str(meta.get("name") or "")
        if not name:
            required = FieldError(
                "FieldValueRequired", "metadata.name", None, "name or generateName is required"
            )
            raise invalid(GroupKind(kind.group, kind.kind), "", [required])
        if meta.get("resourceVersion"):
            # etcd3 store.Create returns ErrResourceVersionSetOnCreate, a plain error: a 500
            raise storage_error(500, "", "resourceVersion should not be set on objects to be created")
        key = (kind.plural, namespace, name)
        if key in self.objects:
            raise already_exists(kind.resource, name)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        if kind.status and kind.custom:
            obj.pop("status", None)
        elif kind.status:
            obj["status"] = {}
        self._generation(kind, obj, None)
        _defaults(kind, obj)
        return self._stamp(key, obj)

    def update(self, kind: Kind, key: Key, new: Obj) -> Obj:
        """``Store.Update`` of an existing object with ``new`` (apiVersion and kind already set).

        No resourceVersion: accepted only where ``AllowUnconditionalUpdate``, else 422 "must be
        specified for an update"; a different one: 409 Conflict. A uid that is not the object's
        fails the uid precondition, also a 409.
        """
        current = self.objects[key]
        name, meta, old_meta = key[2], new["metadata"], current["metadata"]
        if meta.get("uid") and meta["uid"] != old_meta.get("uid"):  # checked by the storage first
            raise conflict(kind.resource, name, f"Precondition failed: UID in precondition: {meta['uid']}, "
                                                f"UID in object meta: {old_meta.get('uid')}")  # fmt: skip
        sent = str(meta.get("resourceVersion") or "")
        if sent in ("", "0"):
            if not kind.unconditional_update:
                missing = FieldError("FieldValueInvalid", "metadata.resourceVersion", "0x0",
                                     "must be specified for an update")  # fmt: skip
                raise invalid(GroupKind(kind.group, kind.plural), name, [missing])
        elif sent != old_meta["resourceVersion"]:
            raise conflict(kind.resource, name)
        meta["uid"] = old_meta.get("uid")
        meta["creationTimestamp"] = old_meta.get("creationTimestamp")
        meta["generation"] = old_meta.get("generation")
        if kind.status:
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
        self._generation(kind, new, current)
        _defaults(kind, new)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if wire(kind, new) == wire(kind, current):
            return copy.deepcopy(current)
        return self._stamp(key, new)
