"""Slack interactivity callbacks: verifying and reading button presses (approve / reject).

The HTTP server calls ``verify_signature`` on every request to its Slack endpoint, then
``parse_interaction``; remediation decides what the button means. Pure functions of the
request and ``now``: no Slack client is needed to check a callback.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qs

from alerter.core.errors import NotifyError
from alerter.notify.secret import Secret


class SignatureError(NotifyError):
    """A Slack interactivity callback failed verification; the request must be rejected."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def verify_signature(signing_secret: Secret, timestamp: str, body: bytes, signature: str, now: float) -> None:
    """Check Slack's ``v0`` request signature; raise ``SignatureError`` saying why it fails.

    The signed base string is ``v0:{timestamp}:{body}``, HMAC-SHA256 with the app's signing
    secret; timestamps more than five minutes from ``now`` are refused so a captured request
    cannot be replayed.
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        raise SignatureError(f"X-Slack-Request-Timestamp is not a unix time: {timestamp!r}") from None
    if abs(now - sent_at) > 300:
        raise SignatureError(f"request timestamp is {now - sent_at:.0f}s away from now (limit 300s): replay?")
    if not signature.startswith("v0="):
        raise SignatureError("X-Slack-Signature must start with 'v0='")
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret.reveal().encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("X-Slack-Signature does not match the body (wrong signing secret?)")


@dataclass(frozen=True)
class Interaction:
    """A button press from a Slack message (a ``block_actions`` callback), already verified."""

    action_id: str
    value: str
    user_id: str
    user_name: str
    channel: str
    message_ts: str
    response_url: str


def parse_interaction(body: bytes) -> Interaction:
    """Read the form-encoded ``payload`` of an interactivity callback; ValueError says what is wrong.

    Verify the signature over the same ``body`` with ``verify_signature`` first.
    """
    fields = parse_qs(body.decode(errors="replace"))
    if "payload" not in fields:
        raise ValueError("interaction body has no 'payload' form field")
    try:
        data = json.loads(fields["payload"][0])
    except json.JSONDecodeError as err:
        raise ValueError(f"interaction payload is not JSON: {err}") from None
    if not isinstance(data, dict) or data.get("type") != "block_actions":
        raise ValueError("only block_actions interactions (button presses) are supported")
    actions = data.get("actions") or []
    if not actions:
        raise ValueError("interaction has no action")
    user = data.get("user") or {}
    container = data.get("container") or {}
    return Interaction(
        action_id=str(actions[0].get("action_id", "")),
        value=str(actions[0].get("value", "")),
        user_id=str(user.get("id", "")),
        user_name=str(user.get("username") or user.get("name") or ""),
        channel=str(container.get("channel_id") or (data.get("channel") or {}).get("id", "")),
        message_ts=str(container.get("message_ts", "")),
        response_url=str(data.get("response_url", "")),
    )
