"""The RBAC deploy/ ships grants every API call remediation makes, and nothing more.

The calls are not listed by hand. A runner is built from a config with
``remediate.wiring.build_runner`` and every policy is driven through its own mode (``dry-run``
plans; ``approve`` proposes, is approved, applies and reverts on resolve; ``auto`` applies and
reverts; ``off`` is refused by the gates) with the real client against the local API server,
which records each request as an RBAC triple. Scale policies run on a plain Deployment, on one
owned by an HPA and on one owned by a KEDA ScaledObject; the Lease is created, renewed and
taken over by a second replica.

Checked that way: ``deploy/kubernetes/rbac.yaml`` against the policies of
``deploy/kubernetes/alerter.yaml``, and the Helm chart's Roles against the config the same
render puts in its ConfigMap, for policy sets covering every action in every mode. Grants and
calls are compared one (namespace, API group, resource, verb, resource name) at a time, both
ways: a call nothing grants fails, and so does a grant no call uses.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from kubernetes import client

from alerter.config.engine import AppConfig
from alerter.core.model import Alert, AlertState, Labels
from alerter.remediate.policy import Outcome
from alerter.remediate.runner import Event
from alerter.remediate.wiring import build_runner
from alerter.store.sqlite import Store
from alerter.testing.kubernetes import (
    Call,
    Cluster,
    configmap,
    deployment,
    hpa,
    httproute,
    scaledobject,
    serve,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RBAC = DEPLOY / "kubernetes" / "rbac.yaml"
CONFIG = DEPLOY / "kubernetes" / "alerter.yaml"
CHART = DEPLOY / "helm" / "alerter"
ACCOUNT = ("alerter", "alerter")  # namespace, name of the ServiceAccount
T0 = 1_800_000_000.0

Grant = tuple[str, str, str, str, str | None]
"""(namespace or "*" for cluster-wide, API group, resource, verb, resource name or None for any)."""
UNNAMED = ("create", "list")
"""Verbs RBAC cannot limit by resourceNames (the request carries no name, or a list has none)."""
OWNERS = (None, "hpa", "scaledobject")
"""What may own a scaled Deployment: nothing, an HPA, a KEDA ScaledObject."""
EXPECTED = {
    "off": {"skipped"},
    "dry-run": {"would-act"},
    "approve": {"pending-approval", "approved", "taken", "reverted"},
    "auto": {"taken", "reverted"},
}
"""Decisions each mode must reach, so a path that silently failed cannot pass for a used one."""


def grants(docs: Iterable[Mapping[str, Any]], account: tuple[str, str] = ACCOUNT) -> set[Grant]:
    """What the ServiceAccount may do, one tuple per verb and name, through the bindings naming it."""
    docs = list(docs)
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
    out: set[Grant] = set()
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any((s.get("namespace"), s["name"]) == account for s in binding["subjects"]):
            continue
        namespace = binding["metadata"]["namespace"] if binding["kind"] == "RoleBinding" else "*"
        ref = binding["roleRef"]
        role = roles[(ref["kind"], None if ref["kind"] == "ClusterRole" else namespace, ref["name"])]
        for rule in role["rules"]:
            names: list[str | None] = list(rule.get("resourceNames") or [None])
            out |= {(namespace, g, r, v, n) for g in rule["apiGroups"] for r in rule["resources"]
                    for v in rule["verbs"] for n in names}  # fmt: skip
    return out


def needed(calls: Iterable[Call]) -> set[Grant]:
    return {(c.namespace, c.group, c.resource, c.verb, None if c.verb in UNNAMED else c.name) for c in calls}


def compare(granted: set[Grant], calls: Iterable[Call]) -> tuple[list[Grant], list[Grant]]:
    """(calls nothing grants, grants no call uses).

    A grant without names covers a call of any name, but it is itself unused unless the verb is
    one RBAC cannot limit by name: patch on every HPA of a namespace is never what a call needs.
    """
    wanted = needed(calls)
    missing = sorted(w for w in wanted if w not in granted and (*w[:4], None) not in granted)
    return missing, sorted(granted - wanted)


def alert(rule: str, state: AlertState, at: float) -> Alert:
    band = {"value": 2.0} if state is AlertState.FIRING else {"value": 0.3, "resolved_at": at}
    return Alert(rule=rule, group="g", labels=Labels(model_name="llama3"), state=state, fired_at=at - 600,
                 expected=0.3, lower=0.1, upper=0.5, **band)  # fmt: skip


def arrange(
    cluster: Cluster, config: AppConfig, owner: str | None, autoscalers: Mapping[str, Mapping[str, str]]
) -> None:
    """The objects the policies name. ``owner`` is the kind that owns each scaled Deployment, under
    the Deployment's own name unless ``autoscalers`` (the chart's ``rbac.autoscalers``) names it;
    a Deployment whose named owner is of another kind is left unowned."""
    for policy in config.policies:
        if policy.scale is not None:
            ns, name = policy.scale.deployment.split("/")
            cluster.put("deployments", deployment(ns, name, 2))
            named = autoscalers.get(
                policy.scale.deployment, {"horizontalpodautoscaler": name, "scaledobject": name}
            )
            if owner == "hpa" and "horizontalpodautoscaler" in named:
                cluster.put(
                    "horizontalpodautoscalers", hpa(ns, named["horizontalpodautoscaler"], name, 2, 10)
                )
            elif owner == "scaledobject" and "scaledobject" in named:
                cluster.put("scaledobjects", scaledobject(ns, named["scaledobject"], name, 10, 1))
        if policy.route is not None:
            ns, name = policy.route.httproute.split("/")
            cluster.put("httproutes", httproute(ns, name, [("primary", 100), (policy.route.backend, 0)]))
        if policy.configmap is not None:
            ns, name = policy.configmap.configmap.split("/")
            cluster.put("configmaps", configmap(ns, name, {policy.configmap.key: "before"}))
            if policy.configmap.restart:
                ns, name = policy.configmap.restart.split("/")
                cluster.put("deployments", deployment(ns, name, 1))


def drive(config: AppConfig, api_client: Any, tmp: Path) -> dict[str, set[str]]:
    """Every policy through its mode, one after the other, then a takeover of the Lease;
    returns the decisions each policy reached."""
    first, second = (build_runner(config, Store(tmp / f"{i}.db"), identity=i, api_client=api_client)
                     for i in ("a", "b"))  # fmt: skip
    events: list[Event] = []
    now = T0
    for policy in config.policies:
        events += first.step([(alert(policy.name, AlertState.FIRING, now), [policy.name])], now)
        pending = first.audit.actions(where="outcome = ?", params=(str(Outcome.PENDING_APPROVAL),))
        for record in pending:
            events += first.approve(record.id, "U0123", now + 1)
        events += first.step([(alert(policy.name, AlertState.RESOLVED, now + 2), [policy.name])], now + 2)
        now += 5
    assert second.leader is not None and not second.leader.acquire(now), "sees the first replica lead"
    assert second.leader.acquire(now + 60), "takes the Lease over once it has not seen it renewed for long"
    reached: dict[str, set[str]] = {p.name: set() for p in config.policies}
    for event in events:
        reached[event.policy].add(event.decision)
    return reached


def observe(
    config: AppConfig, tmp: Path, autoscalers: Mapping[str, Mapping[str, str]] | None = None
) -> list[Call]:
    """Every request remediation makes for ``config``, over each kind of owner of a scaled Deployment."""
    calls: list[Call] = []
    for owner in OWNERS:
        with serve() as (url, cluster):
            arrange(cluster, config, owner, autoscalers or {})
            configuration = client.Configuration()
            configuration.host = url
            with client.ApiClient(configuration) as api_client:
                run = tmp / (owner or "plain")
                run.mkdir()
                reached = drive(config, api_client, run)
            for policy in config.policies:
                assert EXPECTED[policy.mode] <= reached[policy.name], (owner, policy.name, reached)
            calls += cluster.calls
    return calls


def shipped_config(**modes: str) -> AppConfig:
    data = yaml.safe_load(CONFIG.read_text())
    for policy in data["policies"]:
        policy["mode"] = modes.get(policy["name"], policy["mode"])
    return AppConfig.model_validate(data)


def rbac_documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(RBAC.read_text()) if d]


@pytest.fixture(scope="module")
def shipped_calls(tmp_path_factory: pytest.TempPathFactory) -> list[Call]:
    return observe(shipped_config(), tmp_path_factory.mktemp("shipped"))


def test_rbac_yaml_grants_exactly_what_the_shipped_policies_call(shipped_calls: list[Call]) -> None:
    missing, unused = compare(grants(rbac_documents()), shipped_calls)
    assert missing == [], "rbac.yaml does not grant calls the policies of alerter.yaml make"
    assert unused == [], "rbac.yaml grants what no policy of alerter.yaml uses"


def test_a_dry_run_scale_policy_writes_nothing(shipped_calls: list[Call]) -> None:
    """scale-vllm is in dry-run: it reads the Deployment and its scale and lists autoscalers."""
    scale = {
        (c.resource, c.verb)
        for c in shipped_calls
        if c.resource != "httproutes" and c.group != "coordination.k8s.io"
    }
    assert scale == {("deployments", "get"), ("deployments/scale", "get"),
                     ("horizontalpodautoscalers", "list"), ("scaledobjects", "list")}  # fmt: skip


def test_switching_a_policy_to_auto_needs_the_grants_rbac_yaml_lists_for_it(tmp_path: Path) -> None:
    """The comparison fails when a policy does more than rbac.yaml grants: scale-vllm in auto
    writes the scale subresource and the floor of whichever autoscaler owns the Deployment."""
    missing, unused = compare(
        grants(rbac_documents()), observe(shipped_config(**{"scale-vllm": "auto"}), tmp_path)
    )
    assert unused == []
    assert missing == [
        ("inference", "apps", "deployments/scale", "patch", "vllm-llama3"),
        ("inference", "autoscaling", "horizontalpodautoscalers", "get", "vllm-llama3"),
        ("inference", "autoscaling", "horizontalpodautoscalers", "patch", "vllm-llama3"),
        ("inference", "keda.sh", "scaledobjects", "get", "vllm-llama3"),
        ("inference", "keda.sh", "scaledobjects", "patch", "vllm-llama3"),
    ]


@pytest.mark.parametrize(
    ("resource", "verb", "names", "expected"),
    [
        # what this RBAC granted before: the whole Deployment patchable, every autoscaler writable
        ("deployments", "patch", ["vllm-llama3"], ("inference", "apps", "deployments", "patch", "vllm-llama3")),
        ("deployments/scale", "patch", ["vllm-llama3"], ("inference", "apps", "deployments/scale", "patch", "vllm-llama3")),
        ("horizontalpodautoscalers", "patch", None, ("inference", "autoscaling", "horizontalpodautoscalers", "patch", None)),
        ("horizontalpodautoscalers", "list", ["vllm-llama3"], ("inference", "autoscaling", "horizontalpodautoscalers", "list", "vllm-llama3")),
        ("httproutes", "get", ["other-route"], ("inference", "gateway.networking.k8s.io", "httproutes", "get", "other-route")),
    ],
    ids=["deployment-patch", "dry-run-scale-patch", "autoscalers-namespace-wide", "named-list", "unnamed-object"],
)  # fmt: skip
def test_a_grant_no_call_uses_is_reported(
    shipped_calls: list[Call], resource: str, verb: str, names: list[str] | None, expected: Grant
) -> None:
    docs = copy.deepcopy(rbac_documents())
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    group = {"deployments": "apps", "deployments/scale": "apps", "horizontalpodautoscalers": "autoscaling",
             "httproutes": "gateway.networking.k8s.io"}[resource]  # fmt: skip
    role["rules"].append(
        {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
        | ({"resourceNames": names} if names else {})
    )
    assert compare(grants(docs), shipped_calls) == ([], [expected])


def test_rbac_yaml_kinds_and_names() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in rbac_documents())
    assert kinds == [
        ("ClusterRole", "alerter-remediation"),
        ("Role", "alerter-leader"),
        ("RoleBinding", "alerter-leader"),
        ("RoleBinding", "alerter-remediation"),
        ("ServiceAccount", "alerter"),
    ]


# ---- the Helm chart ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def _policy(name: str, mode: str, **action: Any) -> dict[str, Any]:
    return {"name": name, "mode": mode, "revert_on_resolve": True, **action}


def _scale(ref: str) -> dict[str, Any]:
    return {"scale": {"deployment": ref, "step": 2, "max_replicas": 16}}


def _route(ref: str) -> dict[str, Any]:
    return {"route": {"httproute": ref, "backend": "backup", "weight": 100}}


def _configmap(ref: str, restart: str | None) -> dict[str, Any]:
    return {
        "configmap": {"configmap": ref, "key": "model", "value": "small"}
        | ({"restart": restart} if restart else {})
    }


CHART_CASES: dict[str, tuple[list[dict[str, Any]], list[str], dict[str, Any]]] = {
    "defaults": ([], [], {}),
    "every-action-auto": (
        [_policy("scale", "auto", **_scale("inference/vllm")), _policy("route", "auto", **_route("inference/chat")),
         _policy("cm", "auto", **_configmap("inference/router-config", "inference/router"))],
        ["inference"], {},
    ),
    "every-action-approve": (
        [_policy("scale", "approve", **_scale("serving/vllm")), _policy("route", "approve", **_route("serving/chat")),
         _policy("cm", "approve", **_configmap("serving/router-config", None))],
        ["serving"], {},
    ),
    "every-action-dry-run-and-off": (
        [_policy("scale", "dry-run", **_scale("inference/vllm")), _policy("route", "dry-run", **_route("inference/chat")),
         _policy("cm", "dry-run", **_configmap("inference/router-config", "inference/router")),
         _policy("idle", "off", **_scale("inference/idle"))],
        ["inference"], {},
    ),
    "named-autoscaler-two-namespaces": (
        [_policy("scale", "auto", **_scale("inference/vllm")), _policy("batch", "auto", **_scale("batch/worker"))],
        ["inference", "batch"], {"inference/vllm": {"horizontalpodautoscaler": "vllm-hpa"}, "batch/worker": {"scaledobject": "worker-so"}},
    ),
}  # fmt: skip


def render(chart: helm.Chart, case: str) -> tuple[list[dict[str, Any]], AppConfig]:
    policies, namespaces, autoscalers = CHART_CASES[case]
    values: dict[str, Any] = {}
    if policies:
        values = {"config": {"policies": policies, "remediation": {"allow_namespaces": namespaces}},
                  "rbac": {"autoscalers": autoscalers}}  # fmt: skip
    out = chart.render(values, name="alerter", namespace="alerter")
    docs = [
        d
        for path, text in out.items()
        if not path.endswith("NOTES.txt")
        for d in yaml.safe_load_all(text)
        if d
    ]
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "alerter-config")
    return docs, AppConfig.model_validate(yaml.safe_load(config["data"]["alerter.yaml"]))


@pytest.mark.parametrize("case", sorted(CHART_CASES))
def test_the_chart_grants_exactly_what_its_policies_call(
    chart: helm.Chart, case: str, tmp_path: Path
) -> None:
    docs, config = render(chart, case)
    missing, unused = compare(grants(docs), observe(config, tmp_path, CHART_CASES[case][2]))
    assert missing == [], "the chart does not grant calls its policies make"
    assert unused == [], "the chart grants what none of its policies uses"


def test_the_chart_never_patches_a_scaled_deployment(chart: helm.Chart) -> None:
    """Scaling goes through the scale subresource; only a configmap policy's restart patches a Deployment."""
    docs, _ = render(chart, "every-action-auto")
    patched = {g for g in grants(docs) if g[2] == "deployments" and g[3] not in ("get",)}
    assert patched == {("inference", "apps", "deployments", "patch", "router")}
