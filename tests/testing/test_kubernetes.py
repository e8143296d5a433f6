"""The Kubernetes API stand-in answers the real client, and raw HTTP, as kube-apiserver does.

The first tests drive it the way the demo does (``KubeApiServer`` with a token, the real client
through ``KubeActuator`` and ``LeaseLock``). The rest pin answers byte for byte against the
kube-apiserver source they copy, named in each docstring (paths in kubernetes/kubernetes unless
said otherwise): status codes, ``Status`` bodies, resourceVersion rules, PATCH semantics, wire form.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from alerter.core.errors import ActionError
from alerter.remediate.actions import ScaleSpec
from alerter.remediate.kubernetes import KubeActuator, connect
from alerter.remediate.lease import LeaseLock
from alerter.testing.kubernetes import (
    Cluster,
    KubeApiServer,
    configmap,
    deployment,
    httproute,
    serve,
    write_kubeconfig,
)

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
SMP = "application/strategic-merge-patch+json"
DEPLOY = "/apis/apps/v1/namespaces/inference/deployments"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/alerter/leases"
ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/inference/httproutes"
REJECTED = "the server rejected our request due to an error in our request"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[KubeApiServer, object]]:
    demo = KubeApiServer().start()
    demo.add_deployment("inference", "vllm-llama3", 2)
    api = connect(kubeconfig=str(write_kubeconfig(tmp_path / "kubeconfig.yaml", demo.url)))
    yield demo, api
    demo.stop()


@pytest.fixture
def kube() -> Iterator[tuple[str, Cluster]]:
    with serve() as (url, cluster):
        yield url, cluster


def http(url: str, method: str, path: str, body: Any = None, content_type: str = "application/json",
         token: str | None = None) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """One raw request: (status, decoded JSON body)."""
    headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {})}
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason}  # fmt: skip
    if details is not None:
        body["details"] = details
    return body | {"code": code}


def lease(name: str, holder: str = "pod-a", **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15},
    }


# ---- the demo's use, through the real client -------------------------------------------------


def test_scale_plan_reads_the_deployment_and_apply_patches_it(cluster: tuple[KubeApiServer, object]) -> None:
    demo, api = cluster
    actuator = KubeActuator(api)
    spec = ScaleSpec(deployment="inference/vllm-llama3", step=2, max_replicas=8)
    change = actuator.plan(spec)
    assert (change.via, change.previous, change.desired) == ("deployment/scale", 2, 4)
    assert actuator.read(change) == 2
    assert demo.replicas("inference", "vllm-llama3") == 2, "planning changes nothing"
    actuator.apply(change, 1_000.0)
    assert demo.replicas("inference", "vllm-llama3") == 4


def test_lease_is_created_then_renewed(cluster: tuple[KubeApiServer, object]) -> None:
    _, api = cluster
    lock = LeaseLock(api, namespace="inference", name="alerter", identity="demo", duration=15)
    assert lock.acquire(1_000.0)
    assert lock.acquire(1_005.0), "the holder renews its own lease"
    other = LeaseLock(api, namespace="inference", name="alerter", identity="other", duration=15)
    assert not other.acquire(1_006.0), "another identity waits until the lease expires"


def test_unknown_objects_and_kinds_are_not_found(cluster: tuple[KubeApiServer, object]) -> None:
    """``NewNotFound`` for a missing object; go-restful's generic 404 for a resource not served."""
    _, api = cluster
    apps = client.AppsV1Api(api)
    with pytest.raises(client.ApiException) as missing:
        apps.read_namespaced_deployment("nope", "inference")
    assert missing.value.status == 404
    with pytest.raises(client.ApiException) as absent:
        client.CoreV1Api(api).read_namespaced_config_map("x", "inference")
    assert absent.value.status == 404 and 'configmaps \\"x\\" not found' in str(absent.value.body)
    with pytest.raises(client.ApiException) as unserved:
        client.CoreV1Api(api).read_namespaced_secret("x", "inference")
    assert unserved.value.status == 404
    assert json.loads(unserved.value.body) == status(
        404, "NotFound", "the server could not find the requested resource", {}
    )


