"""Building the notification side from ``alerter.yaml``: receivers, routes, windows, pipeline.

Called by the composition root (``app.py``) at start-up and on reload. Secrets are read here,
once, from the ``*_env``/``*_file`` the config names; a missing one fails the start with the
receiver named. ``slack_api_url`` lets the demo point every Slack receiver at the local sink.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from alerter.config.engine import (
    AlertmanagerReceiver,
    AppConfig,
    MaintenanceWindow,
    Receiver,
    SlackReceiver,
    WebhookReceiver,
)
from alerter.config.engine import Route as RouteConfig
from alerter.core.model import Alert
from alerter.notify import http
from alerter.notify import route as routing
from alerter.notify.alertmanager import AlertmanagerNotifier
from alerter.notify.base import Notifier
from alerter.notify.mute import Silences, Window
from alerter.notify.outbox import RetryPolicy
from alerter.notify.pipeline import Pipeline
from alerter.notify.secret import Secret, load_secret
from alerter.notify.slack.actions import alert_buttons
from alerter.notify.slack.blocks import RenderContext
from alerter.notify.slack.client import SlackNotifier
from alerter.notify.webhook import WebhookNotifier
from alerter.store.sqlite import Store

SLACK_API = "https://slack.com/api/"


def notifiers_from_config(
    receivers: Sequence[Receiver],
    *,
    context: RenderContext | None = None,
    environ: Mapping[str, str] | None = None,
    slack_api_url: str = SLACK_API,
    external_url: str = "",
    generator_url: Callable[[Alert, float], str] | None = None,
) -> dict[str, Notifier]:
    """One notifier per receiver, secrets loaded."""
    out: dict[str, Notifier] = {}
    for receiver in receivers:
        if receiver.slack is not None:
            out[receiver.name] = _slack(receiver.name, receiver.slack, context, environ, slack_api_url)
        elif receiver.alertmanager is not None:
            out[receiver.name] = _alertmanager(receiver.name, receiver.alertmanager, environ, generator_url)
        elif receiver.webhook is not None:
            out[receiver.name] = _webhook(receiver.name, receiver.webhook, environ, external_url)
    return out


def _slack(
    name: str,
    slack: SlackReceiver,
    context: RenderContext | None,
    environ: Mapping[str, str] | None,
    api_url: str,
) -> SlackNotifier:
    where = f"receivers.{name}.slack"
    # Silence / Acknowledge buttons only where a press can arrive and be verified: a bot token
    # (webhook messages take no callbacks) and a signing secret for the interactivity endpoint.
    bot = bool(slack.token_env or slack.token_file)
    pressable = bot and bool(slack.signing_secret_env or slack.signing_secret_file)
    ctx = RenderContext(
        **{
            **(context or RenderContext()).__dict__,
            "digest_threshold": slack.digest_threshold,
            "buttons": alert_buttons if pressable else None,
        }
    )
    token = webhook = None
    if slack.token_env or slack.token_file:
        token = load_secret(f"{where}.token", env=slack.token_env, file=slack.token_file, environ=environ)
    else:
        webhook = load_secret(
            f"{where}.webhook_url", env=slack.webhook_url_env, file=slack.webhook_url_file, environ=environ
        )
    return SlackNotifier(
        name, slack.channel or "", token=token, webhook_url=webhook, base_url=api_url, context=ctx
    )


def _alertmanager(
    name: str,
    am: AlertmanagerReceiver,
    environ: Mapping[str, str] | None,
    generator_url: Callable[[Alert, float], str] | None,
) -> AlertmanagerNotifier:
    where = f"receivers.{name}.alertmanager"
    authorization = None
    if am.bearer_token_env or am.bearer_token_file:
        token = load_secret(
            f"{where}.bearer_token", env=am.bearer_token_env, file=am.bearer_token_file, environ=environ
        )
        authorization = http.bearer(token)
    elif am.basic_auth is not None:
        auth = am.basic_auth
        password = load_secret(
            f"{where}.basic_auth.password", env=auth.password_env, file=auth.password_file, environ=environ
        )
        authorization = http.basic(auth.username, password)
    context = http.client_context(
        where,
        ca_file=am.ca_file,
        cert_file=am.cert_file,
        key_file=am.key_file,
        insecure_skip_verify=am.insecure_skip_verify,
    )
    return AlertmanagerNotifier(
        name,
        am.url,
        timeout=am.timeout,
        resend_interval=am.resend_interval,
        generator_url=generator_url,
        authorization=authorization,
        context=context,
    )


def _webhook(
    name: str, hook: WebhookReceiver, environ: Mapping[str, str] | None, external_url: str
) -> WebhookNotifier:
    where = f"receivers.{name}.webhook"
    url: str | Secret = hook.url or load_secret(
        f"{where}.url", env=hook.url_env, file=hook.url_file, environ=environ
    )
    secret = None
    if hook.hmac_secret_env or hook.hmac_secret_file:
        secret = load_secret(
            f"{where}.hmac_secret", env=hook.hmac_secret_env, file=hook.hmac_secret_file, environ=environ
        )
    return WebhookNotifier(name, url, hmac_secret=secret, timeout=hook.timeout, external_url=external_url)


def signing_secrets(
    receivers: Sequence[Receiver], *, environ: Mapping[str, str] | None = None
) -> dict[str, Secret]:
    """Slack signing secrets by receiver name, for verifying interactivity callbacks."""
    out = {}
    for receiver in receivers:
        slack = receiver.slack
        if slack is not None and (slack.signing_secret_env or slack.signing_secret_file):
            out[receiver.name] = load_secret(
                f"receivers.{receiver.name}.slack.signing_secret",
                env=slack.signing_secret_env,
                file=slack.signing_secret_file,
                environ=environ,
            )
    return out


def windows_from_config(windows: Sequence[MaintenanceWindow]) -> list[Window]:
    return [Window.build(w.name, w.cron, w.duration, w.matchers, w.timezone) for w in windows]


def pipeline_from_config(
    config: AppConfig,
    store: Store,
    notifiers: Mapping[str, Notifier],
    *,
    retry: RetryPolicy | None = None,
    replica: str = "",
    owns: Callable[[str, float], bool] | None = None,
) -> Pipeline:
    """The pipeline for ``config``; without a ``route`` every alert goes to the first receiver.

    ``replica`` and ``owns``: with several replicas, this one's name and which notification
    groups it decides and sends (see ``Pipeline``)."""
    if not notifiers:
        raise ValueError("no receivers configured: add one under `receivers` to send notifications")
    route_config = config.route or RouteConfig(receiver=next(iter(notifiers)), group_by=["alertname"])
    root = routing.build(route_config, known_receivers=list(notifiers))
    return Pipeline(
        store,
        root,
        notifiers,
        silences=Silences(store),
        windows=windows_from_config(config.maintenance),
        retry=retry,
        replica=replica,
        owns=owns,
    )
