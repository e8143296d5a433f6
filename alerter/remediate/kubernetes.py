"""The only adapter to the Kubernetes API: read current values, apply and revert changes, lead.

``remediate.runner`` calls ``KubeActuator.plan`` / ``apply`` / ``revert`` / ``annotations``,
``remediate.lease`` leads and ``cluster.membership`` keeps its member Leases through
``coordination_api``, the composition root calls ``connect``.
Nothing else imports the ``kubernetes`` client. Every write is a JSON Patch whose ``test``
operations pin the value the plan was computed from, so a concurrent change by a human or an
autoscaler makes the write fail (422) instead of being overwritten. API failures become
``ActionError`` with a reason and whether a retry can help: 403 and 404 cannot, 409 and 5xx can.
A 422 carries no cause, so the target is re-read: at the target value means already applied,
away from the planned value means it changed underneath us. A write that got no answer (a read
timeout, a dropped connection, a 502 or 504) may still have been carried out, so it is re-read
too and never reported as failed: at the target it is applied, and otherwise it is reported as
applied with a note that it may not be, so that verification and the revert (which re-reads
before it writes) still follow it. Every request carries the ``Timeouts`` it was built with and
the client does not retry on its own, so a stalled API server costs one call at most
``connect + read`` seconds and the runner's next tick is the retry.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from alerter.core.errors import ActionError
from alerter.remediate.actions import (
    ActionSpec,
    Change,
    ConfigMapSpec,
    RouteSpec,
    ScaleSpec,
    route_weights,
    scale_target,
    split_ref,
)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
HTTPROUTE = ("gateway.networking.k8s.io", "v1", "httproutes")
SCALEDOBJECT = ("keda.sh", "v1alpha1", "scaledobjects")


@dataclass(frozen=True)
class Timeouts:
    """How long one Kubernetes API request may wait, in seconds (``remediation.kubernetes``).

    Without them the client waits forever on a stalled API server or a partitioned network, and
    the remediation job, the Lease renewal with it, hangs. The defaults leave a 15 s Lease room
    for one call and a renewal.
    """

    connect: float = 5.0
    """To open the connection (TCP and TLS); nothing has been sent if this runs out."""
    read: float = 10.0
    """For the answer, per read from the socket; a write whose answer runs out may have happened."""

    def __post_init__(self) -> None:
        for name in ("connect", "read"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"remediation.kubernetes.{name}_timeout must be a positive number of seconds, got {value!r}"
                )

    @property
    def request_timeout(self) -> tuple[float, float]:
        """The client's ``_request_timeout``: a (connect, read) pair becomes ``urllib3.Timeout``."""
        return (self.connect, self.read)


class _Timed:
    """A client API object whose every method call carries ``_request_timeout``.

    Wrapping the object, rather than passing the argument at each call, means no call, present
    or future, can be made without it.
    """

    def __init__(self, api: Any, timeouts: Timeouts) -> None:
        self._wrapped = api
        self._timeout = timeouts.request_timeout

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._wrapped, name)
        if not callable(attribute):
            return attribute
        return functools.partial(attribute, _request_timeout=self._timeout)


def connect(*, in_cluster: bool = False, kubeconfig: str | None = None, context: str | None = None) -> Any:
    """An ``ApiClient`` from the pod's service account or from a kubeconfig (context selectable).

    urllib3 would retry a GET whose answer timed out three times, making one call last four read
    timeouts; retries are the runner's (its next tick), so the client makes one attempt.
    """
    configuration = client.Configuration()
    configuration.retries = 0
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
    except (config.ConfigException, OSError) as exc:
        source = (
            "in-cluster service account" if in_cluster else f"kubeconfig {kubeconfig or '~/.kube/config'}"
        )
        raise ActionError(
            f"cannot load Kubernetes credentials from {source}: {exc}", retryable=False, reason="config"
        ) from exc
    return client.ApiClient(configuration)


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


