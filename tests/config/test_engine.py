"""Sections of ``alerter.yaml``: external URLs, the ``grafana:`` section, ``cluster:``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alerter.config import load
from alerter.config.engine import AppConfig
from alerter.core.errors import ConfigErrors


def test_external_urls_and_grafana_are_read_and_normalised() -> None:
    cfg = AppConfig.model_validate(
        {
            "prometheus": {
                "url": "http://prometheus.monitoring.svc:9090",
                "external_url": "https://prom.example.com/",
            },
            "grafana": {
                "url": "https://grafana.example.com/",
                "datasource": "P18",
                "dashboard_uid": "alerter-engine",
            },
            "server": {"external_url": "https://alerter.example.com/"},
        }
    )
    assert cfg.prometheus.external_url == "https://prom.example.com"
    assert cfg.grafana is not None and (cfg.grafana.url, cfg.grafana.org_id) == (
        "https://grafana.example.com",
        1,
    )
    assert cfg.server.external_url == "https://alerter.example.com"
    assert AppConfig.model_validate({"prometheus": {"url": "http://localhost:9090"}}).grafana is None


@pytest.mark.parametrize(
    "config",
    [
        {"prometheus": {"url": "http://p:9090", "external_url": "prom.example.com"}},
        {"prometheus": {"url": "http://p:9090"}, "grafana": {"url": "grafana:3000"}},
        {"prometheus": {"url": "http://p:9090"}, "grafana": {"url": "http://g", "org_id": 0}},
        {"prometheus": {"url": "http://p:9090"}, "server": {"external_url": "alerter:9464"}},
    ],
)
def test_link_settings_that_cannot_be_opened_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AppConfig.model_validate(config)


def test_the_cluster_section_is_off_by_default_and_reads_its_replica_id_from_the_pod_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = AppConfig.model_validate({"prometheus": {"url": "http://p:9090"}})
    assert not cfg.cluster.enabled
    assert (cfg.cluster.lease_duration, cfg.cluster.renew_period) == (15.0, 5.0)
    on = AppConfig.model_validate(
        {
            "prometheus": {"url": "http://p:9090"},
            "cluster": {"enabled": True, "lease_duration": "30s", "renew_period": "10s"},
        }
    )
    monkeypatch.setenv("POD_NAME", "alerter-2")
    assert on.cluster.identity() == "alerter-2"
    assert on.cluster.model_copy(update={"replica_id": "r1"}).identity() == "r1"


def test_a_renew_period_too_long_for_the_lease_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "alerter.yaml"
    path.write_text(
        "prometheus:\n  url: http://p:9090\ncluster:\n  enabled: true\n  lease_duration: 15s\n  renew_period: 6s\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        load(str(path), [])
    (error,) = caught.value.errors
    assert error.location.line == 3
    assert "renew_period (6s) must be at most a third of lease_duration (15s)" in str(error)


def test_storage_is_sqlite_by_default_and_postgres_takes_a_dsn_or_its_parts_with_secrets_from_env_or_file() -> (
    None
):
    base = {"prometheus": {"url": "http://p:9090"}}
    assert AppConfig.model_validate(base).storage.postgres is None
    by_dsn = AppConfig.model_validate({**base, "storage": {"postgres": {"dsn_env": "ALERTER_DSN"}}})
    assert by_dsn.storage.postgres is not None and by_dsn.storage.postgres.dsn.env == "ALERTER_DSN"
    parts = {"host": "db", "dbname": "alerter", "user": "alerter", "password_file": "/run/secrets/pg"}
    by_parts = AppConfig.model_validate({**base, "storage": {"postgres": parts}})
    assert by_parts.storage.postgres is not None
    assert (by_parts.storage.postgres.port, by_parts.storage.postgres.password.file) == (
        5432,
        "/run/secrets/pg",
    )


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ({"postgres": {"host": "db"}}, "missing: dbname, user"),
        ({"postgres": {"dsn_env": "A", "dsn_file": "/f"}}, "give only one of dsn_env, dsn_file"),
        ({"path": "state.db", "postgres": {"dsn_env": "A"}}, "not both"),
        ({"postgres": {"dsn_env": "A", "sslmode": "sometimes"}}, "sslmode"),
    ],
)
def test_bad_storage_settings_are_refused(storage: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AppConfig.model_validate({"prometheus": {"url": "http://p:9090"}, "storage": storage})


@pytest.mark.parametrize("key", ["password", "dsn"])
def test_an_inline_database_secret_is_refused_at_its_line(tmp_path: Path, key: str) -> None:
    path = tmp_path / "alerter.yaml"
    path.write_text(
        "prometheus:\n  url: http://p:9090\nstorage:\n  postgres:\n    host: db\n    dbname: a\n    user: a\n"
        f"    {key}: hunter2\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        load(str(path), [])
    (error,) = caught.value.errors
    assert error.location.line == 8
    assert f"{key}_env or {key}_file" in str(error)
    assert "hunter2" not in str(error)
