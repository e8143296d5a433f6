"""Pydantic models of ``alerter.yaml``: source, storage, receivers, routing, maintenance, policies.

Secrets are never written inline: every credential is a ``*_env`` (name of an environment
variable) or ``*_file`` (path of a mounted secret) field, so a config file can be committed and
shown in review. The loader turns an inline ``token:``/``password:`` into an error with that hint.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from alerter.config.types import (
    Duration,
    HeaderMap,
    InlineUrl,
    LabelMap,
    LabelName,
    Matcher,
    Model,
    ServerUrl,
)
from alerter.core.cron import parse_cron

INLINE_SECRET_KEYS = {
    "token": "token_env or token_file",
    "bearer_token": "bearer_token_env or bearer_token_file",
    "password": "password_env or password_file",
    "webhook_url": "webhook_url_env or webhook_url_file",
    "signing_secret": "signing_secret_env or signing_secret_file",
    "hmac_secret": "hmac_secret_env or hmac_secret_file",
    "api_key": "an *_env or *_file field",
    "secret": "an *_env or *_file field",
    "dsn": "dsn_env or dsn_file",
}
"""Keys that would hold a secret inline, and the fields to use instead."""


class SecretRef(Model):
    """Where a secret lives; resolved only when an adapter is built, never stored in config."""

    env: str | None = None
    file: str | None = None

    def resolve(self) -> str | None:
        """Read the secret; None when neither place is configured. Raises OSError/KeyError when missing."""
        if self.env:
            return os.environ[self.env]
        if self.file:
            return Path(self.file).read_text().strip()
        return None


def _one_of(model: Model, *names: str, required: bool = True) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) > 1:
        raise ValueError(f"give only one of {', '.join(names)}; got {', '.join(given)}")
    if required and not given:
        raise ValueError(f"give one of {', '.join(names)}")


class BasicAuth(Model):
    username: str
    password_env: str | None = None
    password_file: str | None = None

    @model_validator(mode="after")
    def _password(self) -> BasicAuth:
        _one_of(self, "password_env", "password_file")
        return self

    @property
    def password(self) -> SecretRef:
        return SecretRef(env=self.password_env, file=self.password_file)


class PrometheusConfig(Model):
    """Any Prometheus-compatible query API: Prometheus, VictoriaMetrics, Thanos, Mimir."""

    url: ServerUrl
    external_url: ServerUrl | None = None
    """Where a browser reaches this Prometheus, for the "Prometheus graph" link in messages; ``url``
    is often an in-cluster address only the engine can reach (see the README's Links)."""
    timeout: Duration = Field(default=30.0, gt=0)
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    basic_auth: BasicAuth | None = None
    headers: HeaderMap = Field(default_factory=dict)
    ca_file: str | None = None
    tls_verify: bool = True
    compression: bool = False
    flavor: Literal["prometheus", "victoriametrics"] = "prometheus"
    """The query language rule expressions are checked as: ``victoriametrics`` accepts MetricsQL
    (``WITH``, ``default``, ``rollup_*`` ...), which is then checked for brackets and regexes only."""

    @model_validator(mode="after")
    def _auth(self) -> PrometheusConfig:
        _one_of(self, "bearer_token_env", "bearer_token_file", "basic_auth", required=False)
        return self

    @property
    def bearer_token(self) -> SecretRef:
        return SecretRef(env=self.bearer_token_env, file=self.bearer_token_file)


class PostgresConfig(Model):
    """A PostgreSQL database that several replicas share: a whole libpq connection string from a
    secret (``dsn_env`` / ``dsn_file``), or its parts with the password from one."""

    dsn_env: str | None = None
    dsn_file: str | None = None
    host: str | None = Field(default=None, min_length=1)
    port: int = Field(default=5432, ge=1, le=65535)
    dbname: str | None = Field(default=None, min_length=1)
    user: str | None = Field(default=None, min_length=1)
    password_env: str | None = None
    password_file: str | None = None
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    """libpq's ``sslmode``; unset, the DSN's or libpq's default (``prefer``)."""
    ca_file: str | None = None
    """CA bundle the server's certificate is checked against (libpq's ``sslrootcert``)."""

    @model_validator(mode="after")
    def _where(self) -> PostgresConfig:
        _one_of(self, "dsn_env", "dsn_file", required=False)
        _one_of(self, "password_env", "password_file", required=False)
        if self.dsn_env or self.dsn_file:
            return self
        missing = [n for n in ("host", "dbname", "user") if getattr(self, n) is None]
        if missing:
            raise ValueError(
                f"give dsn_env or dsn_file (a connection string from a secret), or host, dbname and "
                f"user (missing: {', '.join(missing)})"
            )
        return self

    @property
    def dsn(self) -> SecretRef:
        return SecretRef(env=self.dsn_env, file=self.dsn_file)

    @property
    def password(self) -> SecretRef:
        return SecretRef(env=self.password_env, file=self.password_file)


class StorageConfig(Model):
    """Where state survives restarts: the SQLite file ``path`` (one replica, the default), or the
    PostgreSQL database ``postgres`` that several replicas share."""

    path: str = "/var/lib/alerter/state.db"
    postgres: PostgresConfig | None = None

    @model_validator(mode="after")
    def _one_database(self) -> StorageConfig:
        if self.postgres is not None and "path" in self.model_fields_set:
            raise ValueError("give path (SQLite, one replica) or postgres (several replicas), not both")
        return self


class GrafanaConfig(Model):
    """A Grafana that people open from Slack: an Explore link for each rule's expression and,
    with ``dashboard_uid``, a link to that dashboard for the alert's rule."""

    url: ServerUrl
    """Grafana's address as a browser reaches it (its ``root_url``)."""
    datasource: str | None = Field(default=None, min_length=1)
    """UID of the Prometheus data source Explore queries; without it Grafana uses its default."""
    org_id: int = Field(default=1, ge=1)
    dashboard_uid: str | None = Field(default=None, min_length=1, max_length=40)
    """A dashboard with an ``alertname`` variable, such as the shipped ``alerter-engine``."""


class SlackReceiver(Model):
    """Bot-token mode (threads, chart uploads, buttons) or incoming-webhook mode (plain messages)."""

    channel: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    webhook_url_env: str | None = None
    webhook_url_file: str | None = None
    signing_secret_env: str | None = None
    signing_secret_file: str | None = None
    digest_threshold: int = Field(default=10, ge=1)

    @model_validator(mode="after")
    def _mode(self) -> SlackReceiver:
        _one_of(self, "token_env", "token_file", "webhook_url_env", "webhook_url_file")
        if (self.token_env or self.token_file) and not self.channel:
            raise ValueError('bot-token mode needs `channel` (e.g. "#llm-oncall")')
        return self

    @property
    def token(self) -> SecretRef:
        return SecretRef(env=self.token_env, file=self.token_file)

    @property
    def webhook_url(self) -> SecretRef:
        return SecretRef(env=self.webhook_url_env, file=self.webhook_url_file)

    @property
    def signing_secret(self) -> SecretRef:
        return SecretRef(env=self.signing_secret_env, file=self.signing_secret_file)


class AlertmanagerReceiver(Model):
    """An Alertmanager (or a proxy in front of a cluster), with the connection options of
    Prometheus' ``alertmanager_config`` that apply: basic auth or a bearer token, and TLS."""

    url: ServerUrl
    timeout: Duration = Field(default=10.0, gt=0)
    resend_interval: Duration = Field(default=60.0, gt=0)
    """Seconds between re-sends of a firing group; each alert ends 4 × this after a send unless
    sent again (Prometheus' ``--rules.alert.resend-delay``, 1m by default)."""
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    basic_auth: BasicAuth | None = None
    ca_file: str | None = None
    """PEM CA certificates that sign the server's certificate (default: the system's)."""
    cert_file: str | None = None
    """PEM client certificate, for an Alertmanager that requires one; needs ``key_file``."""
    key_file: str | None = None
    insecure_skip_verify: bool = False
    """Accept any server certificate: for tests only, it lets anyone in between read the alerts."""

    @model_validator(mode="after")
    def _options(self) -> AlertmanagerReceiver:
        _one_of(self, "bearer_token_env", "bearer_token_file", "basic_auth", required=False)
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give cert_file and key_file together (a client certificate needs its key)")
        tls = [n for n in ("ca_file", "cert_file", "key_file") if getattr(self, n) is not None]
        if self.insecure_skip_verify:
            tls.append("insecure_skip_verify")
        if tls and not self.url.startswith("https://"):
            raise ValueError(f"{', '.join(tls)} apply only to an https:// url, got {self.url!r}")
        return self


class WebhookReceiver(Model):
    url: InlineUrl | None = None
    url_env: str | None = None
    url_file: str | None = None
    hmac_secret_env: str | None = None
    hmac_secret_file: str | None = None
    timeout: Duration = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _target(self) -> WebhookReceiver:
        _one_of(self, "url", "url_env", "url_file")
        _one_of(self, "hmac_secret_env", "hmac_secret_file", required=False)
        return self


class Receiver(Model):
    name: str = Field(min_length=1)
    slack: SlackReceiver | None = None
    alertmanager: AlertmanagerReceiver | None = None
    webhook: WebhookReceiver | None = None

    @model_validator(mode="after")
    def _kind(self) -> Receiver:
        _one_of(self, "slack", "alertmanager", "webhook")
        return self


class Route(Model):
    """Alertmanager's routing tree (a subset); unset fields are inherited from the parent."""

    receiver: str | None = None
    group_by: list[LabelName | Literal["..."]] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = Field(default=None, gt=0)
    repeat_interval: Duration | None = Field(default=None, gt=0)
    matchers: list[Matcher] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[Route] = Field(default_factory=list)


class MaintenanceWindow(Model):
    """A recurring period that mutes notifications and is kept out of baseline training."""

    name: str = Field(min_length=1)
    cron: str
    duration: Duration = Field(gt=0)
    matchers: list[Matcher] = Field(default_factory=list)
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        parse_cron(value)  # a ValueError naming the field count, or the bad field and its range
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
        return value


def _namespaced(value: str) -> str:
    parts = value.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"expected namespace/name, got {value!r}")
    return value