def test_a_wrong_token_is_refused(cluster: tuple[KubeApiServer, object], tmp_path: Path) -> None:
    demo, _ = cluster
    path = tmp_path / "other.yaml"
    path.write_text(
        write_kubeconfig(tmp_path / "k.yaml", demo.url).read_text().replace("demo-cluster-token", "x")
    )
    actuator = KubeActuator(connect(kubeconfig=str(path)))
    with pytest.raises(ActionError):
        actuator.plan(ScaleSpec(deployment="inference/vllm-llama3", step=1, max_replicas=8))


# ---- refusals: the Status bodies --------------------------------------------------------------


def test_unauthorized_and_anonymous(cluster: tuple[KubeApiServer, object]) -> None:
    """A bad token: ``NewUnauthorized("Unauthorized")`` (``staging/src/k8s.io/apiserver/pkg/endpoints/
    filters/authentication.go``), no details. No token: the anonymous user, whom RBAC refuses."""
    demo, _ = cluster
    assert http(demo.url, "GET", f"{DEPLOY}/vllm-llama3", token="x") == (
        401, status(401, "Unauthorized", "Unauthorized"))  # fmt: skip
    code, body = http(demo.url, "GET", f"{DEPLOY}/vllm-llama3")
    assert (code, body["reason"]) == (403, "Forbidden")
    assert 'User "system:anonymous" cannot get resource "deployments"' in body["message"]


def test_not_found_names_the_qualified_resource(kube: tuple[str, Cluster]) -> None:
    """``NewNotFound`` (``staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go``): the message
    names ``resource.group``, ``details`` carry name, group (omitted for core) and resource."""
    url, _ = kube
    assert http(url, "GET", f"{DEPLOY}/nope") == (404, status(
        404, "NotFound", 'deployments.apps "nope" not found', {"name": "nope", "group": "apps", "kind": "deployments"}))  # fmt: skip
    assert http(url, "GET", "/api/v1/namespaces/inference/configmaps/x")[1]["details"] == {
        "name": "x", "kind": "configmaps"}  # fmt: skip
    assert http(url, "GET", f"{DEPLOY}/nope/scale")[1]["message"] == 'deployments.apps "nope" not found'


def test_unserved_paths_and_uninstalled_crds(kube: tuple[str, Cluster]) -> None:
    """Under a group version go-restful serves: ``serviceErrorHandler`` → ``NewGenericServerResponse``
    (empty details, ``staging/src/k8s.io/apiserver/pkg/server/handler.go``). A CRD that is absent:
    ``staging/src/k8s.io/apiserver/pkg/util/notfoundhandler/not_found_handler.go`` (no details). An
    unknown subresource of a custom resource: ``NewNotFound`` from ``customresource_handler.go``."""
    url, cluster = kube
    generic = status(404, "NotFound", "the server could not find the requested resource")
    assert http(url, "GET", "/apis/apps/v1/namespaces/inference/statefulsets") == (
        404,
        generic | {"details": {}},
    )
    cluster.not_installed.add("scaledobjects")
    assert http(url, "GET", "/apis/keda.sh/v1alpha1/namespaces/inference/scaledobjects") == (404, generic)
    assert http(url, "GET", "/apis/example.com/v1/namespaces/inference/things") == (404, generic)
    cluster.put("httproutes", httproute("inference", "chat", [("a", 1)]))
    assert (
        http(url, "GET", f"{ROUTES}/chat/scale")[1]["message"]
        == 'httproutes.gateway.networking.k8s.io "chat" not found'
    )


def test_a_verb_without_a_route_is_405(kube: tuple[str, Cluster]) -> None:
    """go-restful has no route: ``NewGenericServerResponse(405)``, the server's message dropped."""
    url, cluster = kube
    cluster.put("deployments", deployment("inference", "vllm", 1))
    expected = status(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}
    )
    assert http(url, "DELETE", f"{DEPLOY}/vllm") == (405, expected)
    assert http(url, "PUT", DEPLOY, deployment("inference", "vllm", 1)) == (405, expected)


