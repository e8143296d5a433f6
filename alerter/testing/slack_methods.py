"""The Slack Web API methods as the local sink answers them, and the sink's recorded state.

Split from ``slack_sink.py`` (the server, fault injection and the command) so each stays
small; only the sink uses this module.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Fault:
    """One scripted failure: the next ``times`` calls of ``method`` get this answer."""

    method: str
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    times: int = 1


@dataclass(frozen=True)
class Received:
    """One request as the sink saw it: method (``chat.postMessage``, ``webhook``, ``upload``...)."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    answered: int


@dataclass
class SinkState:
    token: str
    channels: dict[str, str]
    out_dir: Path | None
    echo: Callable[[str], None] | None
    requests: list[Received] = field(default_factory=list)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    holds: dict[str, threading.Event] = field(default_factory=dict)
    down: bool = False
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


_JSON = {"Content-Type": "application/json; charset=utf-8"}


def json_answer(payload: dict[str, Any], status: int = 200, **headers: str) -> Answer:
    return status, {**_JSON, **headers}, json.dumps(payload).encode()


def _next_ts(state: SinkState) -> str:
    return f"1700000000.{next(state.counter):06d}"


def _channel(state: SinkState, name: str | None) -> str | None:
    """A channel ID from an ID or, as chat.postMessage allows, a name."""
    if name in state.channels.values():
        return name
    return state.channels.get(name or "")


def _channel_id(state: SinkState, given: str | None) -> str | None:
    """Only an ID: history, replies, update and uploads refuse names, as Slack does."""
    return given if given in state.channels.values() else None


def webhook(state: SinkState, params: dict[str, Any]) -> Answer:
    message = {"ts": _next_ts(state), "text": params.get("text", ""), "blocks": params.get("blocks")}
    message["attachments"] = params.get("attachments")
    with state.lock:
        state.messages.setdefault("webhook", []).append(message)
    echo(state, "webhook", message)
    return 200, {"Content-Type": "text/plain"}, b"ok"