NamespacedName = Annotated[str, AfterValidator(_namespaced)]


class ScaleAction(Model):
    deployment: NamespacedName
    step: int | None = Field(default=None, gt=0)
    factor: float | None = Field(default=None, gt=1)
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(gt=0)

    @model_validator(mode="after")
    def _amount(self) -> ScaleAction:
        if self.step is None and self.factor is None:
            raise ValueError("give `step` (replicas to add) or `factor` (e.g. 1.5)")
        _one_of(self, "step", "factor")
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})")
        return self


class RouteAction(Model):
    httproute: NamespacedName
    rule: int = Field(default=0, ge=0)
    backend: str
    weight: int = Field(default=100, ge=0, le=100)  # percent of traffic to `backend`


class ConfigMapAction(Model):
    configmap: NamespacedName
    key: str
    value: str
    restart: NamespacedName | None = None


class MaxActions(Model):
    count: int = Field(default=3, gt=0, le=10_000)
    per: Duration = Field(default=3600.0, gt=0)


class Verify(Model):
    within: Duration = Field(default=600.0, gt=0)


class CircuitBreaker(Model):
    after_ineffective: int = Field(default=2, gt=0)


class Budget(Model):
    """Automatic actions across episodes; once spent, each further action asks for approval.

    Per-window limits let a flapping alert ratchet a target step by step; these do not. Two
    actions per incident chain show whether acting helps, four a day are two incidents' worth.
    """

    chain_gap: Duration = Field(default=3600.0, gt=0)
    """Episodes of one alert less than this apart (resolution to next firing) are one incident."""
    max_per_chain: int = Field(default=2, le=10_000)
    max_per_day: int = Field(default=4, le=10_000)

    @field_validator("max_per_chain", "max_per_day")
    @classmethod
    def _some(cls, value: int) -> int:
        if value < 1:
            raise ValueError(
                f"must be at least 1, got {value} (to approve every action, use `mode: approve`)"
            )
        return value