def test_forbidden_names_the_subresource_only_in_the_reason(kube: tuple[str, Cluster]) -> None:
    """``responsewriters.Forbidden`` (``.../endpoints/handlers/responsewriters/errors.go``) wraps
    ``forbiddenMessage`` in ``NewForbidden`` of the resource *without* subresource; no name, no quotes."""
    url, cluster = kube
    cluster.put("deployments", deployment("inference", "vllm", 2))
    cluster.forbidden |= {("deployments/scale", "patch"), ("scaledobjects", "list")}
    user = "system:serviceaccount:alerter:alerter"
    assert http(url, "PATCH", f"{DEPLOY}/vllm/scale", [], JSON_PATCH) == (403, status(403, "Forbidden",
        f'deployments.apps "vllm" is forbidden: User "{user}" cannot patch resource "deployments/scale" in API '
        'group "apps" in the namespace "inference"', {"name": "vllm", "group": "apps", "kind": "deployments"}))  # fmt: skip
    code, body = http(url, "GET", "/apis/keda.sh/v1alpha1/namespaces/inference/scaledobjects")
    assert (code, body["details"]) == (403, {"group": "keda.sh", "kind": "scaledobjects"})
    assert body["message"].startswith(f'scaledobjects.keda.sh is forbidden: User "{user}" cannot list')


# ---- writes: resourceVersion, create, update ---------------------------------------------------


def test_stale_resource_version_on_update_is_a_conflict(kube: tuple[str, Cluster]) -> None:
    """``Store.Update`` → ``NewConflict(qualifiedResource, name, OptimisticLockErrorMsg)``
    (``staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go``)."""
    url, _ = kube
    code, created = http(url, "POST", LEASES, lease("l"))
    assert code == 201
    renewed = created | {"spec": {"holderIdentity": "pod-b"}}
    assert http(url, "PUT", f"{LEASES}/l", renewed)[0] == 200, "a change moves the resourceVersion"
    assert http(url, "PUT", f"{LEASES}/l", created) == (409, status(409, "Conflict",
        'Operation cannot be fulfilled on leases.coordination.k8s.io "l": the object has been modified; please '
        "apply your changes to the latest version and try again",
        {"name": "l", "group": "coordination.k8s.io", "kind": "leases"}))  # fmt: skip


def test_update_without_resource_version_depends_on_the_strategy(kube: tuple[str, Cluster]) -> None:
    """Leases refuse it (``AllowUnconditionalUpdate`` false, ``pkg/registry/coordination/lease/strategy.go``):
    ``NewInvalid`` "must be specified for an update" with the ``%#v`` of ``uint64(0)``; ConfigMaps
    take it (``pkg/registry/core/configmap/strategy.go``)."""
    url, cluster = kube
    assert http(url, "POST", LEASES, lease("l"))[0] == 201
    message = "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    assert http(url, "PUT", f"{LEASES}/l", lease("l", "pod-b")) == (422, status(422, "Invalid",
        f'leases.coordination.k8s.io "l" is invalid: {message}', {"name": "l", "group": "coordination.k8s.io",
        "kind": "leases", "causes": [{"reason": "FieldValueInvalid", "message": message.split(": ", 1)[1],
        "field": "metadata.resourceVersion"}]}))  # fmt: skip
    cluster.put("configmaps", configmap("inference", "c", {"a": "1"}))
    code, body = http(
        url, "PUT", "/api/v1/namespaces/inference/configmaps/c", configmap("inference", "c", {"a": "2"})
    )
    assert (code, body["data"]) == (200, {"a": "2"})


def test_put_creates_a_missing_lease_but_not_a_missing_deployment(kube: tuple[str, Cluster]) -> None:
    """``AllowCreateOnUpdate`` is true for Leases only of these kinds: a PUT creates (201)."""
    url, _ = kube
    code, body = http(url, "PUT", f"{LEASES}/l", lease("l"))
    assert (code, body["spec"]["holderIdentity"]) == (201, "pod-a") and body["metadata"]["uid"]
    assert http(url, "PUT", f"{DEPLOY}/x", deployment("inference", "x", 1))[1]["reason"] == "NotFound"