def _decoded(value: Any) -> Any:
    """``blocks`` / ``attachments`` arrive as JSON values, or as JSON text in a form-encoded call."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def all_blocks(message: dict[str, Any]) -> list[tuple[int | None, dict[str, Any]]]:
    """(attachment number or None, block) for the blocks of a message and of its attachments."""
    out: list[tuple[int | None, dict[str, Any]]] = [(None, b) for b in _decoded(message.get("blocks")) or []]
    for number, attachment in enumerate(_decoded(message.get("attachments")) or [], start=1):
        out += [(number, b) for b in (attachment or {}).get("blocks") or []]
    return out


def block_problem(params: dict[str, Any]) -> str | None:
    """Why Slack would answer ``invalid_blocks`` for the actions blocks of a message, or None.

    The limits Slack enforces on what alerter sends: at most 25 elements in an actions block
    (https://api.slack.com/reference/block-kit/blocks, Actions block); a button's text at most 75
    characters, its ``action_id`` at most 255, its ``value`` at most 2000, and an ``action_id``
    "unique among all other action_ids in the containing block"
    (https://docs.slack.dev/reference/block-kit/block-elements/button-element); ``style`` only
    ``primary`` or ``danger``.
    """
    for _, block in all_blocks(params):
        if block.get("type") != "actions":
            continue
        elements = block.get("elements") or []
        if not elements or len(elements) > 25:
            return f"actions block with {len(elements)} elements (1 to 25)"
        ids = [e.get("action_id") for e in elements if e.get("action_id")]
        if len(ids) != len(set(ids)):
            return "duplicate action_id in one actions block"
        for element in elements:
            if element.get("type") != "button":
                continue
            text = (element.get("text") or {}).get("text", "")
            if not 0 < len(text) <= 75 or len(str(element.get("action_id", ""))) > 255:
                return "button text must be 1-75 characters and action_id at most 255"
            if len(str(element.get("value", ""))) > 2000:
                return "button value longer than 2000 characters"
            if element.get("style") not in (None, "primary", "danger"):
                return f"button style {element.get('style')!r}"
    return None


def _post_message(state: SinkState, params: dict[str, Any]) -> Answer:
    channel = _channel(state, params.get("channel"))
    if channel is None:
        return json_answer({"ok": False, "error": "channel_not_found"})
    if not params.get("text") and not params.get("blocks") and not params.get("attachments"):
        return json_answer({"ok": False, "error": "no_text"})
    if block_problem(params) is not None:
        return json_answer({"ok": False, "error": "invalid_blocks"})
    message = {k: params.get(k) for k in ("text", "blocks", "attachments", "thread_ts", "metadata")}
    message["ts"] = _next_ts(state)
    with state.lock:
        state.messages.setdefault(channel, []).append(message)
    echo(state, channel, message)
    return json_answer({"ok": True, "channel": channel, "ts": message["ts"], "message": message})


def _update(state: SinkState, params: dict[str, Any]) -> Answer:
    channel = _channel_id(state, params.get("channel"))
    if channel is None:
        return json_answer({"ok": False, "error": "channel_not_found"})
    if block_problem(params) is not None:
        return json_answer({"ok": False, "error": "invalid_blocks"})
    with state.lock:
        for message in state.messages.get(channel, []):
            if message["ts"] == params.get("ts"):
                for key in ("text", "blocks", "attachments"):
                    if key in params:
                        message[key] = params[key]
                message["edited"] = True
                updated = dict(message)
                break
        else:
            return json_answer({"ok": False, "error": "message_not_found"})
    echo(state, channel, updated)
    return json_answer({"ok": True, "channel": channel, "ts": params["ts"], "text": updated.get("text")})


def _get_upload_url(state: SinkState, params: dict[str, Any]) -> Answer:
    if not params.get("filename") or not str(params.get("length", "")).isdigit():
        return json_answer({"ok": False, "error": "invalid_arguments"})
    file_id = f"F{next(state.counter):06d}"
    with state.lock:
        state.uploads[file_id] = {"name": params["filename"], "length": int(params["length"]), "data": None}
    return json_answer({"ok": True, "file_id": file_id, "upload_url": f"{state.base}/upload/{file_id}"})


def _upload(state: SinkState, params: dict[str, Any]) -> Answer:
    with state.lock:
        upload = state.uploads.get(params["file_id"])
        if upload is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        upload["data"] = params["data"]
    return 200, {"Content-Type": "text/plain"}, f"OK - {len(params['data'])}".encode()


def _complete_upload(state: SinkState, params: dict[str, Any]) -> Answer:
    files = json.loads(params.get("files", "[]"))
    channel = _channel_id(state, params.get("channel_id"))
    if params.get("channel_id") and channel is None:
        return json_answer({"ok": False, "error": "channel_not_found"})
    shared = []
    with state.lock:
        for item in files:
            upload = state.uploads.get(item["id"])
            if upload is None or upload["data"] is None:
                return json_answer({"ok": False, "error": "file_not_found"})
            upload["title"] = item.get("title")
            shared.append({"id": item["id"], "name": upload["name"], "title": item.get("title")})
    if channel is not None:
        message = {"ts": _next_ts(state), "text": "", "files": shared, "thread_ts": params.get("thread_ts")}
        with state.lock:
            state.messages.setdefault(channel, []).append(message)
        _save_files(state, shared)
        echo(state, channel, message)
    return json_answer({"ok": True, "files": shared})


def _history(state: SinkState, params: dict[str, Any]) -> Answer:
    channel = _channel_id(state, params.get("channel"))
    if channel is None:
        return json_answer({"ok": False, "error": "channel_not_found"})
    with state.lock:
        top = [dict(m) for m in state.messages.get(channel, []) if not m.get("thread_ts")]
    limit = int(params.get("limit", 100))
    return json_answer({"ok": True, "messages": list(reversed(top))[:limit], "has_more": len(top) > limit})


def _replies(state: SinkState, params: dict[str, Any]) -> Answer:
    channel = _channel_id(state, params.get("channel"))
    if channel is None:
        return json_answer({"ok": False, "error": "channel_not_found"})
    ts = params.get("ts")
    with state.lock:
        thread = [dict(m) for m in state.messages.get(channel, []) if ts in (m["ts"], m.get("thread_ts"))]
    if not thread:
        return json_answer({"ok": False, "error": "thread_not_found"})
    return json_answer({"ok": True, "messages": thread, "has_more": False})


def _list(state: SinkState, params: dict[str, Any]) -> Answer:
    """One channel per page, so clients must follow ``next_cursor`` as with a large workspace."""
    names = sorted(state.channels.items(), key=lambda item: item[1])
    start = int(params.get("cursor") or 0)
    page = [{"id": cid, "name": name.lstrip("#")} for name, cid in names[start : start + 1]]
    more = start + 1 < len(names)
    return json_answer(
        {"ok": True, "channels": page, "response_metadata": {"next_cursor": str(start + 1) if more else ""}}
    )


METHODS: dict[str, Callable[[SinkState, dict[str, Any]], Answer]] = {
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "files.getUploadURLExternal": _get_upload_url,
    "upload": _upload,
    "files.completeUploadExternal": _complete_upload,
    "conversations.history": _history,
    "conversations.replies": _replies,
    "conversations.list": _list,
}


def _save_files(state: SinkState, shared: list[dict[str, Any]]) -> None:
    if state.out_dir is None:
        return
    state.out_dir.mkdir(parents=True, exist_ok=True)
    for item in shared:
        data = state.uploads[item["id"]]["data"]
        (state.out_dir / f"{item['id']}-{Path(item['name']).name}").write_bytes(data)


def echo(state: SinkState, channel: str, message: dict[str, Any]) -> None:
    if state.echo is None:
        return
    summary = {k: v for k, v in message.items() if v not in (None, "", [])}
    state.echo(f"[{channel}] " + json.dumps(summary, sort_keys=True))


def press_payload(
    state: SinkState,
    channel: str,
    ts: str,
    action_id: str,
    value: str | None,
    user: tuple[str, str],
    at: float,
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when ``user`` (id, name) presses a button.

    Fields as https://docs.slack.dev/reference/interaction-payloads/block_actions-payload lists
    them: ``user``, ``team``, ``container`` (``message``, or ``message_attachment`` with its
    ``attachment_id`` for a button in an attachment's blocks, as HubSpot/slack-client's
    ``MessageAttachmentContainerIF`` reads it), ``channel``, the ``message`` as it is now, a
    ``response_url``, and ``actions`` with the pressed button's ``action_id``, ``block_id``
    (Slack makes one up when the block has none), ``value``, ``text`` and ``action_ts``.
    LookupError when the message or the button does not exist: nobody could press it.
    """
    with state.lock:
        found = [dict(m) for m in state.messages.get(channel, []) if m["ts"] == ts]
    if not found:
        raise LookupError(f"no message {ts} in {channel}")
    message = found[0]
    for number, (attachment, block) in enumerate(all_blocks(message)):
        if block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                break
        else:
            continue
        container: dict[str, Any] = {"type": "message", "message_ts": ts, "channel_id": channel}
        if attachment is not None:
            container = {**container, "type": "message_attachment", "attachment_id": attachment}
        container.update(is_ephemeral=False, is_app_unfurl=False)
        pressed = {
            "type": "button",
            "action_id": action_id,
            "block_id": block.get("block_id") or f"b{number:04d}",
            "text": element.get("text"),
            "value": element.get("value", ""),
            "action_ts": f"{at:.6f}",
        }
        if element.get("style"):
            pressed["style"] = element["style"]
        names = {cid: name for name, cid in state.channels.items()}
        return {
            "type": "block_actions",
            "user": {"id": user[0], "username": user[1], "name": user[1], "team_id": "T0001"},
            "api_app_id": "A0001",
            "token": "verification-token-unused",
            "container": container,
            "trigger_id": f"{next(state.counter)}.1.local",
            "team": {"id": "T0001", "domain": "local"},
            "channel": {"id": channel, "name": names.get(channel, "").lstrip("#")},
            "message": message,
            "response_url": f"{state.base}/actions/T0001/{next(state.counter)}/local",
            "actions": [pressed],
        }
    raise LookupError(f"no button {action_id!r} in message {ts} of {channel}")