class Policy(Model):
    """A remediation policy; deny-by-default (``dry-run`` unless the user says otherwise)."""

    name: str = Field(min_length=1)
    mode: Literal["off", "dry-run", "approve", "auto"] = "dry-run"
    scale: ScaleAction | None = None
    route: RouteAction | None = None
    configmap: ConfigMapAction | None = None
    cooldown: Duration = 600.0
    min_firing: Duration = 0.0
    max_actions: MaxActions = Field(default_factory=MaxActions)
    verify: Verify = Field(default_factory=Verify)
    circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker)
    budget: Budget = Field(default_factory=Budget)
    revert_on_resolve: bool = False
    approval_expiry: Duration = Field(default=1800.0, gt=0)

    @model_validator(mode="after")
    def _action(self) -> Policy:
        _one_of(self, "scale", "route", "configmap")
        return self


class KubernetesConfig(Model):
    in_cluster: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    connect_timeout: Duration = Field(default=5.0, gt=0)
    """Per API request: to open the connection."""
    read_timeout: Duration = Field(default=10.0, gt=0)
    """Per API request: for the answer; a stalled API server otherwise holds remediation forever."""


class LeaseConfig(Model):
    namespace: str = "alerter"
    name: str = "alerter-remediation"
    duration: Duration = Field(default=15.0, gt=0)


class RemediationConfig(Model):
    paused: bool = False
    max_concurrent: int = Field(default=1, gt=0)
    allow_namespaces: list[str] = Field(default_factory=list)
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    lease: LeaseConfig = Field(default_factory=LeaseConfig)