def test_create_of_a_taken_name_already_exists(kube: tuple[str, Cluster]) -> None:
    """``NewAlreadyExists``: 409 like a conflict, told apart by its reason."""
    url, _ = kube
    assert http(url, "POST", LEASES, lease("l"))[0] == 201
    assert http(url, "POST", LEASES, lease("l")) == (409, status(409, "AlreadyExists",
        'leases.coordination.k8s.io "l" already exists', {"name": "l", "group": "coordination.k8s.io", "kind": "leases"}))  # fmt: skip


def test_names_and_namespaces_must_match_the_url(kube: tuple[str, Cluster]) -> None:
    """``checkName`` (``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go``), create's
    ``EnsureObjectNamespaceMatchesRequestNamespace``, and ``BeforeCreate``'s required name."""
    url, _ = kube
    assert http(url, "PUT", f"{LEASES}/l", lease("m"))[1]["message"] == (
        "the name of the object (m) does not match the name on the URL (l)")  # fmt: skip
    assert http(url, "POST", LEASES, lease("l", namespace="other"))[1]["message"] == (
        "the namespace of the provided object does not match the namespace sent on the request")  # fmt: skip
    code, body = http(url, "POST", LEASES, {"spec": {}})
    assert (code, body["message"]) == (
        422, 'Lease.coordination.k8s.io "" is invalid: metadata.name: Required value: name or generateName is required')  # fmt: skip
    assert http(url, "POST", LEASES, lease("n", resourceVersion="5"))[0] == 500


def test_system_fields_and_generation(kube: tuple[str, Cluster]) -> None:
    """Generation per strategy: Deployments bump on spec or annotation changes
    (``pkg/registry/apps/deployment/strategy.go``), custom resources on any change outside metadata
    and status (``customresource/strategy.go``), ConfigMaps and Leases have none."""
    url, cluster = kube
    created = http(url, "POST", DEPLOY, deployment("inference", "d", 1))[1]
    assert created["metadata"]["generation"] == 1 and created["status"] == {}, "create clears status"
    http(url, "PATCH", f"{DEPLOY}/d/scale", {"spec": {"replicas": 3}}, MERGE_PATCH)
    after = http(url, "PATCH", f"{DEPLOY}/d", {"metadata": {"labels": {"x": "y"}}}, MERGE_PATCH)[1]
    assert after["metadata"]["generation"] == 2, "a label is not spec"
    assert after["metadata"]["uid"] == created["metadata"]["uid"]
    assert after["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert "generation" not in http(url, "POST", LEASES, lease("l"))[1]["metadata"]
    cluster.put("httproutes", httproute("inference", "chat", [("a", 1)]))
    route = http(url, "PATCH", f"{ROUTES}/chat", [{"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight",
                                                   "value": 2}], JSON_PATCH)[1]  # fmt: skip
    assert route["metadata"]["generation"] == 2


def test_a_write_that_changes_nothing_keeps_the_resource_version(kube: tuple[str, Cluster]) -> None:
    """``GuaranteedUpdate`` skips a write whose bytes equal the stored ones."""
    url, cluster = kube
    before = cluster.put("deployments", deployment("inference", "d", 2))["metadata"]["resourceVersion"]
    body = http(url, "PATCH", f"{DEPLOY}/d", {"spec": {"replicas": 2}}, MERGE_PATCH)[1]
    assert body["metadata"]["resourceVersion"] == before


def test_writes_to_the_main_resource_keep_status(kube: tuple[str, Cluster]) -> None:
    """``PrepareForUpdate`` of a kind with a status subresource restores the old status."""
    url, cluster = kube
    cluster.put("deployments", deployment("inference", "d", 2))
    body = http(url, "PATCH", f"{DEPLOY}/d", {"status": {"replicas": 9}}, MERGE_PATCH)[1]
    assert body["status"] == {"replicas": 2}


# ---- PATCH -------------------------------------------------------------------------------------


def test_a_failed_test_op_is_the_generic_422(kube: tuple[str, Cluster]) -> None:
    """``applyJSPatch`` (``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go``) answers
    every JSON Patch that does not apply with ``NewGenericServerResponse(422, ..., false)``: reason
    Invalid, the generic message (the patch library's own is dropped) and empty details."""
    url, cluster = kube
    cluster.put("deployments", deployment("inference", "d", 7))
    expected = (422, status(422, "Invalid", REJECTED, {}))
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]
    assert http(url, "PATCH", f"{DEPLOY}/d/scale", ops, JSON_PATCH) == expected
    assert cluster.get("deployments", "inference", "d")["spec"]["replicas"] == 7, "all or nothing"
    for op in ({"op": "remove", "path": "/spec/nope"}, {"op": "add", "path": "/nope/x", "value": 1},
               {"op": "replace", "path": "/spec/template/spec/containers/5", "value": {}}, {"op": "frobnicate"}):  # fmt: skip
        assert http(url, "PATCH", f"{DEPLOY}/d", [op], JSON_PATCH) == expected, op


