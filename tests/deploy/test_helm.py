"""deploy/helm/alerter: the chart lints, renders with Helm's own engine, and carries a valid config.

Rendering uses Helm's Go SDK (helm-python-sdk, no helm binary needed). Every rendered document
is parsed; the alerter.yaml and rule files inside are loaded with the engine's loader as the pod
mounts them; the RBAC the chart derives from the policies is compared with rbac.yaml.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from deploy_kit import (
    CHART,
    DEFAULT_PACKS,
    KUBERNETES,
    PORT,
    REPO,
    RULE_PACKS,
    STATE_MOUNT,
    Doc,
    Grant,
    check_pod_security,
    check_probes,
    check_resources,
    container,
    documents,
    egress_allows,
    grants,
    ingress_allows,
    load_mounted,
    one,
    pack_files,
    schema_problems,
)

from alerter.config import load
from alerter.config.engine import INLINE_SECRET_KEYS
from alerter.core.errors import ConfigErrors

RELEASE, NAMESPACE = "alerter", "alerter"
POSTGRES = {"enabled": True, "host": "postgres.db.svc", "passwordSecret": {"name": "alerter-db"}}
"""storage.postgres as the README's Helm set-up gives it."""


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render(chart: helm.Chart, values: dict[str, Any] | None = None, namespace: str = NAMESPACE) -> list[Doc]:
    """``helm template``: every manifest the chart renders, parsed (NOTES.txt is text, not YAML)."""
    out = chart.render(values or {}, name=RELEASE, namespace=namespace)
    return [
        d for path, text in sorted(out.items()) if not path.endswith("NOTES.txt") for d in documents(text)
    ]


def _config(docs: list[Doc]) -> str:
    text: str = one(docs, "ConfigMap", f"{RELEASE}-config")["data"]["alerter.yaml"]
    return text


def _rules(docs: list[Doc]) -> dict[str, str]:
    data: dict[str, str] = one(docs, "ConfigMap", f"{RELEASE}-rules")["data"]
    return data


def test_chart_metadata_and_lint(chart: helm.Chart) -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert (meta["name"], chart.name) == ("alerter", "alerter")
    assert meta["type"] == "application"
    assert meta["appVersion"] == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart.validate_schema({})  # values.yaml satisfies values.schema.json
    report = helm.lint(CHART, namespace=NAMESPACE, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_values_parse_and_hold_every_documented_section() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert {"image", "config", "rules", "resources", "rbac", "serviceMonitor", "persistence"} <= set(values)
    assert {"prometheus", "receivers", "route", "policies"} <= set(values["config"])
    assert values["rbac"]["create"] is True


def test_default_render_has_every_object_and_they_fit_together(chart: helm.Chart) -> None:
    docs = render(chart)
    kinds = sorted(d["kind"] for d in docs)
    expected = ["ConfigMap", "ConfigMap", "Deployment", "NetworkPolicy", "PersistentVolumeClaim", "Service",
                "ServiceAccount"]  # fmt: skip
    assert kinds == sorted([*expected, "Role", "Role", "RoleBinding", "RoleBinding"])
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == f"{RELEASE}-config"
    assert volumes["rules"]["configMap"]["name"] == f"{RELEASE}-rules"
    one(docs, "PersistentVolumeClaim", volumes["state"]["persistentVolumeClaim"]["claimName"])
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["port"] == PORT
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"serviceMonitor": {"enabled": True}, "persistence": {"enabled": False, "storageClass": "fast"}},
        {"persistence": {"storageClass": "fast"}, "imagePullSecrets": [{"name": "registry"}]},
        {"nodeSelector": {"gpu": "none"}, "tolerations": [{"key": "k", "operator": "Exists"}]},
        {"podAnnotations": {"a": "b"}, "affinity": {"nodeAffinity": {}}},
    ],
    ids=["defaults", "monitor-no-persistence", "storage-class", "scheduling", "annotations"],
)
def test_every_object_matches_the_kubernetes_api_schema(chart: helm.Chart, values: dict[str, Any]) -> None:
    docs = render(chart, values)
    assert [p for d in docs for p in schema_problems(d)] == []