class ClusterConfig(Model):
    """Several replicas sharing the rule groups (``cluster.membership``, ``cluster.sharding``).

    Off by default: one replica owns every group and needs no Kubernetes. On, each replica holds
    the Lease ``<name>-member-<replica id>`` in ``namespace``, renews it every ``renew_period``
    and evaluates, notifies and remediates only the groups rendezvous hashing gives it over the
    live members. Read at start: a reload does not change them.
    """

    enabled: bool = False
    name: str = Field(default="alerter", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    """Names the member Leases and their ``alerter.io/member-of`` label: two deployments in one
    namespace with different names do not share groups."""
    namespace: str = "alerter"
    replica_id: str | None = None
    """This replica's id; unset, it is read from ``replica_id_env`` (the pod name), then the host name."""
    replica_id_env: str = "POD_NAME"
    lease_duration: Duration = Field(default=15.0, gt=0)
    """A replica whose Lease has not changed for this long is gone and its groups move."""
    renew_period: Duration = Field(default=5.0, gt=0)
    """How often the member Lease is renewed and ownership re-read."""
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)

    @model_validator(mode="after")
    def _periods(self) -> ClusterConfig:
        if self.renew_period * 3 > self.lease_duration:
            raise ValueError(
                f"renew_period ({self.renew_period:g}s) must be at most a third of lease_duration "
                f"({self.lease_duration:g}s): a replica stops acting when it has not renewed for two "
                "thirds of the duration, and must get at least two tries in that time"
            )
        return self

    def identity(self) -> str:
        """This replica's id: ``replica_id``, else ``$replica_id_env``, else the host name."""
        return self.replica_id or os.environ.get(self.replica_id_env) or socket.gethostname()


class ServerToken(Model):
    """One bearer token of the HTTP API and who holds it.

    ``name`` is what the engine records instead of trusting the request (a silence's author), so
    it is a name people recognise: a person, a team, or the tool that holds the token.
    """

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    token_env: str | None = None
    token_file: str | None = None
    scope: Literal["read", "write"] = "write"
    """``write`` may create and expire silences and reload; ``read`` only reads the JSON API."""

    @model_validator(mode="after")
    def _where(self) -> ServerToken:
        _one_of(self, "token_env", "token_file")
        return self


class ServerAuth(Model):
    """Bearer tokens for the HTTP API: always for writes, for reads too when ``protect_reads``.

    Probes (``/healthz``, ``/readyz``) and ``/metrics`` stay open for the kubelet and Prometheus;
    Slack's callback is authenticated by Slack's own signature.
    """

    tokens: list[ServerToken] = Field(min_length=1)
    protect_reads: bool = False

    @model_validator(mode="after")
    def _tokens(self) -> ServerAuth:
        names = [t.name for t in self.tokens]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"token names must be unique; used more than once: {', '.join(twice)}")
        readers = [t.name for t in self.tokens if t.scope == "read"]
        if readers and not self.protect_reads:
            raise ValueError(
                f"read-only token(s) {', '.join(readers)} grant nothing while reads are open "
                "(set `protect_reads: true`, or remove them)"
            )
        return self


class ServerTLS(Model):
    """HTTPS for the HTTP server; with ``client_ca_file`` every client must show a certificate it signed."""

    cert_file: str = Field(min_length=1)
    key_file: str = Field(min_length=1)
    client_ca_file: str | None = None


class ServerConfig(Model):
    listen: str = "127.0.0.1:9464"
    external_url: ServerUrl | None = None
    """Where a browser reaches this engine's HTTP API: the alert link in Slack messages, and
    ``externalURL`` / ``generatorURL`` in webhook bodies."""
    auth: ServerAuth | None = None
    tls: ServerTLS | None = None
    export_bands: bool = True
    """Whether ``/metrics`` carries every series' band and value (``alerter_baseline``,
    ``alerter_observed``) for the Grafana band panel; false keeps only the engine's own health
    metrics, for a replica whose Prometheus should not store a band per series."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(
                f"expected host:port (port 0 picks a free one), e.g. 0.0.0.0:9464, got {value!r}"
            )
        return value


class LoggingConfig(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class AppConfig(Model):
    """The whole of ``alerter.yaml``."""

    prometheus: PrometheusConfig
    rule_files: list[str] = Field(default_factory=list)
    external_labels: LabelMap = Field(default_factory=dict)
    """Labels naming this deployment (``cluster: prod-eu``), as Prometheus' ``global.external_labels``:
    templates read them as ``$externalLabels`` (Go) or ``external_labels`` (Jinja2)."""
    storage: StorageConfig = Field(default_factory=StorageConfig)
    receivers: list[Receiver] = Field(default_factory=list)
    route: Route | None = None
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    policies: list[Policy] = Field(default_factory=list)
    remediation: RemediationConfig = Field(default_factory=RemediationConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    grafana: GrafanaConfig | None = None
