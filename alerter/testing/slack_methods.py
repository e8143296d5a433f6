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


def _post_message(state: SinkState, params: dict[str, Any]) -> Answer:
    channel = _channel(state, params.get("channel"))
    if channel is None:
        return json_answer({"ok": False, "error": "channel_not_found"})
    if not params.get("text") and not params.get("blocks") and not params.get("attachments"):
        return json_answer({"ok": False, "error": "no_text"})
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
