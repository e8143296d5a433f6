"""The Slack receiver: the only module that imports slack-sdk.

Two modes. Bot-token mode (``WebClient``) posts one message per alert group, uploads its chart
into the thread (``files_upload_v2``), replies in the thread on updates and edits the original on
resolution; every message carries the outbox key as message metadata so ``recover`` can tell
after a crash whether an interrupted post arrived. Incoming-webhook mode (``WebhookClient``)
can only post, so every payload becomes a new message. The pipeline's outbox calls ``deliver``;
no call here retries or sleeps: failures become ``NotifyError`` with ``retryable`` and
``retry_after`` (Slack's 429 ``Retry-After``) and the outbox schedules the next attempt.
Interactivity callbacks (approval buttons) are checked in ``interactivity.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook import WebhookClient

from alerter.core.errors import NotifyError
from alerter.notify.base import Notification, Payload, PayloadKind
from alerter.notify.secret import Secret
from alerter.notify.slack import blocks

_METADATA_TYPE = "alerter_notification"
_HINTS = {
    "channel_not_found": "the channel does not exist or the bot cannot see it; check the receiver's channel",
    "not_in_channel": "invite the bot to the channel (/invite @your-bot)",
    "is_archived": "the channel is archived; pick another channel",
    "invalid_auth": "the bot token is invalid; check token_env / token_file",
    "not_authed": "no bot token was sent; check token_env / token_file",
    "token_revoked": "the bot token was revoked; install the app again",
    "account_inactive": "the bot token belongs to a deactivated app or user",
    "missing_scope": "the Slack app needs chat:write, files:write, channels:history and channels:read",
    "msg_too_long": "the message exceeds Slack's limits",
    "invalid_blocks": "Slack rejected the Block Kit layout",
}
_RETRYABLE = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
T = TypeVar("T")
log = logging.getLogger(__name__)


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
        self._channel_id: str | None = channel if _CHANNEL_ID.match(channel) else None
        self.context = context or blocks.RenderContext()
        self._secrets = [s for s in (token, webhook_url) if s is not None]
        logger = logging.getLogger(f"alerter.notify.slack.client.{name}")
        for stale in [f for f in logger.filters if isinstance(f, _Redacting)]:
            logger.removeFilter(stale)  # a reload builds the receiver again: one filter, current secrets
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

    def deliver(self, payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        """Post (opening a thread, chart inside) or reply and edit; returns ``"<channel id>/<ts>"``."""
        if self._web is None:
            self._send_webhook(payload.body)
            return None
        if payload.kind is PayloadKind.OPEN or thread is None:
            ts = self.post(payload.body, key=key)
            if payload.image is not None:
                self._extra(
                    "chart upload", lambda: self.upload(payload.image or b"", f"{key}.png", thread_ts=ts)
                )
            return f"{self._resolve_channel()}/{ts}"
        channel, ts = _split(thread, self.channel)
        self.post(payload.body, key=key, thread_ts=ts, channel=channel)
        if payload.edit is not None:
            edit = payload.edit
            self._extra("edit of the first message", lambda: self.update(ts, edit, channel=channel))
        return thread

    def _extra(self, what: str, call: Callable[[], None]) -> None:
        """The chart and the edit follow a message that already went out: when Slack refuses them
        for good (no files:write scope, the original was deleted) the message still counts as
        delivered; a retryable failure is raised so the entry is recovered and completed later."""
        try:
            call()
        except NotifyError as err:
            if err.retryable:
                raise
            log.warning("slack receiver %s: %s skipped: %s", self.name, what, err)

    def recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        """Look for ``key`` in the channel (or thread); finish the chart or edit it was sent with.

        When Slack cannot be asked (no ``channels:read`` scope to turn a channel name into an
        ID, history not readable) the entry is sent again: a possible duplicate, never a loss.
        """
        if self._web is None:
            return False, thread
        try:
            return self._recover(payload, key, thread)
        except NotifyError as err:
            if err.retryable:
                raise
            log.warning(
                "slack receiver %s: cannot check whether %s arrived, sending again: %s", self.name, key, err
            )
            return False, thread

    def _recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        if payload.kind is PayloadKind.OPEN or thread is None:
            channel = self._resolve_channel()
            found = self.find(key, channel=channel)
            if found is None:
                return False, thread
            if payload.image is not None and not self._has_file(channel, found, f"{key}.png"):
                self.upload(payload.image, f"{key}.png", thread_ts=found)
            return True, f"{channel}/{found}"
        channel, ts = _split(thread, self.channel)
        if self.find(key, channel=channel, thread_ts=ts) is None:
            return False, thread
        if payload.edit is not None:
            self.update(ts, payload.edit, channel=channel)
        return True, thread

    def post(
        self, body: Mapping[str, Any], *, key: str, thread_ts: str | None = None, channel: str | None = None
    ) -> str:
        """``chat.postMessage`` to ``channel`` (default: the receiver's); returns the message ``ts``."""
        web = self._require_web()
        metadata = {"event_type": _METADATA_TYPE, "event_payload": {"key": key}}
        target = channel or self._channel_id or self.channel
        response = self._call(
            "chat.postMessage",
            lambda: web.chat_postMessage(channel=target, thread_ts=thread_ts, metadata=metadata, **body),
        )
        if channel is None and response.get("channel"):
            self._channel_id = str(response["channel"])
        return str(response["ts"])

    def update(self, ts: str, body: Mapping[str, Any], *, channel: str | None = None) -> None:
        """``chat.update`` of the message ``ts`` (resolution edits the original)."""
        web = self._require_web()
        target = channel or self._resolve_channel()
        self._call("chat.update", lambda: web.chat_update(channel=target, ts=ts, **body))

    def upload(self, png: bytes, filename: str, *, thread_ts: str | None) -> None:
        """``files_upload_v2``: get an upload URL, upload, complete into the channel/thread."""
        web = self._require_web()
        target = self._resolve_channel()
        self._call(
            "files_upload_v2",
            lambda: web.files_upload_v2(
                content=png, filename=filename, title="chart", channel=target, thread_ts=thread_ts
            ),
        )

    def find(self, key: str, *, channel: str, thread_ts: str | None = None) -> str | None:
        """The ``ts`` of the message carrying ``key`` in its metadata, among the recent ones."""
        web = self._require_web()
        if thread_ts is None:
            response = self._call(
                "conversations.history",
                lambda: web.conversations_history(channel=channel, limit=200, include_all_metadata=True),
            )
        else:
            response = self._call(
                "conversations.replies",
                lambda: web.conversations_replies(
                    channel=channel, ts=thread_ts, limit=200, include_all_metadata=True
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

    def _resolve_channel(self) -> str:
        """The channel's ID, which history, update and uploads require (names only work for posts)."""
        if self._channel_id is not None:
            return self._channel_id
        web = self._require_web()
        name, cursor = self.channel.lstrip("#"), ""
        for _ in range(100):
            page = self._call(
                "conversations.list",
                lambda c=cursor: web.conversations_list(  # type: ignore[misc]
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=1000,
                    cursor=c or None,
                ),
            )
            for found in page.get("channels") or []:
                if found.get("name") == name:
                    self._channel_id = str(found["id"])
                    return self._channel_id
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        raise NotifyError(
            f"{self._where('conversations.list')}: no channel named {name!r} visible to the bot "
            "(configure the channel ID, e.g. C0123456789, or invite the bot)",
            retryable=False,
        )

    def _has_file(self, channel: str, thread_ts: str, filename: str) -> bool:
        web = self._require_web()
        response = self._call(
            "conversations.replies", lambda: web.conversations_replies(channel=channel, ts=thread_ts)
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


RESPONSE_URL_PREFIX = "https://hooks.slack.com/"
"""Where Slack's ``response_url`` of an interaction points; a reply goes nowhere else."""


def reply_privately(
    response_url: str,
    text: str,
    *,
    allowed: tuple[str, ...] = (RESPONSE_URL_PREFIX,),
    timeout: float = 5.0,
) -> None:
    """Tell the person who pressed a button something only they see, through ``response_url``.

    Slack's interaction payload carries a ``response_url``; a message posted to it with
    ``response_type: ephemeral`` and ``replace_original: false`` appears to the clicking user only
    and leaves the original message alone (https://api.slack.com/interactivity/handling, "Message
    responses"; usable a few times within 30 minutes). Only URLs under ``allowed`` are called: the
    payload is signed, but a reply must never be a way to make the engine call other hosts.
    Raises NotifyError when the URL is refused or Slack does not take the reply.
    """
    if not any(response_url.startswith(prefix) for prefix in allowed):
        raise NotifyError(f"response_url is not a Slack URL: {response_url[:40]!r}", retryable=False)
    client = WebhookClient(response_url, timeout=max(1, round(timeout)))
    try:
        response = client.send(text=blocks.escape(text), response_type="ephemeral", replace_original=False)
    except (URLError, OSError) as exc:
        raise NotifyError(f"reply to the button press failed: {exc}", retryable=True) from exc
    # Slack answers ``ok`` as text, or JSON {"ok": false, "error": "expired_url"} for a URL used
    # up or past its 30 minutes.
    if response.status_code != 200 or '"ok":false' in response.body.replace(" ", ""):
        raise NotifyError(
            f"Slack refused the reply to the button press: {response.status_code} {response.body[:200]}",
            retryable=False,
        )


def _split(thread: str, default_channel: str) -> tuple[str, str]:
    """``"<channel id>/<ts>"`` into its parts (a bare ts belongs to the receiver's channel)."""
    channel, _, ts = thread.rpartition("/")
    return channel or default_channel, ts


def _retry_after(headers: Mapping[str, Any]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None
