"""The Slack receiver: the only module that imports slack-sdk.

Two modes. Bot-token mode (``WebClient``) posts one message per alert group, uploads its chart
into the thread (``files_upload_v2``), replies in the thread on updates and edits the original on
resolution; every message carries the outbox key as message metadata so ``recover`` can tell
after a crash whether an interrupted post arrived. Incoming-webhook mode (``WebhookClient``)
can only post, so every payload becomes a new message. The pipeline's outbox calls ``deliver``;
no call here retries or sleeps: failures become ``NotifyError`` with ``retryable`` and
``retry_after`` (Slack's 429 ``Retry-After``) and the outbox schedules the next attempt.
``verify_signature`` checks Slack interactivity callbacks (approval buttons).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.error import URLError
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook import WebhookClient

from alerter.errors import NotifyError
from alerter.notify import blocks
from alerter.notify.base import Notification, Payload, PayloadKind
from alerter.notify.secret import Secret

_METADATA_TYPE = "alerter_notification"
_HINTS = {
    "channel_not_found": "the channel does not exist or the bot cannot see it; check the receiver's channel",
    "not_in_channel": "invite the bot to the channel (/invite @your-bot)",
    "is_archived": "the channel is archived; pick another channel",
    "invalid_auth": "the bot token is invalid; check token_env / token_file",
    "not_authed": "no bot token was sent; check token_env / token_file",
    "token_revoked": "the bot token was revoked; install the app again",
    "account_inactive": "the bot token belongs to a deactivated app or user",
    "missing_scope": "the Slack app needs the chat:write, files:write and channels:history scopes",
    "msg_too_long": "the message exceeds Slack's limits",
    "invalid_blocks": "Slack rejected the Block Kit layout",
}
_RETRYABLE = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
T = TypeVar("T")


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


class _Redacting(logging.Filter):
    """Masks secrets in slack-sdk's own log records (it logs webhook URLs at debug level)."""

    def __init__(self, secrets: list[Secret]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for secret in self._secrets:
            text = secret.redact(text)
        record.msg, record.args = text, None
        return True


class SlackNotifier:
    """One Slack receiver: a channel plus a bot token or an incoming-webhook URL."""

    coalesce = False
    resend_interval = None

    def __init__(
        self,
        name: str,
        channel: str,
        *,
        token: Secret | None = None,
        webhook_url: Secret | None = None,
        base_url: str = "https://slack.com/api/",
        timeout: float = 10.0,
        context: blocks.RenderContext | None = None,
    ) -> None:
        if (token is None) == (webhook_url is None):
            raise ValueError(f"slack receiver {name!r}: give exactly one of a bot token or a webhook URL")
        if token is not None and not channel:
            raise ValueError(f"slack receiver {name!r}: bot-token mode needs a channel")
        self.name = name
        self.channel = channel
        self.context = context or blocks.RenderContext()
        self._secrets = [s for s in (token, webhook_url) if s is not None]
        logger = logging.getLogger(f"alerter.notify.slack.{name}")
        logger.addFilter(_Redacting(self._secrets))
        self._web: WebClient | None = None
        self._hook: WebhookClient | None = None
        if token is not None:
            self._web = WebClient(
                token=token.reveal(),
                base_url=base_url,
                timeout=int(timeout),
                logger=logger,
                retry_handlers=[],
            )
        elif webhook_url is not None:
            self._hook = WebhookClient(
                webhook_url.reveal(), timeout=int(timeout), logger=logger, retry_handlers=[]
            )

    @property
    def threads(self) -> bool:
        return self._web is not None

    @property
    def burst_limit(self) -> int | None:
        return self.context.digest_threshold

    def __repr__(self) -> str:
        mode = "bot" if self._web is not None else "webhook"
        return f"SlackNotifier(name={self.name!r}, channel={self.channel!r}, mode={mode})"

    def render(self, notification: Notification) -> Payload:
        return blocks.render_payload(notification, self.context)

    def deliver(self, payload: Payload, key: str, thread: str | None) -> str | None:
        if self._web is None:
            self._send_webhook(payload.body)
            return None
        if payload.kind is PayloadKind.OPEN or thread is None:
            thread = self.post(payload.body, key=key)
            if payload.image is not None:
                self.upload(payload.image, f"{key}.png", thread_ts=thread)
            return thread
        self.post(payload.body, key=key, thread_ts=thread)
        if payload.edit is not None:
            self.update(thread, payload.edit)
        return thread

    def recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        if self._web is None:
            return False, thread
        opening = payload.kind is PayloadKind.OPEN or thread is None
        found = self.find(key) if opening else self.find(key, thread_ts=thread)
        if found is None:
            return False, thread
        if opening:
            if payload.image is not None and not self._has_file(found, f"{key}.png"):
                self.upload(payload.image, f"{key}.png", thread_ts=found)
            return True, found
        if payload.edit is not None and thread is not None:
            self.update(thread, payload.edit)
        return True, thread

    def post(self, body: Mapping[str, Any], *, key: str, thread_ts: str | None = None) -> str:
        """``chat.postMessage``; returns the message ``ts``."""
        web = self._require_web()
        metadata = {"event_type": _METADATA_TYPE, "event_payload": {"key": key}}
        response = self._call(
            "chat.postMessage",
            lambda: web.chat_postMessage(
                channel=self.channel, thread_ts=thread_ts, metadata=metadata, **body
            ),
        )
        self.channel = str(response.get("channel") or self.channel)
        return str(response["ts"])

    def update(self, ts: str, body: Mapping[str, Any]) -> None:
        """``chat.update`` of the message ``ts`` (resolution edits the original)."""
        web = self._require_web()
        self._call("chat.update", lambda: web.chat_update(channel=self.channel, ts=ts, **body))

    def upload(self, png: bytes, filename: str, *, thread_ts: str | None) -> None:
        """``files_upload_v2``: get an upload URL, upload, complete into the channel/thread."""
        web = self._require_web()
        self._call(
            "files_upload_v2",
            lambda: web.files_upload_v2(
                content=png, filename=filename, title="chart", channel=self.channel, thread_ts=thread_ts
            ),
        )

    def find(self, key: str, *, thread_ts: str | None = None) -> str | None:
        """The ``ts`` of the message carrying ``key`` in its metadata, among recent ones."""
        web = self._require_web()
        if thread_ts is None:
            response = self._call(
                "conversations.history",
                lambda: web.conversations_history(channel=self.channel, limit=200, include_all_metadata=True),
            )
        else:
            response = self._call(
                "conversations.replies",
                lambda: web.conversations_replies(
                    channel=self.channel, ts=thread_ts, limit=200, include_all_metadata=True
                ),
            )
        for message in response.get("messages") or []:
            meta = message.get("metadata") or {}
            if (
                meta.get("event_type") == _METADATA_TYPE
                and (meta.get("event_payload") or {}).get("key") == key
            ):
                return str(message["ts"])
        return None

    def _has_file(self, thread_ts: str, filename: str) -> bool:
        web = self._require_web()
        response = self._call(
            "conversations.replies", lambda: web.conversations_replies(channel=self.channel, ts=thread_ts)
        )
        names = (f.get("name") for m in response.get("messages") or [] for f in m.get("files") or [])
        return filename in names

    def _require_web(self) -> WebClient:
        if self._web is None:
            raise NotifyError(f"slack receiver {self.name}: needs a bot token for this call", retryable=False)
        return self._web

    def _call(self, method: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except SlackApiError as err:
            raise self._api_error(method, err) from None
        except (URLError, OSError, SlackRequestError) as err:
            reason = getattr(err, "reason", None) or type(err).__name__
            raise NotifyError(
                self._clean(f"{self._where(method)}: cannot reach Slack: {reason}"), retryable=True
            ) from None

    def _api_error(self, method: str, err: SlackApiError) -> NotifyError:
        status = err.response.status_code
        where = self._where(method)
        if status == 429:
            return NotifyError(
                f"{where}: rate limited by Slack",
                retryable=True,
                retry_after=_retry_after(err.response.headers),
            )
        if status >= 500 or status == 408:
            return NotifyError(f"{where}: Slack answered HTTP {status}", retryable=True)
        data = err.response.data if isinstance(err.response.data, dict) else {}
        code = str(data.get("error") or f"HTTP {status}")
        hint = _HINTS.get(code, "")
        text = f"{where}: Slack refused: {code}" + (f" ({hint})" if hint else "")
        return NotifyError(self._clean(text), retryable=code in _RETRYABLE)

    def _send_webhook(self, body: Mapping[str, Any]) -> None:
        assert self._hook is not None
        hook = self._hook
        where = f"slack receiver {self.name}: incoming webhook"
        try:
            response = hook.send_dict(dict(body))
        except (URLError, OSError) as err:
            reason = getattr(err, "reason", None) or type(err).__name__
            raise NotifyError(self._clean(f"{where}: cannot reach Slack: {reason}"), retryable=True) from None
        status = response.status_code
        if status == 200:
            return
        if status == 429:
            retry_after = _retry_after(response.headers)
            raise NotifyError(f"{where}: rate limited by Slack", retryable=True, retry_after=retry_after)
        if status >= 500:
            raise NotifyError(f"{where}: Slack answered HTTP {status}", retryable=True)
        hint = " (the webhook URL was revoked or is wrong)" if status in (403, 404, 410) else ""
        raise NotifyError(self._clean(f"{where}: Slack refused: {response.body}{hint}"), retryable=False)

    def _where(self, method: str) -> str:
        return f"slack receiver {self.name}: {method} to {self.channel}"

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = secret.redact(text)
        return text


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None
