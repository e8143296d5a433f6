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
``parse_interaction``. Names are resolved lazily at run time, so importing this package or a
small module of it (``alerter.notify.mute`` for maintenance windows in baseline training) does not
pull in slack-sdk or matplotlib. Type checkers see the same names as plain imports, so every
exported name keeps its real type; ``_EXPORTS`` and those imports list the same names (a test
holds them together).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__all__ = [
    "Button",
    "FlushReport",
    "Interaction",
    "Notification",
    "Notifier",
    "NotifyReason",
    "Payload",
    "PayloadKind",
    "Pipeline",
    "RenderContext",
    "RetryPolicy",
    "RuleInfo",
    "Secret",
    "SignatureError",
    "Silence",
    "SilenceError",
    "Silences",
    "Window",
    "chart_provider",
    "maintenance_exclusions",
    "note_message",
    "notifiers_from_config",
    "parse_interaction",
    "pipeline_from_config",
    "render_chart",
    "reply_privately",
    "signing_secrets",
    "verify_signature",
]

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
    "reply_privately": "slack.client",
    "signing_secrets": "wiring",
    "verify_signature": "slack.interactivity",
}
"""Where each exported name lives, for resolving it on first use."""

if TYPE_CHECKING:
    from alerter.notify.base import Notification, Notifier, NotifyReason, Payload, PayloadKind
    from alerter.notify.mute import Silence, SilenceError, Silences, Window, maintenance_exclusions
    from alerter.notify.outbox import RetryPolicy
    from alerter.notify.pipeline import FlushReport, Pipeline
    from alerter.notify.secret import Secret
    from alerter.notify.slack.blocks import Button, RenderContext, RuleInfo, note_message
    from alerter.notify.slack.chart import chart_provider, render_chart
    from alerter.notify.slack.client import reply_privately
    from alerter.notify.slack.interactivity import (
        Interaction,
        SignatureError,
        parse_interaction,
        verify_signature,
    )
    from alerter.notify.wiring import notifiers_from_config, pipeline_from_config, signing_secrets
else:
    # Hidden from type checkers: they resolve the imports above, and an unknown name stays an error.
    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'alerter.notify' has no attribute {name!r}")
        return getattr(importlib.import_module(f"alerter.notify.{module}"), name)


def __dir__() -> list[str]:
    return __all__