def test_rendered_deployment_matches_the_plain_manifest(chart: helm.Chart) -> None:
    """Same security, probes, mounts, arguments and Secret references as deploy/kubernetes."""
    deployment = one(render(chart), "Deployment")
    check_pod_security(deployment)
    check_probes(deployment)
    check_resources(deployment)
    plain = container(one(documents((KUBERNETES / "deployment.yaml").read_text()), "Deployment"))
    box = container(deployment)
    for key in ("args", "env", "volumeMounts", "securityContext", "resources"):
        assert box[key] == plain[key], key
    assert box["image"] == f"alerter:{chart.metadata['appVersion']}"


def test_embedded_config_and_rules_load_as_mounted(chart: helm.Chart, tmp_path: Path) -> None:
    docs = render(chart)
    bundle = load_mounted(tmp_path, _config(docs), _rules(docs))
    cfg = bundle.config
    assert cfg is not None
    assert cfg.storage.path == f"{STATE_MOUNT}/state.db"
    assert cfg.server.listen == f"0.0.0.0:{PORT}"
    assert cfg.remediation.kubernetes.in_cluster is True
    assert (cfg.remediation.lease.namespace, cfg.remediation.lease.name) == (NAMESPACE, "alerter-remediation")
    assert {Path(r.path).name for r in bundle.rule_files} == set(_rules(docs))
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert [p.name for p in cfg.policies] == [p["name"] for p in values["config"]["policies"]]
    assert [r.name for r in cfg.receivers] == [r["name"] for r in values["config"]["receivers"]]


def test_the_lease_follows_the_release_namespace(chart: helm.Chart, tmp_path: Path) -> None:
    docs = render(chart, namespace="observability")
    cfg = yaml.safe_load(_config(docs))
    assert cfg["remediation"]["lease"]["namespace"] == "observability"
    account = one(docs, "ServiceAccount")["metadata"]["name"]
    allowed = grants(docs, ("observability", account))
    assert ("observability", "coordination.k8s.io", "leases", "update", "alerter-remediation") in allowed


def _named_by(policies: list[dict[str, Any]]) -> set[str]:
    names = set()
    for policy in policies:
        for action, key in (("scale", "deployment"), ("route", "httproute"), ("configmap", "configmap")):
            if action in policy:
                names.add(policy[action][key].split("/")[1])
    return names


def test_rbac_grants_what_rbac_yaml_grants_for_the_same_policies(chart: helm.Chart) -> None:
    """rbac.yaml is checked against every API call remediation makes (tests/remediate/test_rbac.py);
    the chart, derived from the policies, must grant the same for the objects those policies name."""
    docs = render(chart)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    named = _named_by(values["config"]["policies"])
    account = one(docs, "ServiceAccount")["metadata"]["name"]
    from_chart = grants(docs, (NAMESPACE, account))
    plain = documents((KUBERNETES / "rbac.yaml").read_text())
    reference: set[Grant] = {
        g for g in grants(plain, ("alerter", "alerter")) if g[4] is None or g[4] in named
    }
    reference |= {g for g in grants(plain, ("alerter", "alerter")) if g[2] == "leases"}
    assert from_chart == reference


def test_rbac_follows_policies_and_allowed_namespaces(chart: helm.Chart) -> None:
    config = yaml.safe_load((CHART / "values.yaml").read_text())["config"]
    config["policies"] = [
        {
            "name": "router",
            "mode": "auto",
            "configmap": {
                "configmap": "serving/router-config",
                "key": "model",
                "value": "b",
                "restart": "serving/router",
            },
        },
        {"name": "elsewhere", "scale": {"deployment": "batch/worker", "step": 1, "max_replicas": 4}},
        {
            "name": "disabled",
            "mode": "off",
            "scale": {"deployment": "serving/idle", "step": 1, "max_replicas": 4},
        },
    ]
    config["remediation"] = {"allow_namespaces": ["serving"]}
    docs = render(chart, {"config": config})
    allowed = grants(docs, (NAMESPACE, RELEASE))
    remediation = {g for g in allowed if g[0] != NAMESPACE}
    assert remediation == {
        ("serving", "", "configmaps", "get", "router-config"),
        ("serving", "", "configmaps", "patch", "router-config"),
        ("serving", "apps", "deployments", "patch", "router"),
    }