class Unanswered(ActionError):
    """A write the API server may have carried out although no answer said so.

    kube-apiserver's timeout filter answers 504 while the handler goes on and may still commit
    (``staging/src/k8s.io/apiserver/pkg/server/filters/timeout.go``); a proxy in front answers
    502 or 504 for the same reason; a read timeout or a dropped connection after the request
    was sent tells nothing either.
    """


@contextmanager
def translate(what: str, *, write: bool = False) -> Iterator[None]:
    """Turn client exceptions into ``ActionError`` saying what failed and whether to retry.

    With ``write``, a failure after which the change may have happened is an ``Unanswered``.
    """
    try:
        yield
    except ApiException as exc:
        message = _message(exc)
        status = exc.status
        if write and status in (502, 504):
            raise Unanswered(
                f"no answer from the API server to {what}: {status} {message}",
                retryable=True,
                reason="server-error",
            ) from exc
        if status == 403:
            raise ActionError(
                f"forbidden to {what}: {message} (grant it in deploy/kubernetes/rbac.yaml)",
                retryable=False,
                reason="forbidden",
            ) from exc
        if status == 404:
            raise ActionError(
                f"cannot {what}: not found ({message})", retryable=False, reason="not-found"
            ) from exc
        if status == 409:
            raise ActionError(
                f"conflict while trying to {what}: {message}", retryable=True, reason="conflict"
            ) from exc
        if status == 422:
            # kube-apiserver answers a failed JSON Patch ``test`` op with the generic 422 and no
            # causes (``applyJSPatch`` in apiserver handlers/patch.go via apimachinery's
            # ``NewGenericServerResponse``): only a re-read can tell a concurrent change apart.
            raise ActionError(
                f"cannot {what}: 422 {message}", retryable=False, reason="unprocessable"
            ) from exc
        if status in (429, 500, 502, 503, 504):
            raise ActionError(
                f"API server error while trying to {what}: {status} {message}",
                retryable=True,
                reason="server-error",
            ) from exc
        raise ActionError(f"cannot {what}: {status} {message}", retryable=False, reason="rejected") from exc
    except urllib3.exceptions.HTTPError as exc:
        cause = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
        if isinstance(cause, urllib3.exceptions.ConnectTimeoutError):  # NewConnectionError too: not sent
            raise ActionError(
                f"API server unreachable while trying to {what}: {exc}", retryable=True, reason="unreachable"
            ) from exc
        timeout = isinstance(cause, urllib3.exceptions.ReadTimeoutError)
        error = Unanswered if write else ActionError
        raise error(
            f"no answer from the API server while trying to {what}: {exc}",
            retryable=True,
            reason="timeout" if timeout else "unreachable",
        ) from exc


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def microtime(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _scales_up(spec: ScaleSpec) -> bool:
    return (spec.step or 0) > 0 or (spec.factor or 0) > 1


class KubeActuator:
    """Plans, applies and reverts remediation changes against one cluster."""

    def __init__(self, api_client: Any, *, timeouts: Timeouts | None = None) -> None:
        timeouts = timeouts or Timeouts()
        self._api = _Timed(api_client, timeouts)
        self._apps = _Timed(client.AppsV1Api(api_client), timeouts)
        self._hpa = _Timed(client.AutoscalingV2Api(api_client), timeouts)
        self._core = _Timed(client.CoreV1Api(api_client), timeouts)
        self._custom = _Timed(client.CustomObjectsApi(api_client), timeouts)

    # ---- reads -------------------------------------------------------------------------------

    def annotations(self, spec: ActionSpec) -> Mapping[str, str]:
        """Annotations of the object the action targets (where the opt-out annotation lives)."""
        namespace, name = spec.target
        if isinstance(spec, ScaleSpec):
            with translate(f"read deployment {namespace}/{name}"):
                meta = self._apps.read_namespaced_deployment(name, namespace).metadata
            return dict(meta.annotations or {})
        if isinstance(spec, ConfigMapSpec):
            with translate(f"read configmap {namespace}/{name}"):
                meta = self._core.read_namespaced_config_map(name, namespace).metadata
            return dict(meta.annotations or {})
        obj = self._get_custom(HTTPROUTE, namespace, name)
        return dict(obj.get("metadata", {}).get("annotations") or {})

    def _get_custom(self, kind: tuple[str, str, str], namespace: str, name: str) -> dict[str, Any]:
        group, version, plural = kind
        with translate(f"read {plural} {namespace}/{name}"):
            return dict(self._custom.get_namespaced_custom_object(group, version, namespace, plural, name))

    def _scaledobject_for(self, namespace: str, deployment: str) -> dict[str, Any] | None:
        group, version, plural = SCALEDOBJECT
        try:
            with translate(f"list scaledobjects in {namespace}"):
                listing = self._custom.list_namespaced_custom_object(group, version, namespace, plural)
        except ActionError as exc:
            if exc.reason == "not-found":  # KEDA is not installed: nothing owns the Deployment
                return None
            raise
        for item in listing.get("items", []):
            ref = item.get("spec", {}).get("scaleTargetRef", {})
            if ref.get("name") == deployment and ref.get("kind", "Deployment") == "Deployment":
                return dict(item)
        return None

    def _hpa_for(self, namespace: str, deployment: str) -> Any:
        with translate(f"list horizontalpodautoscalers in {namespace}"):
            items = self._hpa.list_namespaced_horizontal_pod_autoscaler(namespace).items
        for hpa in items:
            ref = hpa.spec.scale_target_ref
            if ref.kind == "Deployment" and ref.name == deployment:
                return hpa
        return None

    def read(self, change: Change) -> Any:
        """The value ``change`` governs, as it is now in the cluster."""
        ns, name = change.namespace, change.name
        if change.via == "deployment/scale":
            with translate(f"read the scale of deployment {ns}/{name}"):
                # autoscaling/v1 ScaleSpec.replicas is omitempty: 0 replicas arrive as ``spec: {}``
                return int(self._apps.read_namespaced_deployment_scale(name, ns).spec.replicas or 0)
        if change.via == "hpa":
            with translate(f"read horizontalpodautoscaler {ns}/{name}"):
                return self._hpa.read_namespaced_horizontal_pod_autoscaler(name, ns).spec.min_replicas
        if change.via == "scaledobject":
            return self._get_custom(SCALEDOBJECT, ns, name).get("spec", {}).get("minReplicaCount")
        if change.via == "httproute":
            route = self._get_custom(HTTPROUTE, ns, name)
            return self._weights(route, change.extra["rule"], change.extra["names"])[1]
        with translate(f"read configmap {ns}/{name}"):
            data = self._core.read_namespaced_config_map(name, ns).data or {}
        return data.get(change.extra["key"])

    @staticmethod
    def _weights(
        route: Mapping[str, Any], rule: int, names: list[str] | None = None
    ) -> tuple[list[str], list[int]]:
        rules = route.get("spec", {}).get("rules", [])
        where = f"httproute {route['metadata']['namespace']}/{route['metadata']['name']}"
        if rule >= len(rules):
            raise ActionError(
                f"{where} has no rule {rule} ({len(rules)} rules)", retryable=False, reason="invalid"
            )
        refs = rules[rule].get("backendRefs", [])
        found = [str(r.get("name", "")) for r in refs]
        if names is not None and found != names:
            raise ActionError(
                f"{where} rule {rule} backends changed from {names} to {found}",
                retryable=False,
                reason="changed-concurrently",
            )
        return found, [int(r.get("weight", 1)) for r in refs]

    # ---- planning ----------------------------------------------------------------------------

    def plan(self, spec: ActionSpec) -> Change:
        """Read the current state and compute the absolute target; nothing is written."""
        if isinstance(spec, ScaleSpec):
            return self._plan_scale(spec)
        if isinstance(spec, RouteSpec):
            namespace, name = spec.target
            route = self._get_custom(HTTPROUTE, namespace, name)
            names, weights = self._weights(route, spec.rule)
            try:
                desired = route_weights(names, weights, spec)
            except ValueError as exc:
                raise ActionError(
                    f"httproute {namespace}/{name}: {exc}", retryable=False, reason="invalid"
                ) from exc
            summary = (
                f"route {spec.weight}% of httproute {namespace}/{name} rule {spec.rule} to {spec.backend}"
            )
            return Change(
                "httproute",
                namespace,
                name,
                weights,
                desired,
                summary,
                extra={"rule": spec.rule, "names": names},
            )
        namespace, name = spec.target
        with translate(f"read configmap {namespace}/{name}"):
            data = self._core.read_namespaced_config_map(name, namespace).data or {}
        summary = f"set {spec.key}={spec.value!r} in configmap {namespace}/{name}"
        if spec.restart:
            summary += f" and restart deployment {spec.restart}"
        return Change(
            "configmap",
            namespace,
            name,
            data.get(spec.key),
            spec.value,
            summary,
            extra={"key": spec.key, "restart": spec.restart},
        )

    def _plan_scale(self, spec: ScaleSpec) -> Change:
        namespace, name = spec.target
        with translate(f"read the scale of deployment {namespace}/{name}"):
            current = int(self._apps.read_namespaced_deployment_scale(name, namespace).spec.replicas or 0)
        wanted = scale_target(current, spec)
        context = {"deployment": name, "replicas": current}
        owner = self._scaledobject_for(namespace, name)
        if owner is not None:
            so = owner.get("spec", {})
            return _raise_floor("scaledobject", "ScaledObject minReplicaCount", namespace,
                                owner["metadata"]["name"], so.get("minReplicaCount"), int(so.get("maxReplicaCount", 100)),
                                spec, wanted, context)  # fmt: skip
        hpa = self._hpa_for(namespace, name)
        if hpa is not None:
            return _raise_floor("hpa", "HPA minReplicas", namespace, hpa.metadata.name,
                                int(hpa.spec.min_replicas or 1), int(hpa.spec.max_replicas), spec, wanted,
                                context)  # fmt: skip
        summary = f"scale deployment {namespace}/{name} {current} -> {wanted} replicas"
        return Change("deployment/scale", namespace, name, current, wanted, summary, extra=context)

    # ---- writes ------------------------------------------------------------------------------

    def apply(self, change: Change, now: float) -> Change:
        """Write ``change.desired``, guarded by a test on ``change.previous``; idempotent.

        Once the value is written, nothing after it makes the action a failure: a restart that
        fails becomes a note, so the change is still verified and reverted.
        """
        notes: list[str] = []
        if change.changes_anything:
            try:
                self._write(change, change.previous, change.desired)
            except Unanswered as exc:
                notes.append(self._judge_unanswered(change, exc))
            except ActionError as exc:
                if exc.reason != "unprocessable":
                    raise
                self._judge_rejected_patch(change, exc)
        if change.via == "configmap" and change.extra.get("restart"):
            deployment = str(change.extra["restart"])
            try:
                self.restart(deployment, now)
            except ActionError as exc:
                if not change.changes_anything:
                    raise
                notes.append(f"the restart of deployment {deployment} failed, so pods read the new value "
                             f"when they next start: {exc}")  # fmt: skip
        return replace(change, applied=True, notes=(*change.notes, *notes))

    def _judge_unanswered(self, change: Change, exc: Unanswered) -> str:
        """Re-read after a write that got no answer; the note says what the cluster shows."""
        try:
            current = self.read(change)
        except ActionError as again:
            return (f"the API server did not answer ({exc}) nor the re-read ({again}): the change may be in "
                    "place; verification and the revert re-read the target")  # fmt: skip
        if current == change.desired:
            return "the API server's answer was lost; a re-read shows the change in place"
        if current == change.previous:
            return (f"the API server did not answer ({exc}) and a re-read still shows {current!r}; the write "
                    "may land yet, so verification and the revert re-read the target")  # fmt: skip
        raise _changed_concurrently(change, current) from exc

    def _judge_rejected_patch(self, change: Change, exc: ActionError) -> None:
        """Re-read after a 422: already at the target is success (a retry after an unknown outcome);
        moved away from the planned value is a concurrent change; otherwise the patch was invalid."""
        current = self.read(change)
        if current == change.desired:
            return
        if current != change.previous:
            raise _changed_concurrently(change, current) from exc
        raise exc

    def revert(self, change: Change, now: float) -> tuple[bool, str]:
        """Restore ``change.previous`` unless someone changed the value since; say what happened."""
        current = self.read(change)
        if current != change.desired:
            return False, (
                f"left as is: {change.via} {change.namespace}/{change.name} is now {current!r}, not the "
                f"{change.desired!r} the action set; it was changed since, so a human owns it"
            )
        undo = replace(change, previous=change.desired, desired=change.previous, notes=())
        done = self.apply(undo, now)
        where = f"{change.via} {change.namespace}/{change.name}"
        notes = "".join(f" ({n})" for n in done.notes)
        return True, f"reverted {where} {change.desired!r} -> {change.previous!r}{notes}"

    def restart(self, deployment: str, now: float) -> None:
        """A rollout restart, as ``kubectl rollout restart`` does it: stamp the pod template."""
        namespace, name = split_ref(deployment, "configmap.restart")
        body = {
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: microtime(now)[:19] + "Z"}}}}
        }
        with translate(f"restart deployment {namespace}/{name}", write=True):
            self._apps.patch_namespaced_deployment(name, namespace, body)

    def _write(self, change: Change, expected: Any, desired: Any) -> None:
        ns, name, via = change.namespace, change.name, change.via
        if via == "deployment/scale":
            # At 0 the field is absent (omitempty), so the guard is an empty spec, and ``add`` sets it.
            guard = (
                {"path": "/spec/replicas", "value": expected} if expected else {"path": "/spec", "value": {}}
            )
            ops = [{"op": "test", **guard}, {"op": "add", "path": "/spec/replicas", "value": desired}]
            with translate(f"scale deployment {ns}/{name}", write=True):
                self._apps.patch_namespaced_deployment_scale(name, ns, ops)
        elif via == "hpa":
            ops = [
                {"op": "test", "path": "/spec/minReplicas", "value": expected},
                {"op": "replace", "path": "/spec/minReplicas", "value": desired},
            ]
            with translate(f"patch horizontalpodautoscaler {ns}/{name}", write=True):
                self._hpa.patch_namespaced_horizontal_pod_autoscaler(name, ns, ops)
        elif via == "scaledobject":
            self._json_patch(SCALEDOBJECT, ns, name, _value_ops("/spec/minReplicaCount", expected, desired))
        elif via == "httproute":
            self._json_patch(HTTPROUTE, ns, name, self._route_ops(change, expected, desired))
        else:
            self._write_configmap(ns, name, str(change.extra["key"]), expected, desired)

    def _route_ops(self, change: Change, expected: list[int], desired: list[int]) -> list[dict[str, Any]]:
        rule, names = change.extra["rule"], change.extra["names"]
        route = self._get_custom(HTTPROUTE, change.namespace, change.name)
        refs = route.get("spec", {}).get("rules", [{}] * (rule + 1))[rule].get("backendRefs", [])
        ops: list[dict[str, Any]] = []
        for j, (ref, before, after) in enumerate(zip(names, expected, desired, strict=True)):
            base = f"/spec/rules/{rule}/backendRefs/{j}"
            ops.append({"op": "test", "path": f"{base}/name", "value": ref})
            if j < len(refs) and "weight" in refs[j]:  # an absent weight means 1 and cannot be tested
                ops.append({"op": "test", "path": f"{base}/weight", "value": before})
            ops.append({"op": "add", "path": f"{base}/weight", "value": after})
        return ops

    def _write_configmap(self, ns: str, name: str, key: str, expected: Any, desired: Any) -> None:
        with translate(f"read configmap {ns}/{name}"):
            data = self._core.read_namespaced_config_map(name, ns).data
        ops = [] if data is not None else [{"op": "add", "path": "/data", "value": {}}]
        ops += _value_ops(f"/data/{_escape(key)}", expected, desired)
        with translate(f"patch configmap {ns}/{name}", write=True):
            self._core.patch_namespaced_config_map(name, ns, ops)

    def _json_patch(self, kind: tuple[str, str, str], ns: str, name: str, ops: list[dict[str, Any]]) -> None:
        # CustomObjectsApi.patch_namespaced_custom_object always sends merge-patch+json, and custom
        # resources reject strategic merge: a JSON Patch needs the content type set by hand.
        group, version, plural = kind
        with translate(f"patch {plural} {ns}/{name}", write=True):
            self._api.call_api(
                "/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}",
                "PATCH",
                path_params={
                    "group": group,
                    "version": version,
                    "namespace": ns,
                    "plural": plural,
                    "name": name,
                },
                header_params={"Accept": "application/json", "Content-Type": "application/json-patch+json"},
                body=ops,
                response_type="object",
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )


