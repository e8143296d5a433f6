"""``alerter check`` warnings: valid settings that are probably not meant, located like errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter import cli
from alerter.config.check import exposed_without_auth
from alerter.config.engine import ServerConfig

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
        "    Slow: baseline rule, detector stl, Jinja2 templates",
    ]
    assert cli.main(["check", "--quiet", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{path}: OK (1 group, 3 rules)"]