def test_rbac_and_service_account_can_be_left_to_the_user(chart: helm.Chart) -> None:
    docs = render(chart, {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "existing"}})
    assert not [d for d in docs if d["kind"] in ("Role", "RoleBinding", "ClusterRole", "ServiceAccount")]
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"


def test_network_policy_is_on_by_default_and_matches_the_plain_manifest(chart: helm.Chart) -> None:
    docs = render(chart)
    policy = one(docs, "NetworkPolicy")
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["metadata"]["namespace"] == NAMESPACE
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    plain = one(documents((KUBERNETES / "networkpolicy.yaml").read_text()), "NetworkPolicy")
    for key in ("policyTypes", "ingress", "egress"):
        assert policy["spec"][key] == plain["spec"][key], key


def test_network_policy_can_admit_an_ingress_controller_or_be_left_out(chart: helm.Chart) -> None:
    """Slack's Approve/Reject callbacks reach the engine only through an ingress controller."""
    controller = {"app.kubernetes.io/name": "ingress-nginx"}
    assert not ingress_allows(one(render(chart), "NetworkPolicy"), "ingress-nginx", controller, "http")
    peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
        "podSelector": {"matchLabels": controller},
    }
    policy = one(render(chart, {"networkPolicy": {"ingressFrom": [peer]}}), "NetworkPolicy")
    assert ingress_allows(policy, "ingress-nginx", controller, "http")
    assert not ingress_allows(policy, "ingress-nginx", controller, 8080)
    assert not [
        d for d in render(chart, {"networkPolicy": {"enabled": False}}) if d["kind"] == "NetworkPolicy"
    ]


def test_network_policy_reaches_alertmanager_only_when_a_receiver_is_one(chart: helm.Chart) -> None:
    alertmanager = {"app.kubernetes.io/name": "alertmanager"}
    assert egress_allows(one(render(chart), "NetworkPolicy"), "monitoring", alertmanager, 9093)
    receivers = [{"name": "oncall", "slack": {"token_env": "SLACK_BOT_TOKEN", "channel": "#a"}}]
    values = {"config": {"receivers": receivers, "route": {"receiver": "oncall", "routes": []}},
              "networkPolicy": {"prometheus": {"namespace": "metrics", "port": 8481}}}  # fmt: skip
    policy = one(render(chart, values), "NetworkPolicy")
    assert not egress_allows(policy, "monitoring", alertmanager, 9093)
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    assert egress_allows(policy, "metrics", prometheus, 8481)
    assert ingress_allows(policy, "metrics", prometheus, "http")
    assert not egress_allows(policy, "monitoring", prometheus, 9090)