_CAP_FIELD = {"minReplicas": "maxReplicas", "minReplicaCount": "maxReplicaCount"}


def _raise_floor(via: str, what: str, namespace: str, owner: str, previous: int | None, cap: int,
                 spec: ScaleSpec, wanted: int, context: dict[str, Any]) -> Change:  # fmt: skip
    """An autoscaler owns the Deployment: move its floor instead, within its own maximum.

    Scaling the Deployment directly would be undone by the autoscaler within seconds. ``what``
    is the owner's kind and floor field, e.g. ``"HPA minReplicas"``.
    """
    kind, floor_field = what.split(" ", 1)
    desired = min(wanted, cap)
    if _scales_up(spec):
        desired = max(desired, previous or 0)
    notes: tuple[str, ...] = ()
    if wanted > desired:
        notes = (f"{kind} {_CAP_FIELD[floor_field]} {cap} caps the target {wanted}",)
    summary = (f"set {floor_field} of {kind} {namespace}/{owner} {previous or 0} -> {desired} "
               f"(deployment {context['deployment']} at {context['replicas']} replicas)")  # fmt: skip
    return Change(via, namespace, owner, previous, desired, summary, notes=notes, extra=context)


def _value_ops(path: str, expected: Any, desired: Any) -> list[dict[str, Any]]:
    """Set ``path`` from ``expected`` to ``desired``; ``None`` means absent on either side."""
    ops: list[dict[str, Any]] = []
    if expected is not None:
        ops.append({"op": "test", "path": path, "value": expected})
    if desired is None:
        if expected is not None:
            ops.append({"op": "remove", "path": path})
    else:
        ops.append({"op": "add", "path": path, "value": desired})
    return ops


def coordination_api(api_client: Any, timeouts: Timeouts | None = None) -> Any:
    """The Lease API (read, list, create, replace) for ``remediate.lease`` and ``cluster.membership``,
    which must not import the client themselves."""
    return _Timed(client.CoordinationV1Api(api_client), timeouts or Timeouts())


def _changed_concurrently(change: Change, current: object) -> ActionError:
    """The target moved away from the value the change was planned from: someone else changed it."""
    return ActionError(
        f"cannot apply {change.summary}: the target changed concurrently "
        f"(planned from {change.previous!r}, now {current!r})",
        retryable=True,
        reason="changed-concurrently",
    )
