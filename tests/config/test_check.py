"""``alerter check`` warnings: valid settings that are probably not meant, located like errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter import cli
from alerter.config import yamlfile
from alerter.config.check import allowed, exposed_without_auth, warnings
from alerter.config.engine import AppConfig, ServerConfig
from alerter.config.rules import RuleFile
from alerter.core.model import Alert, Labels
from alerter.remediate.policy import Limits, Mode, Situation, Switches, allow_list

ALERT = Alert(rule="Slow", group="g", labels=Labels(model="llama3"))
AUTH = {"tokens": [{"name": "oncall", "token_env": "ALERTER_TOKEN"}]}
MTLS = {"cert_file": "s.pem", "key_file": "s.key", "client_ca_file": "ca.pem"}


@pytest.mark.parametrize(
    ("server", "exposed"),
    [
        ({}, False),  # the default listens on 127.0.0.1
        ({"listen": "127.0.0.1:9464"}, False),
        ({"listen": "127.1.2.3:9464"}, False),
        ({"listen": "localhost:9464"}, False),
        ({"listen": "[::1]:9464"}, False),
        ({"listen": "0.0.0.0:9464"}, True),
        ({"listen": "[::]:9464"}, True),
        ({"listen": "10.0.0.7:9464"}, True),
        ({"listen": "alerter.internal:9464"}, True),  # a name may resolve anywhere
        ({"listen": "0.0.0.0:9464", "auth": AUTH}, False),
        ({"listen": "0.0.0.0:9464", "tls": MTLS}, False),  # only holders of client certificates connect
        ({"listen": "0.0.0.0:9464", "tls": {**MTLS, "client_ca_file": None}}, True),  # HTTPS alone
    ],
)
def test_exposed_without_auth(server: dict[str, object], exposed: bool) -> None:
    assert exposed_without_auth(ServerConfig.model_validate(server)) is exposed


def _check(tmp_path: Path, server: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "alerter.yaml"
    path.write_text("prometheus: {url: http://127.0.0.1:9090}\n" + server)
    code = cli.main(["check", "--config", str(path)])
    return code, capsys.readouterr().err


def test_check_warns_about_an_open_api_on_the_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _check(tmp_path, "server:\n  listen: 0.0.0.0:9464\n", capsys)
    assert code == 0, "a warning does not fail the check"
    assert err.splitlines() == [
        f"{tmp_path / 'alerter.yaml'}:3:11: warning: server.listen: the HTTP API listens on 0.0.0.0:9464 "
        "without authentication: anyone who reaches the port can create silences and reload the engine "
        "(add `server.auth.tokens` with a token_env or token_file per holder, or listen on 127.0.0.1)"
    ]


@pytest.mark.parametrize(
    "server",
    [
        "",
        "server: {listen: 127.0.0.1:9464}\n",
        "server:\n  listen: 0.0.0.0:9464\n  auth:\n    tokens: [{name: oncall, token_env: ALERTER_TOKEN}]\n",
    ],
    ids=["default", "loopback", "with-auth"],
)
def test_check_is_quiet_when_the_api_is_not_exposed(
    tmp_path: Path, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check(tmp_path, server, capsys) == (0, "")


def test_check_says_how_each_rule_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "groups:\n  - name: g\n    interval: 30s\n    rules:\n"
        "      - record: job:up:sum\n        expr: sum by (job) (up)\n"
        "      - alert: Down\n        expr: up == 0\n        for: 5m\n"
        "        annotations: {summary: '{{ $labels.instance }} is down'}\n"
        "      - alert: Slow\n        expr: ttft\n        baseline: {detector: stl}\n"
        "        annotations: {summary: '{{ value | duration }}'}\n"
    )
    assert cli.main(["check", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: OK (1 group, 3 rules)",
        "  group g (every 30s)",
        "    job:up:sum: recording rule, evaluated by Prometheus, not by alerter",
        "    Down: threshold rule (active while expr returns a series), for 5m, Go templates",
        "    Slow: baseline rule, detector stl, keeps firing for 30m, Jinja2 templates",
    ]
    assert cli.main(["check", "--quiet", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{path}: OK (1 group, 3 rules)"]


@pytest.mark.parametrize(
    ("target", "allow"),
    [
        ("inference/vllm", ()),
        ("inference/vllm", ("inference",)),
        ("inference/vllm", ("inference/vllm",)),
        ("inference/vllm", ("inference/tgi",)),
        ("inference/vllm", ("infer",)),
        ("gateway/chat", ("inference", "gateway")),
    ],
)
def test_the_check_allows_exactly_what_the_runtime_gate_allows(target: str, allow: tuple[str, ...]) -> None:
    """``check.allowed`` restates ``remediate.policy.allow_list`` (config sits below remediate)."""
    namespace, name = target.split("/")
    situation = Situation(
        limits=Limits(name="p", mode=Mode.AUTO),
        switches=Switches(allow=allow),
        alert=ALERT,
        namespace=namespace,
        name=name,
    )
    assert allowed(target, allow) is allow_list(situation).allowed


POLICIES = """\
rule_files: [rules.yaml]
policies:
  - name: scale-vllm
    scale: {deployment: inference/vllm, step: 1, max_replicas: 4}
  - name: fallback
    mode: approve
    route: {httproute: gateway/chat, backend: backup}
  - name: router
    configmap: {configmap: inference/router, key: model, value: small, restart: gateway/litellm}
  - name: parked
    mode: "off"
    scale: {deployment: batch/worker, step: 1, max_replicas: 2}
  - name: one-target
    scale: {deployment: batch/vllm, step: 1, max_replicas: 2}
