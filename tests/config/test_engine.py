"""The link settings of ``alerter.yaml``: external URLs and the ``grafana:`` section."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerter.config.engine import AppConfig


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
