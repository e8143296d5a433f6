"""The public surface of alerter.notify is pinned: changing it is a deliberate act."""

from __future__ import annotations

import subprocess
import sys

import pytest

import alerter.notify as notify

PUBLIC = [
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


def test_public_names_are_pinned_and_resolve() -> None:
    assert notify.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(notify, name).__name__ == name


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = notify.Nope


def test_importing_the_maintenance_module_stays_light() -> None:
    code = "import sys, alerter.notify.mute; print('slack_sdk' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
