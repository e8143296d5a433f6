"""Links a browser can open: which base URL each link uses, and the URLs themselves."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from alerter.notify.slack import links

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


@pytest.mark.parametrize(
    ("internal", "external", "expected"),
    [
        ("http://prometheus-operated.monitoring.svc:9090", None, None),
        ("http://prometheus.monitoring.svc.cluster.local:9090", None, None),
        ("http://prometheus:9090", None, None),  # a compose service name
        ("http://metrics.internal:9090", None, None),
        (
            "http://prometheus-operated.monitoring.svc:9090",
            "https://prom.example.com/",
            "https://prom.example.com",
        ),
        ("http://localhost:9090", None, "http://localhost:9090"),
        ("http://127.0.0.1:9090/", None, "http://127.0.0.1:9090"),
        ("http://[::1]:9090", None, "http://[::1]:9090"),
        ("http://10.0.0.7:9090", None, "http://10.0.0.7:9090"),
        ("https://prometheus.example.com", None, "https://prometheus.example.com"),
        (None, None, None),
    ],
)
def test_links_use_the_external_url_or_an_address_a_browser_reaches(
    internal: str | None, external: str | None, expected: str | None
) -> None:
    assert links.browser_base(internal, external) == expected


@pytest.mark.parametrize(
    ("listen", "tls", "expected"),
    [
        ("127.0.0.1:9464", False, "http://127.0.0.1:9464"),
        ("localhost:9464", True, "https://localhost:9464"),
        ("[::1]:9464", False, "http://[::1]:9464"),
        ("0.0.0.0:9464", False, None),
        ("127.0.0.1:0", False, None),
    ],
)
def test_the_engine_links_to_itself_only_when_it_listens_on_loopback(
    listen: str, tls: bool, expected: str | None
) -> None:
    assert links.listen_base(listen, tls) == expected


def test_explore_link_carries_the_expression_data_source_and_range() -> None:
    grafana = links.Grafana("https://grafana.example.com/", datasource="prom-uid", org_id=3)
    url = links.explore_url(grafana, 'sum(rate(x{a="b"}[5m]))', T0 - 3600, T0)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "grafana.example.com", "/explore")
    query = parse_qs(parts.query)
    assert query["schemaVersion"] == ["1"] and query["orgId"] == ["3"]
    (pane,) = json.loads(query["panes"][0]).values()
    assert pane["datasource"] == "prom-uid"
    assert pane["queries"] == [
        {
            "refId": "A",
            "expr": 'sum(rate(x{a="b"}[5m]))',
            "datasource": {"type": "prometheus", "uid": "prom-uid"},
        }
    ]
    assert pane["range"] == {"from": str(int((T0 - 3600) * 1000)), "to": str(int(T0 * 1000))}


def test_explore_without_a_data_source_leaves_the_choice_to_grafana() -> None:
    url = links.explore_url(links.Grafana("http://localhost:3000"), "up", T0 - 60, T0)
    (pane,) = json.loads(parse_qs(urlsplit(url).query)["panes"][0]).values()
    assert "datasource" not in pane and pane["queries"] == [{"refId": "A", "expr": "up"}]


def test_dashboard_link_sets_the_alertname_variable() -> None:
    assert links.dashboard_url(links.Grafana("http://g"), "X", T0 - 60, T0) is None
    url = links.dashboard_url(
        links.Grafana("http://g", dashboard_uid="alerter-engine"), "TTFT High", T0 - 60, T0
    )
    assert url is not None
    parts = urlsplit(url)
    assert parts.path == "/d/alerter-engine"
    assert parse_qs(parts.query) == {
        "orgId": ["1"],
        "var-alertname": ["TTFT High"],
        "from": [str(int((T0 - 60) * 1000))],
        "to": [str(int(T0 * 1000))],
    }


def test_alert_link_names_the_fingerprint() -> None:
    assert links.alert_url("https://alerter.example.com/", "0123456789abcdef") == (
        "https://alerter.example.com/api/v1/alerts?fingerprint=0123456789abcdef"
    )
