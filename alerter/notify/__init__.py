"""Notifications: route → group → mute → dedup → outbox → Slack, Alertmanager, webhooks.

The composition root builds everything with ``wiring`` and then only talks to ``Pipeline``::

    notifiers = notifiers_from_config(config.receivers, context=RenderContext(chart=...))
    pipeline = pipeline_from_config(config, store, notifiers)
    pipeline.ingest(alerts, now)          # each evaluation tick: firing and resolved alerts
    pipeline.flush(now)                   # every few seconds, from the scheduler
    pipeline.note(fingerprint, note_message(text, buttons), now)   # remediation decisions
    pipeline.silences.add([...], ends_at=..., now=...)             # CLI and HTTP API
    maintenance_exclusions(pipeline.windows)   # periods the baseline cache keeps out of training

The HTTP server verifies Slack button callbacks with ``verify_signature`` and reads them with
``parse_interaction``. Names are resolved lazily, so importing a small module of this package
(``alerter.notify.cron`` for maintenance windows in baseline training) does not pull in
slack-sdk or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Button": "slack.blocks",
    "FlushReport": "pipeline",
    "Interaction": "slack.interactivity",
    "Notification": "base",
    "Notifier": "base",
    "NotifyReason": "base",
    "Payload": "base",
    "PayloadKind": "base",
    "Pipeline": "pipeline",
    "RenderContext": "slack.blocks",
    "RetryPolicy": "outbox",
    "RuleInfo": "slack.blocks",
    "Secret": "secret",
    "SignatureError": "slack.interactivity",
    "Silence": "mute",
    "SilenceError": "mute",
    "Silences": "mute",
    "Window": "mute",
    "chart_provider": "slack.chart",
    "maintenance_exclusions": "mute",
    "note_message": "slack.blocks",
    "notifiers_from_config": "wiring",
    "parse_interaction": "slack.interactivity",
    "pipeline_from_config": "wiring",
    "render_chart": "slack.chart",
    "signing_secrets": "wiring",
    "verify_signature": "slack.interactivity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'alerter.notify' has no attribute {name!r}")
    return getattr(importlib.import_module(f"alerter.notify.{module}"), name)


def __dir__() -> list[str]:
    return __all__
