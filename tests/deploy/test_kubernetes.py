"""deploy/kubernetes: the manifests render with kustomize, are secure, and carry a valid config.

The config and rule files inside the ConfigMaps are written out the way the pod mounts them and
loaded with the engine's own loader; the probes are requested from a real engine built from that
config; the ServiceAccount, Lease and policy targets are checked against rbac.yaml.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml
from deploy_kit import (
    CONFIG_MOUNT,
    DEFAULT_PACKS,
    KUBERNETES,
    PORT,
    REPO,
    RULE_PACKS,
    RULES_MOUNT,
    STATE_MOUNT,
    Doc,
    check_pod_security,
    check_probes,
    check_resources,
    container,
    documents,
    egress_allows,
    grants,
    in_cluster_peer,
    ingress_allows,
    kustomize,
    lay_out,
    load_mounted,
    one,
    pack_files,
    rule_file_entries,
    schema_problems,
    tool,
)
from harness import free_port, wait_until

from alerter.config import load
from alerter.config.check import exposed_without_auth
from alerter.core.errors import ConfigErrors

NAMESPACE = "alerter"
MANIFESTS = sorted(
    p for p in KUBERNETES.glob("*.yaml") if p.name not in ("kustomization.yaml", "alerter.yaml")
)
# labels the Prometheus Operator gives its pods (prometheus-operator pkg/prometheus/statefulset.go,
# pkg/alertmanager/statefulset.go), and CoreDNS's in kube-system (kubeadm and most distributions)
PROMETHEUS_POD = {"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"}
ALERTMANAGER_POD = {"app.kubernetes.io/name": "alertmanager", "alertmanager": "main"}
DNS_POD = {"k8s-app": "kube-dns"}


@pytest.fixture(scope="module")
def rendered() -> list[Doc]:
    return kustomize(KUBERNETES)


@pytest.fixture(scope="module")
def rbac() -> list[Doc]:
    return documents((KUBERNETES / "rbac.yaml").read_text())


def _config_text(rendered: list[Doc]) -> str:
    text: str = one(rendered, "ConfigMap", "alerter-config")["data"]["alerter.yaml"]
    return text


def _rules(rendered: list[Doc]) -> dict[str, str]:
    data: dict[str, str] = one(rendered, "ConfigMap", "alerter-rules")["data"]
    return data


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_parses_and_names_its_objects(path: Path) -> None:
    docs = documents(path.read_text())
    assert docs
    for doc in docs:
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], doc


def test_the_kustomization_lists_every_manifest() -> None:
    resources = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"]
    assert sorted(resources) == [p.name for p in MANIFESTS]


@pytest.mark.parametrize(
    "path", [p for p in MANIFESTS if p.name not in ("rbac.yaml", "namespace.yaml")], ids=lambda p: p.name
)
def test_engine_manifests_leave_the_namespace_to_kustomize(path: Path) -> None:
    for doc in documents(path.read_text()):
        assert "namespace" not in doc["metadata"], f"{path.name}: {doc['kind']} sets its namespace"


def test_kustomize_puts_the_engine_next_to_its_service_account(rendered: list[Doc], rbac: list[Doc]) -> None:
    account = one(rbac, "ServiceAccount")
    assert account["metadata"]["namespace"] == NAMESPACE
    for doc in rendered:
        if doc["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert "namespace" not in doc["metadata"]
        elif doc["kind"] == "RoleBinding" and doc["metadata"]["name"] == "alerter-remediation":
            assert doc["metadata"]["namespace"] != NAMESPACE, (
                "the remediation binding stays in the target namespace"
            )
        else:
            assert doc["metadata"]["namespace"] == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"
    assert one(rendered, "Namespace")["metadata"]["name"] == NAMESPACE
    assert one(rendered, "ServiceAccount") == account


def test_every_object_matches_the_kubernetes_api_schema(rendered: list[Doc]) -> None:
    assert {d["kind"] for d in rendered} >= {"Deployment", "Service", "ConfigMap", "ServiceMonitor", "Role"}
    assert [p for d in rendered for p in schema_problems(d)] == []


def test_schema_check_reports_what_the_api_server_would_drop_or_reject(rendered: list[Doc]) -> None:
    deployment = copy.deepcopy(one(rendered, "Deployment", "alerter"))
    box = container(deployment)
    box["readinessProbes"] = box.pop("readinessProbe")
    deployment["spec"]["replicas"] = "1"
    assert schema_problems(deployment) == [
        "Deployment.spec.replicas: expected int, got str '1'",
        "Deployment.spec.template.spec.containers[0].readinessProbes: not a field of V1Container",
    ]
    del box["readinessProbes"], box["name"]
    deployment["spec"]["replicas"] = 1
    assert schema_problems(deployment) == ["Deployment: Invalid value for `name`, must not be `None`"]
    assert schema_problems({**deployment, "apiVersion": "extensions/v1beta1"})[0].endswith("must be apps/v1")


def test_deployment_is_locked_down_probed_and_bounded(rendered: list[Doc]) -> None:
    deployment = one(rendered, "Deployment", "alerter")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate", "a ReadWriteOnce volume cannot be shared"
    check_pod_security(deployment)
    check_probes(deployment)
    check_resources(deployment)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_deployment_references_objects_that_exist(rendered: list[Doc]) -> None:
    deployment = one(rendered, "Deployment", "alerter")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one(rendered, "ServiceAccount")["metadata"]["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    one(rendered, "ConfigMap", volumes["config"]["configMap"]["name"])
    one(rendered, "ConfigMap", volumes["rules"]["configMap"]["name"])
    one(rendered, "PersistentVolumeClaim", volumes["state"]["persistentVolumeClaim"]["claimName"])
    mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
    assert mounts == {"config": CONFIG_MOUNT, "rules": RULES_MOUNT, "state": STATE_MOUNT, "tmp": "/tmp"}
    args = container(deployment)["args"]
    assert args == ["run", "--config", f"{CONFIG_MOUNT}/alerter.yaml"]
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert container(deployment)["image"] == f"alerter:{version}"


def test_service_and_service_monitor_reach_the_metrics_port(rendered: list[Doc]) -> None:
    deployment = one(rendered, "Deployment", "alerter")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = one(rendered, "Service", "alerter")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}
    ]
    monitor = one(rendered, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def _env_fields(node: object) -> set[str]:
    """Every environment variable an ``*_env`` field anywhere in the config names."""
    if isinstance(node, dict):
        found = {
            v for k, v in node.items() if isinstance(k, str) and k.endswith("_env") and isinstance(v, str)
        }
        return found.union(*(_env_fields(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_env_fields(v) for v in node))
    return set()


def test_secrets_are_referenced_never_shipped(rendered: list[Doc]) -> None:
    assert not [d for d in rendered if d["kind"] == "Secret"]
    env = {e["name"]: e for e in container(one(rendered, "Deployment", "alerter"))["env"]}
    secrets = {"SLACK_BOT_TOKEN": "alerter-slack", "SLACK_SIGNING_SECRET": "alerter-slack"}
    secrets["ALERTER_ONCALL_TOKEN"] = "alerter-api"
    assert set(env) == set(secrets)
    for name, entry in env.items():
        assert "value" not in entry
        assert entry["valueFrom"]["secretKeyRef"]["name"] == secrets[name]
    # every *_env the config reads (receivers, the HTTP API's tokens) is provided by the pod
    assert _env_fields(yaml.safe_load(_config_text(rendered))) == set(env)


def test_embedded_config_and_rules_load_as_mounted(rendered: list[Doc], tmp_path: Path) -> None:
    bundle = load_mounted(tmp_path, _config_text(rendered), _rules(rendered))
    cfg = bundle.config
    assert cfg is not None
    assert cfg.storage.path == f"{STATE_MOUNT}/state.db"
    assert cfg.server.listen == f"0.0.0.0:{PORT}"
    assert not exposed_without_auth(cfg.server), "listening beyond loopback, writes must need a token"
    assert cfg.remediation.kubernetes.in_cluster is True
    loaded = [Path(r.path).name for r in bundle.rule_files]
    assert loaded == pack_files(*DEFAULT_PACKS), "the config loads the vLLM and LiteLLM packs"
    assert all(Path(r.path).parent == tmp_path / RULES_MOUNT.lstrip("/") for r in bundle.rule_files)


def test_rules_configmap_carries_every_pack_the_config_offers(rendered: list[Doc]) -> None:
    """Choosing another server is uncommenting a line of alerter.yaml: each offered file is in
    the ConfigMap, which holds every per-engine pack as rules/ has it."""
    enabled, commented = rule_file_entries(_config_text(rendered))
    others = [p for p in RULE_PACKS if p not in (*DEFAULT_PACKS, "unified")]
    assert enabled == [f"../alerter-rules/{name}" for name in pack_files(*DEFAULT_PACKS)]
    assert sorted(commented) == sorted(f"../alerter-rules/{name}" for name in pack_files(*others))
    data = _rules(rendered)
    assert sorted(data) == sorted(pack_files(*DEFAULT_PACKS, *others))
    for name, text in data.items():
        assert text == (REPO / "rules" / name).read_text(), f"{name}: regenerate rules.yaml (see its header)"


def test_embedded_rules_are_the_shipped_rule_packs(rendered: list[Doc], tmp_path: Path) -> None:
    """Each embedded file is a valid rule file on its own, named like a file of rules/."""
    for name, text in _rules(rendered).items():
        path = tmp_path / name
        path.write_text(text)
        assert load(None, [path]).rule_files[0].rule_count > 0, name


def test_a_broken_embedded_rule_would_be_caught(rendered: list[Doc], tmp_path: Path) -> None:
    """The load above is strict: the same layout with one bad duration fails."""
    rules = dict(_rules(rendered))
    name = sorted(rules)[0]
    assert "for: " in rules[name]
    rules[name] = rules[name].replace("for: ", "for: -", 1)
    with pytest.raises(ConfigErrors, match=r"\.for"):
        load_mounted(tmp_path, _config_text(rendered), rules)


def test_lease_and_service_account_match_rbac(rendered: list[Doc], rbac: list[Doc]) -> None:
    cfg = yaml.safe_load(_config_text(rendered))
    account = one(rbac, "ServiceAccount")["metadata"]
    me = (account["namespace"], account["name"])
    allowed = grants(rbac, me)
    lease = cfg["remediation"]["lease"]
    assert lease["namespace"] == account["namespace"]
    for verb in ("get", "update"):
        assert (lease["namespace"], "coordination.k8s.io", "leases", verb, lease["name"]) in allowed
    assert (lease["namespace"], "coordination.k8s.io", "leases", "create", None) in allowed


def test_every_policy_target_is_granted_by_rbac(rendered: list[Doc], rbac: list[Doc]) -> None:
    """Each policy's object, by name, for reading; for writing only in a mode that writes.
    tests/remediate/test_rbac.py compares every call with every grant."""
    cfg = yaml.safe_load(_config_text(rendered))
    account = one(rbac, "ServiceAccount")["metadata"]
    allowed = grants(rbac, (account["namespace"], account["name"]))
    needed, refused = [], []
    for policy in cfg["policies"]:
        writes = policy.get("mode", "dry-run") in ("approve", "auto")
        if "scale" in policy:
            ns, name = policy["scale"]["deployment"].split("/")
            needed += [
                (ns, "apps", "deployments", "get", name),
                (ns, "apps", "deployments/scale", "get", name),
            ]
            (needed if writes else refused).append((ns, "apps", "deployments/scale", "patch", name))
            refused.append((ns, "apps", "deployments", "patch", name))
        if "route" in policy:
            ns, name = policy["route"]["httproute"].split("/")
            needed.append((ns, "gateway.networking.k8s.io", "httproutes", "get", name))
            (needed if writes else refused).append(
                (ns, "gateway.networking.k8s.io", "httproutes", "patch", name)
            )
        assert ns in cfg["remediation"]["allow_namespaces"]
    assert needed and refused
    assert [n for n in needed if n not in allowed] == []
    assert [r for r in refused if r in allowed] == []


def test_the_network_policy_isolates_the_engine_both_ways(rendered: list[Doc]) -> None:
    policy = one(rendered, "NetworkPolicy", "alerter")
    pod_labels = one(rendered, "Deployment", "alerter")["spec"]["template"]["metadata"]["labels"]
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for rule in policy["spec"][direction]:
            assert rule.get("ports") and rule.get(peers), (
                f"{direction} rule open to every peer or port: {rule}"
            )


def test_only_prometheus_reaches_the_engine(rendered: list[Doc]) -> None:
    """Ingress is the scrape alone, on the container's named port; Slack's callbacks need an
    ingress controller admitted by hand (the commented rule)."""
    policy = one(rendered, "NetworkPolicy", "alerter")
    assert container(one(rendered, "Deployment", "alerter"))["ports"][0]["name"] == "http"
    assert one(rendered, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "http"
    assert ingress_allows(policy, "monitoring", PROMETHEUS_POD, "http")
    assert not ingress_allows(policy, "monitoring", {"app.kubernetes.io/name": "grafana"}, "http")
    assert not ingress_allows(policy, "inference", PROMETHEUS_POD, "http")
    assert not ingress_allows(policy, "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "http")
    assert [r["ports"] for r in policy["spec"]["ingress"]] == [[{"port": "http", "protocol": "TCP"}]]
    assert "ingress-nginx" in (KUBERNETES / "networkpolicy.yaml").read_text(), "the Slack rule is documented"


def test_the_engine_reaches_what_its_config_names_and_no_more(rendered: list[Doc]) -> None:
    policy = one(rendered, "NetworkPolicy", "alerter")
    cfg = yaml.safe_load(_config_text(rendered))
    peers = [(cfg["prometheus"]["url"], PROMETHEUS_POD)] + [
        (r["alertmanager"]["url"], ALERTMANAGER_POD) for r in cfg["receivers"] if "alertmanager" in r
    ]
    assert len(peers) == 2
    for url, labels in peers:
        where = in_cluster_peer(url)
        assert where is not None, url
        assert egress_allows(policy, where[0], labels, where[1]), url
        assert not egress_allows(policy, where[0], labels, where[1] + 1), url
    assert egress_allows(policy, "kube-system", DNS_POD, 53)
    dns = next(r for r in policy["spec"]["egress"] if r["ports"][0]["port"] == 53)
    assert {p["protocol"] for p in dns["ports"]} == {"UDP", "TCP"}
    assert not egress_allows(policy, "inference", {"app": "vllm-llama3"}, 8000)
    # Slack and the API server go by port to address blocks: HTTPS anywhere but link-local
    # (cloud metadata), 6443 to private addresses only
    blocks = {
        p["port"]: [t["ipBlock"] for t in r["to"]] for r in policy["spec"]["egress"] for p in r["ports"]
        if all("ipBlock" in t for t in r["to"])
    }  # fmt: skip
    assert any("slack" in r for r in cfg["receivers"])
    assert blocks[443] == [{"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}]
    assert blocks[6443] == [{"cidr": c} for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    assert set(blocks) == {443, 6443}


@pytest.mark.slow
def test_the_containers_command_serves_the_probes_and_stops_on_sigterm(
    rendered: list[Doc], tmp_path: Path
) -> None:
    """``alerter`` with the Deployment's args, on the ConfigMaps' files, answers every probe path,
    logs JSON, and exits cleanly on SIGTERM (what the kubelet sends).

    Only what cannot work outside a cluster is changed: state goes to the temp dir, the server
    binds 127.0.0.1 on a free port, cluster service names become closed local ports (nothing
    leaves the machine), and the in-cluster Kubernetes credentials are left out.
    """
    cfg = yaml.safe_load(_config_text(rendered))
    port = free_port()
    cfg["storage"]["path"] = str(tmp_path / "state.db")
    cfg["server"]["listen"] = f"127.0.0.1:{port}"
    cfg["prometheus"]["url"] = f"http://127.0.0.1:{free_port()}"
    for receiver in cfg["receivers"]:
        if "alertmanager" in receiver:
            receiver["alertmanager"]["url"] = f"http://127.0.0.1:{free_port()}"
    del cfg["remediation"]
    config = lay_out(tmp_path, yaml.safe_dump(cfg), _rules(rendered))
    box = container(one(rendered, "Deployment", "alerter"))
    args = [str(config) if a == f"{CONFIG_MOUNT}/alerter.yaml" else a for a in box["args"]]
    assert args != box["args"]
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-0",
        "SLACK_SIGNING_SECRET": "0",
        "ALERTER_ONCALL_TOKEN": "0123456789abcdef0123",
        "MPLCONFIGDIR": str(tmp_path),
    }
    command = tool("alerter")
    assert command is not None, "the package's console script is not installed"
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "log").open("wb") as log:
        engine = subprocess.Popen([command, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _answers(url + "/readyz", engine), timeout=60, what="the engine's readiness")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = box[probe]["httpGet"]["path"]
            with urllib.request.urlopen(url + path, timeout=10) as response:
                assert response.status == 200, path
    finally:
        engine.send_signal(signal.SIGTERM)
        code = engine.wait(timeout=30)
    output = (tmp_path / "log").read_text()
    assert code == 0, output[-3000:]
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert lines and all(isinstance(line, dict) and line["message"] for line in lines), output[-3000:]


def _answers(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the engine exited with {process.returncode}")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