remediation:
  allow_namespaces: [inference, batch/vllm]
"""

RULES = """\
groups:
  - name: g
    rules:
      - alert: Slow
        expr: ttft > 1
        remediate: [scale-vllm, fallback, router, parked]
      - record: job:ttft:max
        expr: max(ttft)
"""


def test_check_warns_about_policies_that_can_never_act_or_that_no_rule_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    code, err = _check(tmp_path, POLICIES, capsys)
    assert code == 0, "warnings do not fail the check"
    config = tmp_path / "alerter.yaml"
    assert err.splitlines() == [
        f"{config}:8:24: warning: policies[1].route.httproute: policy `fallback` can never act: "
        "`gateway/chat` is not in remediation.allow_namespaces [inference, batch/vllm] (add `gateway` or "
        "`gateway/chat` to remediation.allow_namespaces; until then every action of the policy is "
        "skipped, in dry-run too)",
        f"{config}:10:81: warning: policies[2].configmap.restart: policy `router` can never act: "
        "`gateway/litellm` is not in remediation.allow_namespaces [inference, batch/vllm] (add `gateway` "
        "or `gateway/litellm` to remediation.allow_namespaces; until then every action of the policy is "
        "skipped, in dry-run too)",
        f"{config}:14:11: warning: policies[4].name: policy `one-target` is not named by any rule of the "
        "config's rule_files, so it never acts (add `remediate: [one-target]` to a rule, or remove the policy)",
    ]


def test_an_empty_allow_list_is_named_as_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rules.yaml").write_text(RULES.replace(", fallback, router, parked", ""))
    policy = "rule_files: [rules.yaml]\npolicies:\n  - {name: scale-vllm, scale: {deployment: inference/vllm, max_replicas: 4, step: 1}}\n"
    code, err = _check(tmp_path, policy, capsys)
    assert code == 0
    assert err.splitlines() == [
        f"{tmp_path / 'alerter.yaml'}:4:44: warning: policies[0].scale.deployment: policy `scale-vllm` can never "
        "act: `inference/vllm` is not allowed: remediation.allow_namespaces is empty (add `inference` or "
        "`inference/vllm` to remediation.allow_namespaces; until then every action of the policy is "
        "skipped, in dry-run too)"
    ]


def test_the_rules_given_with_the_config_count_as_users_of_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "alerter.yaml"
    path.write_text(
        "prometheus: {url: http://127.0.0.1:9090}\n" + POLICIES.replace("rule_files: [rules.yaml]\n", "")
    )
    doc = yamlfile.read(path, what="config file")
    cfg = AppConfig.model_validate(doc.data)
    rules = RuleFile.model_validate(yamlfile.parse(RULES.encode(), "rules.yaml", what="rule file").data)
    unused = [w.path for w in warnings(doc, cfg, [rules]) if "not named" in w.message]
    assert unused == ["policies[4].name"]
    assert [w.path for w in warnings(doc, cfg) if "not named" in w.message] == [
        f"policies[{i}].name" for i in range(5)
    ], "the config names no rule files: none of its policies ever acts under `alerter run`"