def test_json_patch_follows_evanphx_json_patch_v4(kube: tuple[str, Cluster]) -> None:
    """gopkg.in/evanphx/json-patch.v4 (evanphx/json-patch ``patch.go``): ``replace`` of a missing
    object key adds it, ``test`` of a missing value passes for ``null``, scalars compare as JSON text."""
    url, cluster = kube
    cluster.put("configmaps", configmap("inference", "c", {"a": "1"}))
    path = "/api/v1/namespaces/inference/configmaps/c"
    ops = [
        {"op": "test", "path": "/data/b", "value": None},
        {"op": "replace", "path": "/data/b", "value": "2"},
    ]
    assert http(url, "PATCH", path, ops, JSON_PATCH)[1]["data"] == {"a": "1", "b": "2"}
    cluster.put("deployments", deployment("inference", "d", 2))
    assert http(url, "PATCH", f"{DEPLOY}/d/scale", [{"op": "test", "path": "/spec/replicas", "value": 2.0}],
                JSON_PATCH)[0] == 422  # fmt: skip


def test_patch_bodies_that_do_not_decode(kube: tuple[str, Cluster]) -> None:
    """A JSON Patch that is no array: ``DecodePatch`` → ``NewBadRequest`` with Go's message. An
    array sent as a merge patch replaces the document, which then does not decode: ``NewInvalid``
    of an empty GroupKind on field ``patch`` (``jsonPatcher.applyPatchToCurrentObject``)."""
    url, cluster = kube
    cluster.put("deployments", deployment("inference", "d", 2))
    assert http(url, "PATCH", f"{DEPLOY}/d", {"spec": {}}, JSON_PATCH) == (400, status(
        400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"))  # fmt: skip
    code, body = http(url, "PATCH", f"{DEPLOY}/d", [{"op": "add"}], MERGE_PATCH)
    assert (code, body["reason"], body["details"]["causes"][0]["field"]) == (422, "Invalid", "patch")
    assert body["message"].startswith(' "" is invalid: patch: Invalid value: "[{\\"op\\":\\"add\\"}]": ')


def test_strategic_merge_of_a_custom_resource_is_415(kube: tuple[str, Cluster]) -> None:
    """``errUnsupportedMediaType`` (``.../handlers/negotiation/errors.go``): a dash, no details; custom
    resources take no strategic merge (``customresource_handler.go``)."""
    url, cluster = kube
    cluster.put("httproutes", httproute("inference", "chat", [("a", 1)]))
    assert http(url, "PATCH", f"{ROUTES}/chat", {"spec": {}}, SMP) == (415, status(415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, "
        "application/merge-patch+json, application/apply-patch+yaml"))  # fmt: skip
    cluster.put("deployments", deployment("inference", "d", 2))
    assert http(url, "PATCH", f"{DEPLOY}/d", {"spec": {"replicas": 3}}, SMP)[1]["spec"]["replicas"] == 3


def test_a_stale_resource_version_inside_a_patch_is_a_conflict(kube: tuple[str, Cluster]) -> None:
    """The patched object goes through ``Store.Update``: its resourceVersion is a precondition."""
    url, cluster = kube
    cluster.put("deployments", deployment("inference", "d", 2))
    code, body = http(url, "PATCH", f"{DEPLOY}/d", {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 5}},
                      MERGE_PATCH)  # fmt: skip
    assert (code, body["reason"]) == (409, "Conflict")
    assert cluster.get("deployments", "inference", "d")["spec"]["replicas"] == 2


# ---- what reads return -------------------------------------------------------------------------


def test_scale_is_status_replicas_and_a_selector(kube: tuple[str, Cluster]) -> None:
    """``scaleFromDeployment`` (``pkg/registry/apps/deployment/storage/storage.go``) with the
    ``omitempty`` of ``autoscaling/v1`` (``staging/src/k8s.io/api/autoscaling/v1/types.go``)."""
    url, cluster = kube
    rolling = deployment("inference", "d", 3) | {"status": {"replicas": 1}}
    cluster.put("deployments", rolling)
    scale = http(url, "GET", f"{DEPLOY}/d/scale")[1]
    assert (scale["spec"], scale["status"]) == ({"replicas": 3}, {"replicas": 1, "selector": "app=d"})
    assert set(scale["metadata"]) == {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}
    zero = http(url, "PATCH", f"{DEPLOY}/d/scale", {"spec": {"replicas": 0}}, MERGE_PATCH)[1]
    assert zero["spec"] == {} and zero["status"]["replicas"] == 1
    code, body = http(url, "PATCH", f"{DEPLOY}/d/scale", {"spec": {"replicas": -1}}, MERGE_PATCH)
    assert (code, body["message"]) == (
        422, 'Scale.autoscaling "d" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0')  # fmt: skip


def test_lists_carry_the_current_resource_version(kube: tuple[str, Cluster]) -> None:
    """Typed list items have no kind/apiVersion (kubernetes/kubernetes#3030); custom ones do."""
    url, cluster = kube
    newest = cluster.put("deployments", deployment("inference", "d", 1))["metadata"]["resourceVersion"]
    listing = http(url, "GET", DEPLOY)[1]
    assert (listing["kind"], listing["apiVersion"], listing["metadata"]) == (
        "DeploymentList", "apps/v1", {"resourceVersion": newest})  # fmt: skip
    assert "kind" not in listing["items"][0] and listing["items"][0]["metadata"]["name"] == "d"
    cluster.put("httproutes", httproute("inference", "chat", [("a", 1)]))
    (route,) = http(url, "GET", ROUTES)[1]["items"]
    assert (route["kind"], list(route)) == ("HTTPRoute", sorted(route)), "unstructured: keys sorted"


def test_empty_optional_maps_are_omitted_on_the_wire(kube: tuple[str, Cluster]) -> None:
    """``ConfigMap.data`` and ``ObjectMeta`` maps are ``omitempty`` (``staging/src/k8s.io/api/core/v1/types.go``)."""
    url, cluster = kube
    cluster.put("configmaps", configmap("inference", "c", {}))
    body = http(url, "GET", "/api/v1/namespaces/inference/configmaps/c")[1]
    assert "data" not in body and "annotations" not in body["metadata"]
    assert cluster.get("configmaps", "inference", "c")["data"] == {}, "the stored object is as put"


def test_lease_times_read_back_as_micro_time(kube: tuple[str, Cluster]) -> None:
    """``metav1.MicroTime`` is written RFC 3339 with six fraction digits, in UTC."""
    url, _ = kube
    body = lease("l") | {"spec": {"holderIdentity": "a", "renewTime": "2027-01-15T09:00:00+01:00"}}
    assert http(url, "POST", LEASES, body)[1]["spec"]["renewTime"] == "2027-01-15T08:00:00.000000Z"
