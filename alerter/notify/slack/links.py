"""The links of a Slack message, built only from addresses a person's browser can open.

``prometheus.url`` is where the engine queries, and in Kubernetes that is an in-cluster service
name (``http://prometheus-operated.monitoring.svc:9090``) no laptop resolves; a link to it is a
link nobody can open. So every link has an ``external_url`` setting, and without one a link is
made only when the internal address is one a browser plausibly reaches too (``browser_base``).
All functions are pure: the same alert, settings and ``now`` give the same URL.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

_CLUSTER_SUFFIXES = (".svc", ".cluster.local", ".internal", ".local")
"""Host names that resolve only inside a cluster or a private network (Kubernetes service names,
``*.internal`` cloud names, mDNS ``*.local``)."""


def browser_base(internal: str | None, external: str | None) -> str | None:
    """The base URL for links: ``external`` when set, else ``internal`` if a browser can reach it.

    Without an external URL, the internal one is used when its host is loopback (the engine and
    the reader share a machine, as in ``make demo``), an IP address, or a dotted name outside the
    cluster suffixes (a public or VPN name); a Kubernetes service name (``*.svc``,
    ``*.cluster.local``) or a bare name such as ``prometheus`` (a compose service) gives no link.
    """
    if external:
        return external.rstrip("/")
    if not internal:
        return None
    host = (urlsplit(internal).hostname or "").lower().rstrip(".")
    if not host:
        return None
    if host == "localhost":
        return internal.rstrip("/")
    try:
        ipaddress.ip_address(host)
        return internal.rstrip("/")
    except ValueError:
        pass
    if "." not in host or host.endswith(_CLUSTER_SUFFIXES) or ".svc." in host:
        return None
    return internal.rstrip("/")


def listen_base(listen: str, tls: bool) -> str | None:
    """The engine's own address when it listens on loopback only, else None (needs external_url).

    ``127.0.0.1:9464`` is reachable from a browser on the same machine; ``0.0.0.0:9464`` says
    nothing about the name a reader would use, and port 0 is only known after binding.
    """
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if port in ("", "0") or host not in ("127.0.0.1", "localhost", "::1"):
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


@dataclass(frozen=True)
class Grafana:
    """A Grafana a person opens: its browser URL, the Prometheus data source, an optional dashboard."""

    url: str
    datasource: str | None = None
    org_id: int = 1
    dashboard_uid: str | None = None


def explore_url(grafana: Grafana, expr: str, start: float, end: float) -> str:
    """Grafana Explore on ``expr`` between ``start`` and ``end`` (unix seconds).

    The ``schemaVersion=1&panes=`` form Grafana 10 and later write into Explore's address bar:
    a JSON object of panes, each with its data source UID and queries (the Prometheus query's
    ``expr``, with ``datasource: {type, uid}``) and a ``range`` (here epoch milliseconds as
    strings), plus ``orgId``; see the shared Explore links of GitLab's runbooks
    (``dashboards.gitlab.net/explore?schemaVersion=1&panes=...``).
    """
    query: dict[str, object] = {"refId": "A", "expr": expr}
    pane: dict[str, object] = {}
    if grafana.datasource:
        pane["datasource"] = grafana.datasource
        query["datasource"] = {"type": "prometheus", "uid": grafana.datasource}
    pane["queries"] = [query]
    pane["range"] = {"from": str(int(start * 1000)), "to": str(int(end * 1000))}
    panes = json.dumps({"alert": pane}, separators=(",", ":"), sort_keys=True)
    return f"{grafana.url.rstrip('/')}/explore?" + urlencode(
        {"schemaVersion": "1", "panes": panes, "orgId": str(grafana.org_id)}
    )


def dashboard_url(grafana: Grafana, alertname: str, start: float, end: float) -> str | None:
    """The configured dashboard with its ``alertname`` variable set, or None without one."""
    if not grafana.dashboard_uid:
        return None
    params = {
        "orgId": str(grafana.org_id),
        "var-alertname": alertname,
        "from": str(int(start * 1000)),
        "to": str(int(end * 1000)),
    }
    return f"{grafana.url.rstrip('/')}/d/{quote(grafana.dashboard_uid, safe='')}?{urlencode(params)}"


def alert_url(engine: str, fingerprint: str) -> str:
    """The alert in the engine's JSON API (``GET /api/v1/alerts?fingerprint=``)."""
    return f"{engine.rstrip('/')}/api/v1/alerts?{urlencode({'fingerprint': fingerprint})}"