def test_service_monitor_is_opt_in(chart: helm.Chart) -> None:
    assert not [d for d in render(chart) if d["kind"] == "ServiceMonitor"]
    docs = render(chart, {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}})
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items()
        <= one(docs, "Service")["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]


def test_without_persistence_state_is_an_empty_dir(chart: helm.Chart) -> None:
    docs = render(chart, {"persistence": {"enabled": False}})
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    deployment = one(docs, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"


def test_user_rules_and_config_reach_the_engine(chart: helm.Chart, tmp_path: Path) -> None:
    rule = (
        "groups:\n  - name: queue\n    rules:\n      - alert: QueueHigh\n"
        "        expr: sum(vllm:num_requests_waiting)\n        baseline: {detector: static, above: 100}\n"
    )
    docs = render(
        chart, {"rulePacks": [], "rules": {"queue.yaml": rule}, "config": {"policies": [], "maintenance": []}}
    )
    assert set(_rules(docs)) == {"queue.yaml"}
    bundle = load_mounted(tmp_path, _config(docs), _rules(docs))
    assert [r.rules.groups[0].rules[0].alert for r in bundle.rule_files] == ["QueueHigh"]
    assert bundle.config is not None and bundle.config.policies == []
    assert not [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"].endswith("-remediation")]


def test_every_pack_of_the_rules_configmap_can_be_added(chart: helm.Chart, tmp_path: Path) -> None:
    """What the README suggests (--set-file per pack) works with the chart's default policies."""
    packs = one(documents((KUBERNETES / "rules.yaml").read_text()), "ConfigMap")["data"]
    docs = render(chart, {"rules": packs})
    bundle = load_mounted(tmp_path, _config(docs), _rules(docs))
    assert {Path(r.path).name for r in bundle.rule_files} == set(packs)
    assert len(packs) > 2


def test_default_rule_packs_are_vllm_and_litellm(chart: helm.Chart, tmp_path: Path) -> None:
    docs = render(chart)
    assert sorted(_rules(docs)) == sorted(pack_files(*DEFAULT_PACKS))
    bundle = load_mounted(tmp_path, _config(docs), _rules(docs))
    assert sorted(Path(r.path).name for r in bundle.rule_files) == sorted(pack_files(*DEFAULT_PACKS))


@pytest.mark.parametrize("pack", sorted(RULE_PACKS))
def test_each_rule_pack_renders_its_files_as_rules_has_them(
    chart: helm.Chart, pack: str, tmp_path: Path
) -> None:
    docs = render(chart, {"rulePacks": [pack]})
    data = _rules(docs)
    names = {name: name.replace("/", "-") for name in RULE_PACKS[pack]}
    assert sorted(data) == sorted(names.values())
    for source, key in names.items():
        assert data[key] == (REPO / "rules" / source).read_text(), (
            f"files/rules/{key} differs from rules/{source}: copy it again (deploy/README.md, Helm)"
        )
    bundle = load_mounted(tmp_path, _config(docs), data)
    assert len(bundle.rule_files) == len(names) and all(r.rule_count > 0 for r in bundle.rule_files)


def test_chart_copies_of_the_packs_are_current() -> None:
    copies = sorted(p.name for p in (CHART / "files" / "rules").iterdir())
    assert copies == sorted(name.replace("/", "-") for name in pack_files(*RULE_PACKS))
    for name in pack_files(*RULE_PACKS):
        copy = CHART / "files" / "rules" / name.replace("/", "-")
        assert copy.read_text() == (REPO / "rules" / name).read_text(), f"copy rules/{name} to {copy}"


def test_own_rule_files_join_replace_or_drop_pack_files(chart: helm.Chart) -> None:
    mine = "groups:\n  - name: mine\n    rules:\n      - alert: Mine\n        expr: up == 0\n"
    docs = render(
        chart,
        {"rulePacks": ["litellm", "tgi"], "rules": {"spend.yaml": None, "tgi.yaml": mine, "x.yaml": mine}},
    )
    data = _rules(docs)
    assert sorted(data) == ["gateway-errors.yaml", "gateway-latency.yaml", "tgi.yaml", "x.yaml"]
    assert data["tgi.yaml"] == mine and data["x.yaml"] == mine


@pytest.mark.parametrize(
    ("values", "message"),
    [
        # values.schema.json
        ({"rules": {"queue.txt": "groups: []\n"}}, "'queue.txt' does not match pattern"),
        ({"persistance": {"enabled": False}}, "additional properties 'persistance' not allowed"),
        ({"service": {"port": "9464"}}, "/service/port': got string, want integer"),
        (
            {"config": {"prometheus": {"url": "prometheus:9090"}}},
            "/config/prometheus/url'.*does not match pattern",
        ),
        ({"secretEnv": {"TOKEN": {"key": "k"}}}, "missing property 'secret'"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy'"),
        ({"networkPolicy": {"https": {"cidr": "anywhere"}}}, "/networkPolicy/https/cidr'.*does not match"),
        ({"networkPolicy": {"apiServer": {"port": 0}}}, "/networkPolicy/apiServer/port'"),
        # templates
        ({"rulePacks": None, "rules": None}, "no rule file to load: name at least one of rulePacks"),
        ({"rulePacks": ["vllm"], "rules": {n: None for n in RULE_PACKS["vllm"]}}, "no rule file to load"),
        ({"rulePacks": ["vlm"]}, "/rulePacks/0': value must be one of 'vllm', 'litellm'"),
        ({"rulePacks": ["tgi", "tgi"]}, "/rulePacks': items at 0 and 1 are equal"),
        ({"replicaCount": 2}, "set storage.postgres .* or persistence.enabled=false"),
        (
            {"replicaCount": 2, "cluster": {"enabled": True}, "persistence": {"enabled": False}},
            "cluster.enabled with replicaCount > 1 needs storage.postgres.enabled",
        ),
        ({"storage": {"postgres": {"enabled": True}}}, r"storage\.postgres\.host is required .*dsnSecret"),
        (
            {"storage": {"postgres": {**POSTGRES, "dsnSecret": {"name": "alerter-db"}}}},
            "give dsnSecret .* or host, port, dbname, user and passwordSecret, not both",
        ),
        ({"storage": {"postgres": {"sslmode": "always"}}}, "/storage/postgres/sslmode'"),
        ({"storage": {"postgres": {"password": "s3cret"}}}, "/storage/postgres'.*additional"),
        ({"serviceAccount": {"create": False, "name": ""}}, "serviceAccount.name is required"),
        ({"config": {"rule_files": ["x.yaml"]}}, "config.rule_files is set by the chart"),
        ({"config": {"storage": {"path": "/data/a.db"}}}, "config.storage is set by the chart"),
        ({"config": {"server": {"listen": "0.0.0.0:80"}}}, "config.server.listen is set by the chart"),
    ],
)
def test_bad_values_fail_with_a_clear_message(
    chart: helm.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(chart, values)


@pytest.mark.parametrize("key", sorted(INLINE_SECRET_KEYS))
def test_an_inline_secret_is_refused_before_it_reaches_a_config_map(chart: helm.Chart, key: str) -> None:
    """Every key the engine refuses as an inline secret, refused by the chart with the field to
    use instead, so the value never lands in the rendered ConfigMap."""
    receiver = {"name": "oncall", "slack": {"token_env": "SLACK_BOT_TOKEN", "channel": "#a", key: "s3cret"}}
    instead = f"{key}_env" if INLINE_SECRET_KEYS[key].startswith(f"{key}_env") else "an *_env field"
    with pytest.raises(helm.HelmError) as raised:
        render(chart, {"config": {"receivers": [receiver]}})
    message = str(raised.value)
    assert f"config.receivers[0].slack.{key}: secrets must not be written inline" in message
    assert f"set {instead} to the name of an environment variable" in message
    assert "secretEnv" in message


def test_an_inline_secret_is_found_at_any_depth(chart: helm.Chart) -> None:
    receivers = [
        {"name": "oncall", "slack": {"token_env": "SLACK_BOT_TOKEN", "channel": "#a"}},
        {"name": "hook", "webhook": {"url": "http://h", "hmac_secret": "s3cret"}},
    ]
    with pytest.raises(helm.HelmError, match=r"config\.receivers\[1\]\.webhook\.hmac_secret: secrets"):
        render(chart, {"config": {"receivers": receivers}})
    auth = {"url": "http://p:9090", "basic_auth": {"username": "u", "password": "s3cret"}}
    with pytest.raises(helm.HelmError, match=r"config\.prometheus\.basic_auth\.password: .*password_env"):
        render(chart, {"config": {"prometheus": auth}})


def test_an_env_field_secret_env_does_not_fill_is_refused(chart: helm.Chart) -> None:
    """The pod's environment is secretEnv alone: any other variable would be missing at start."""
    receiver = {"name": "oncall", "slack": {"token_env": "TEAM_TOKEN", "channel": "#a"}}
    with pytest.raises(helm.HelmError, match=r"config\.receivers\[0\]\.slack\.token_env names the environment "
                       r"variable TEAM_TOKEN, which secretEnv does not fill: add secretEnv\.TEAM_TOKEN"):  # fmt: skip
        render(chart, {"config": {"receivers": [receiver]}})
    with pytest.raises(
        helm.HelmError, match="signing_secret_env names the environment variable SLACK_SIGNING_SECRET"
    ):
        render(chart, {"secretEnv": {"SLACK_SIGNING_SECRET": None}})


def test_a_secret_of_ones_own_is_referenced_never_copied(chart: helm.Chart, tmp_path: Path) -> None:
    """An existing Secret under other names: the pod reads it through secretKeyRef, the config
    names only the variable, and its value appears in no rendered object."""
    receiver = {"name": "oncall", "slack": {"token_env": "TEAM_TOKEN", "channel": "#a"}}
    values = {
        "config": {"receivers": [receiver], "route": {"receiver": "oncall", "routes": []}},
        "secretEnv": {"TEAM_TOKEN": {"secret": "team-slack", "key": "xoxb"},
                      "ALERTER_ONCALL_TOKEN": {"secret": "team-api", "key": "write"},
                      "SLACK_BOT_TOKEN": None, "SLACK_SIGNING_SECRET": None},
    }  # fmt: skip
    docs = render(chart, values)
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert container(one(docs, "Deployment"))["env"] == [
        {"name": "ALERTER_ONCALL_TOKEN", "valueFrom": {"secretKeyRef": {"name": "team-api", "key": "write"}}},
        {"name": "TEAM_TOKEN", "valueFrom": {"secretKeyRef": {"name": "team-slack", "key": "xoxb"}}},
    ]
    bundle = load_mounted(tmp_path, _config(docs), _rules(docs))
    assert bundle.config is not None
    slack = bundle.config.receivers[0].slack
    assert slack is not None and (slack.token_env, slack.signing_secret_env) == ("TEAM_TOKEN", None)


def test_a_config_the_engine_rejects_is_caught(chart: helm.Chart, tmp_path: Path) -> None:
    """The load of the rendered config is strict: a route to an unknown receiver fails."""
    docs = render(chart, {"config": {"route": {"receiver": "nobody"}}})
    config = tmp_path / "alerter.yaml"
    config.write_text(_config(docs).replace("../alerter-rules/*.yaml", "rules/*.yaml"))
    (tmp_path / "rules").mkdir()
    for name, text in _rules(docs).items():
        (tmp_path / "rules" / name).write_text(text)
    with pytest.raises(ConfigErrors, match="nobody"):
        load(config)


def test_several_replicas_get_a_replica_id_member_leases_and_the_cluster_config(
    chart: helm.Chart, tmp_path: Path
) -> None:
    values = {"replicaCount": 3, "cluster": {"enabled": True}, "storage": {"postgres": POSTGRES}}
    docs = render(chart, values, namespace="observability")
    assert [p for d in docs for p in schema_problems(d)] == []
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    env = {e["name"]: e for e in container(deployment)["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    cfg = load_mounted(tmp_path, _config(docs), _rules(docs)).config
    assert cfg is not None and cfg.cluster.enabled
    assert (cfg.cluster.namespace, cfg.cluster.replica_id_env, cfg.cluster.name) == (
        "observability",
        "POD_NAME",
        RELEASE,
    )
    assert (cfg.cluster.lease_duration, cfg.cluster.renew_period, cfg.cluster.kubernetes.in_cluster) == (
        15.0,
        5.0,
        True,
    )
    account = one(docs, "ServiceAccount")["metadata"]["name"]
    allowed = grants(docs, ("observability", account))
    member = {
        ("observability", "coordination.k8s.io", "leases", verb, None)
        for verb in ("list", "watch", "create", "update")
    }
    assert member <= allowed
    assert not any(d["metadata"]["name"].endswith("-members") for d in render(chart) if d["kind"] == "Role")


def test_the_cluster_section_is_the_charts(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match=r"config\.cluster is set by the chart"):
        render(chart, {"config": {"cluster": {"enabled": True}}})


def _volumes(deployment: Doc) -> dict[str, Doc]:
    return {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}


def test_postgres_from_values_reads_its_password_from_the_mounted_secret(
    chart: helm.Chart, tmp_path: Path
) -> None:
    """The database's parts reach config.storage.postgres; the password and CA stay in their
    Secrets, mounted read-only as the files the config names; no state volume is claimed."""
    postgres = {**POSTGRES, "port": 6432, "sslmode": "verify-full", "caSecret": {"name": "db-ca"}}
    values = {"replicaCount": 3, "cluster": {"enabled": True}, "storage": {"postgres": postgres}}
    docs = render(chart, values)
    assert [p for d in docs for p in schema_problems(d)] == []
    assert not [d for d in docs if d["kind"] in ("PersistentVolumeClaim", "Secret")]
    cfg = load_mounted(tmp_path, _config(docs), _rules(docs)).config
    assert cfg is not None and cfg.storage.postgres is not None
    pg = cfg.storage.postgres
    assert (pg.host, pg.port, pg.dbname, pg.user, pg.sslmode) == ("postgres.db.svc", 6432, "alerter", "alerter",
                                                                  "verify-full")  # fmt: skip
    assert (pg.password_file, pg.ca_file, pg.password_env, pg.dsn_file) == (
        "/etc/alerter-postgres/password", "/etc/alerter-postgres/ca.crt", None, None)  # fmt: skip
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert _volumes(deployment)["state"] == {"name": "state", "emptyDir": {}}
    assert _volumes(deployment)["postgres"]["projected"] == {
        "defaultMode": 0o440,
        "sources": [
            {"secret": {"name": "db-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"secret": {"name": "alerter-db", "items": [{"key": "password", "path": "password"}]}},
        ],
    }
    mounts = {m["name"]: m for m in container(deployment)["volumeMounts"]}
    assert mounts["postgres"] == {"name": "postgres", "mountPath": "/etc/alerter-postgres", "readOnly": True}


def test_postgres_from_a_whole_connection_string_in_a_secret(chart: helm.Chart, tmp_path: Path) -> None:
    postgres = {"enabled": True, "dsnSecret": {"name": "alerter-db", "key": "url"}}
    docs = render(chart, {"storage": {"postgres": postgres}})
    cfg = load_mounted(tmp_path, _config(docs), _rules(docs)).config
    assert cfg is not None and cfg.storage.postgres is not None
    pg = cfg.storage.postgres
    assert (pg.dsn_file, pg.host, pg.password_file, pg.sslmode) == (
        "/etc/alerter-postgres/dsn",
        None,
        None,
        None,
    )
    assert _volumes(one(docs, "Deployment"))["postgres"]["projected"]["sources"] == [
        {"secret": {"name": "alerter-db", "items": [{"key": "url", "path": "dsn"}]}}
    ]


def test_sqlite_stays_the_default_and_a_database_without_secrets_mounts_nothing(
    chart: helm.Chart, tmp_path: Path
) -> None:
    cfg = load_mounted(tmp_path / "a", _config(render(chart)), _rules(render(chart))).config
    assert cfg is not None and (cfg.storage.path, cfg.storage.postgres) == ("/var/lib/alerter/state.db", None)
    docs = render(chart, {"storage": {"postgres": {"enabled": True, "host": "10.0.0.5"}}})
    assert "postgres" not in _volumes(one(docs, "Deployment"))
    cfg = load_mounted(tmp_path / "b", _config(docs), _rules(docs)).config
    assert cfg is not None and cfg.storage.postgres is not None and cfg.storage.postgres.password_file is None


def test_network_policy_reaches_the_database_by_its_pods_or_its_addresses(chart: helm.Chart) -> None:
    postgresql = {"app.kubernetes.io/name": "postgresql"}
    assert not egress_allows(one(render(chart), "NetworkPolicy"), "db", postgresql, 5432)
    docs = render(chart, {"storage": {"postgres": POSTGRES}})
    assert egress_allows(one(docs, "NetworkPolicy"), "db", postgresql, 5432)
    outside = {"storage": {"postgres": {**POSTGRES, "port": 6432}},
               "networkPolicy": {"postgres": {"cidrs": ["10.20.0.0/16"]}}}  # fmt: skip
    policy = one(render(chart, outside), "NetworkPolicy")
    assert not egress_allows(policy, "db", postgresql, 6432)
    assert {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 6432, "protocol": "TCP"}]} in (
        policy["spec"]["egress"]
    )
