"""Tokens of the HTTP API: read from ``*_env`` / ``*_file`` only, checked per scope, errors that say the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.config import load
from alerter.config.engine import ServerConfig
from alerter.core.errors import ConfigError, ConfigErrors
from alerter.notify.secret import Secret
from alerter.service.auth import Access, Auth, Caller, Token
from alerter.service.server import Request, Response

TOKEN = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def _request(authorization: str | None = None, peer: str = "") -> Request:
    headers = {} if authorization is None else {"authorization": authorization}
    return Request("POST", "/-/reload", {}, headers, b"", peer)


def _server(auth: object, tls: object = None) -> ServerConfig:
    return ServerConfig.model_validate({"listen": "0.0.0.0:9464", "auth": auth, "tls": tls})


def test_tokens_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    path = tmp_path / "grafana-token"
    path.write_text(OTHER + "\n")
    server = _server(
        {
            "tokens": [
                {"name": "oncall", "token_env": "ONCALL_TOKEN"},
                {"name": "grafana", "token_file": str(path), "scope": "read"},
            ],
            "protect_reads": True,
        }
    )
    auth = Auth.from_config(server, environ={"ONCALL_TOKEN": TOKEN})
    assert auth.enabled and auth.protect_reads
    assert auth.check(_request(f"Bearer {TOKEN}"), Access.WRITE) == Caller("token", "oncall")
    assert auth.check(_request(f"Bearer {OTHER}"), Access.READ) == Caller("token", "grafana")
    refused = auth.check(_request(f"Bearer {OTHER}"), Access.WRITE)
    assert isinstance(refused, Response) and refused.status == 403


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "environment variable ONCALL_TOKEN is not set or empty"),
        ({"ONCALL_TOKEN": "short"}, "the token of `oncall` is shorter than 16 characters"),
    ],
)
def test_a_token_that_cannot_be_used_is_a_config_error(environ: dict[str, str], message: str) -> None:
    server = _server({"tokens": [{"name": "oncall", "token_env": "ONCALL_TOKEN"}]})
    with pytest.raises(ConfigError) as caught:
        Auth.from_config(server, environ=environ)
    assert caught.value.path == "server.auth.tokens[0].token" and message in str(caught.value)


def test_two_holders_with_one_token_are_refused() -> None:
    server = _server(
        {"tokens": [{"name": "ann", "token_env": "A"}, {"name": "bob", "token_env": "B"}]},
    )
    with pytest.raises(ConfigError, match="`bob` has the same token as `ann`"):
        Auth.from_config(server, environ={"A": TOKEN, "B": TOKEN})


def test_without_tokens_everyone_passes_and_a_client_certificate_names_the_caller() -> None:
    assert not Auth().enabled
    assert Auth().check(_request(), Access.WRITE) == Caller()
    mtls = Auth.from_config(_server(None, {"cert_file": "c", "key_file": "k", "client_ca_file": "ca"}))
    assert mtls.enabled
    assert mtls.check(_request(peer="ops-laptop"), Access.WRITE) == Caller("certificate", "ops-laptop")


def test_every_configured_token_is_compared() -> None:
    """The match is found wherever it sits in the list, and an unknown token matches none."""
    tokens = [Token.of(f"t{i}", Access.WRITE, Secret(f"{TOKEN}{i}")) for i in range(5)]
    auth = Auth(tokens)
    for i in range(5):
        assert auth.check(_request(f"Bearer {TOKEN}{i}"), Access.WRITE) == Caller("token", f"t{i}")
    refused = auth.check(_request(f"Bearer {TOKEN}9"), Access.WRITE)
    assert isinstance(refused, Response) and refused.status == 401


def _config(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "alerter.yaml"
    path.write_text("prometheus: {url: http://127.0.0.1:9090}\nserver:\n" + server)
    return path


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (
            "  auth:\n    tokens:\n      - name: oncall\n        token: abc\n",
            "alerter.yaml:6:9: server.auth.tokens[0].token: secrets must not be written inline "
            "(use token_env or token_file to name an environment variable or a mounted file)",
        ),
        (
            "  auth:\n    tokens:\n      - {name: oncall}\n",
            "server.auth.tokens[0]: give one of token_env, token_file",
        ),
        (
            "  auth:\n    tokens:\n      - {name: grafana, token_env: G, scope: read}\n",
            "read-only token(s) grafana grant nothing while reads are open",
        ),
        (
            "  auth:\n    tokens:\n      - {name: a, token_env: A}\n      - {name: a, token_env: B}\n",
            "token names must be unique; used more than once: a",
        ),
        ("  auth:\n    tokens: []\n", "server.auth.tokens"),
        ("  auth:\n    tokens:\n      - {name: 'ann smith', token_env: A}\n", "server.auth.tokens[0].name"),
        ("  tls: {cert_file: c.pem}\n", "server.tls.key_file: required field is missing"),
    ],
)
def test_auth_settings_are_validated_with_their_location(tmp_path: Path, server: str, expected: str) -> None:
    with pytest.raises(ConfigErrors) as caught:
        load(_config(tmp_path, server))
    assert any(expected in str(e) for e in caught.value.errors), caught.value.errors


@pytest.mark.parametrize(
    ("caller", "claimed", "recorded"),
    [
        (Caller(), "ann", "ann"),
        (Caller("token", "oncall"), "", "oncall"),
        (Caller("token", "oncall"), "oncall", "oncall"),
        (Caller("token", "oncall"), "ann", "ann (token oncall)"),
        (Caller("certificate", "ops"), "ann", "ann (certificate ops)"),
    ],
)
def test_the_author_is_the_verified_caller(caller: Caller, claimed: str, recorded: str) -> None:
    assert caller.author(claimed) == recorded
