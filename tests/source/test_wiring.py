"""build_source: the ``prometheus:`` config section becomes a client, credentials read only then."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from harness import GarbageServer, Reply

from alerter.config.engine import PrometheusConfig
from alerter.core.errors import AlerterError
from alerter.source.wiring import build_source

EMPTY = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()


def _config(url: str, **fields: Any) -> PrometheusConfig:
    return PrometheusConfig.model_validate({"url": url, **fields})


def test_bearer_token_from_the_environment_and_headers(
    garbage_server: GarbageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage_server.reply = Reply(200, EMPTY)
    monkeypatch.setenv("PROM_TOKEN", "s3cret\n")
    cfg = _config(garbage_server.url, bearer_token_env="PROM_TOKEN", headers={"X-Scope-OrgID": "team-a"})
    with build_source(cfg) as source:
        assert source.query("up", 1) == []
        assert source.url == garbage_server.url.rstrip("/")
        assert "s3cret" not in repr(source)
    (request,) = garbage_server.requests
    assert request.headers["Authorization"] == "Bearer s3cret"
    assert request.headers["X-Scope-OrgID"] == "team-a"
    assert request.headers["Accept-Encoding"] == "identity"


def test_basic_auth_password_from_a_file(garbage_server: GarbageServer, tmp_path: Path) -> None:
    garbage_server.reply = Reply(200, EMPTY)
    password = tmp_path / "password"
    password.write_text("pass\n")
    cfg = _config(
        garbage_server.url,
        basic_auth={"username": "user", "password_file": str(password)},
        compression=True,
        timeout="5s",
    )
    with build_source(cfg) as source:
        source.query("up", 1)
        assert source.timeout == 5.0
    (request,) = garbage_server.requests
    assert request.headers["Authorization"] == "Basic dXNlcjpwYXNz"
    assert "gzip" in request.headers["Accept-Encoding"]


def test_no_credentials_sends_no_authorization(garbage_server: GarbageServer) -> None:
    garbage_server.reply = Reply(200, EMPTY)
    with build_source(_config(garbage_server.url)) as source:
        source.query("up", 1)
    assert "Authorization" not in garbage_server.requests[0].headers


def test_missing_environment_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROM_TOKEN_UNSET", raising=False)
    with pytest.raises(AlerterError, match="environment variable 'PROM_TOKEN_UNSET' is not set"):
        build_source(_config("http://127.0.0.1:9090", bearer_token_env="PROM_TOKEN_UNSET"))


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing-token"
    with pytest.raises(AlerterError, match=re.escape(f"cannot read {missing}: No such file")):
        build_source(_config("http://127.0.0.1:9090", bearer_token_file=str(missing)))
