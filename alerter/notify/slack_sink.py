"""A local stand-in for Slack that speaks the wire protocol of the methods alerter uses.

Tests point slack-sdk's real ``WebClient`` (``base_url``) and ``WebhookClient`` at it, and ``make
demo`` runs it so the demo needs no Slack workspace: every message is printed and every uploaded
chart saved. It implements ``chat.postMessage``, ``chat.update``, ``files.getUploadURLExternal``,
the upload URL, ``files.completeUploadExternal``, ``conversations.history``,
``conversations.replies``, ``conversations.list`` and incoming webhooks, checks the bot token, and can be told to fail:
answer 429 with ``Retry-After``, 5xx, ``ok: false`` errors, be down altogether, or hold a request
after recording it (to kill a sender mid-request).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


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
class _State:
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


class SlackSink:
    """A threaded HTTP server on 127.0.0.1 with Slack's API under ``/api/`` and webhooks under ``/hooks/``.

    ``channels`` maps names (``#alerts``) to ids (``C0001``); posting to anything else answers
    ``channel_not_found``, as Slack does.
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-local-sink-token",
        channels: dict[str, str] | None = None,
        port: int = 0,
        out_dir: Path | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        state = _State(token, dict(channels or {"#alerts": "C0001"}), out_dir, echo)
        self._state = state
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(state))
        self._server.daemon_threads = True
        state.base = self.url
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """The value for ``WebClient(base_url=...)``."""
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/hooks/T0001/B0001/local"

    def start(self) -> SlackSink:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="slack-sink", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        for event in list(self._state.holds.values()):
            event.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SlackSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, method: str, *, status: int = 200, error: str | None = None, **kw: int) -> None:
        """Script the next answer(s) to ``method`` (``"*"`` for any): a status, an error, or both."""
        with self._state.lock:
            self._state.faults.append(Fault(method, status, error, kw.get("retry_after"), kw.get("times", 1)))

    def set_down(self, down: bool) -> None:
        """While down every request gets 503, as during a Slack outage."""
        self._state.down = down

    def hold(self, method: str) -> threading.Event:
        """Record the next ``method`` request and its effect, then keep the connection open until set."""
        event = threading.Event()
        self._state.holds[method] = event
        return event

    def requests(self, method: str | None = None) -> list[Received]:
        with self._state.lock:
            return [r for r in self._state.requests if method is None or r.method == method]

    def messages(self, channel: str = "C0001") -> list[dict[str, Any]]:
        """Messages of a channel in posting order, thread replies and webhook posts included."""
        with self._state.lock:
            return [dict(m) for m in self._state.messages.get(channel, [])]

    def uploads(self) -> dict[str, dict[str, Any]]:
        with self._state.lock:
            return {k: dict(v) for k, v in self._state.uploads.items()}


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the sink reports through ``echo`` instead of stderr access logs."""

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            method, params = _parse(split.path, split.query, self.headers.get("Content-Type", ""), raw)
            status, headers, body = _answer(state, method, params, dict(self.headers.items()))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _parse(path: str, query: str, content_type: str, raw: bytes) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = dict(parse_qsl(query))
    if path.startswith("/upload/"):
        return "upload", {"file_id": path.rsplit("/", 1)[-1], "data": raw}
    if content_type.startswith("application/json") and raw:
        params.update(json.loads(raw))
    elif raw:
        params.update(parse_qsl(raw.decode()))
    if path.startswith("/hooks/"):
        return "webhook", params
    return path.removeprefix("/api/"), params


_JSON = {"Content-Type": "application/json; charset=utf-8"}


def _json(payload: dict[str, Any], status: int = 200, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, {**_JSON, **headers}, json.dumps(payload).encode()


def _scripted(state: _State, method: str) -> Fault | None:
    with state.lock:
        for fault in state.faults:
            if fault.method in (method, "*"):
                fault.times -= 1
                if fault.times <= 0:
                    state.faults.remove(fault)
                return fault
    return None


def _answer(
    state: _State, method: str, params: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    fault = None if state.down else _scripted(state, method)
    status = 503 if state.down else (fault.status if fault else 200)
    with state.lock:
        state.requests.append(Received(method, params, headers, status))
    if status != 200:
        extra = {"Retry-After": str(fault.retry_after)} if fault and fault.retry_after is not None else {}
        text = b"rate_limited" if status == 429 else b"service unavailable"
        return status, {"Content-Type": "text/plain", **extra}, text
    if fault is not None and fault.error:
        if method == "webhook":
            return (
                400 if fault.error != "no_service" else 404,
                {"Content-Type": "text/plain"},
                fault.error.encode(),
            )
        return _json({"ok": False, "error": fault.error})
    if method == "webhook":
        return _webhook(state, params)
    if method != "upload" and headers.get("Authorization", "") != f"Bearer {state.token}":
        return _json({"ok": False, "error": "invalid_auth" if "Authorization" in headers else "not_authed"})
    handler = _METHODS.get(method)
    if handler is None:
        return _json({"ok": False, "error": "unknown_method"}, status=404)
    result = handler(state, params)
    hold = state.holds.pop(method, None)
    if hold is not None:
        hold.wait(timeout=60)
    return result


def _next_ts(state: _State) -> str:
    return f"1700000000.{next(state.counter):06d}"


def _channel(state: _State, name: str | None) -> str | None:
    """A channel ID from an ID or, as chat.postMessage allows, a name."""
    if name in state.channels.values():
        return name
    return state.channels.get(name or "")


def _channel_id(state: _State, given: str | None) -> str | None:
    """Only an ID: history, replies, update and uploads refuse names, as Slack does."""
    return given if given in state.channels.values() else None


def _webhook(state: _State, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    message = {"ts": _next_ts(state), "text": params.get("text", ""), "blocks": params.get("blocks")}
    message["attachments"] = params.get("attachments")
    with state.lock:
        state.messages.setdefault("webhook", []).append(message)
    _echo(state, "webhook", message)
    return 200, {"Content-Type": "text/plain"}, b"ok"


def _post_message(state: _State, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    channel = _channel(state, params.get("channel"))
    if channel is None:
        return _json({"ok": False, "error": "channel_not_found"})
    if not params.get("text") and not params.get("blocks") and not params.get("attachments"):
        return _json({"ok": False, "error": "no_text"})
    message = {k: params.get(k) for k in ("text", "blocks", "attachments", "thread_ts", "metadata")}
    message["ts"] = _next_ts(state)
    with state.lock:
        state.messages.setdefault(channel, []).append(message)
    _echo(state, channel, message)
    return _json({"ok": True, "channel": channel, "ts": message["ts"], "message": message})


def _update(state: _State, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    channel = _channel_id(state, params.get("channel"))
    if channel is None:
        return _json({"ok": False, "error": "channel_not_found"})
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
            return _json({"ok": False, "error": "message_not_found"})
    _echo(state, channel, updated)
    return _json({"ok": True, "channel": channel, "ts": params["ts"], "text": updated.get("text")})


def _get_upload_url(state: _State, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    if not params.get("filename") or not str(params.get("length", "")).isdigit():
        return _json({"ok": False, "error": "invalid_arguments"})
    file_id = f"F{next(state.counter):06d}"
    with state.lock:
        state.uploads[file_id] = {"name": params["filename"], "length": int(params["length"]), "data": None}
    return _json({"ok": True, "file_id": file_id, "upload_url": f"{state.base}/upload/{file_id}"})


def _upload(state: _State, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    with state.lock:
        upload = state.uploads.get(params["file_id"])
        if upload is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        upload["data"] = params["data"]
    return 200, {"Content-Type": "text/plain"}, f"OK - {len(params['data'])}".encode()


def _complete_upload(state: _State, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    files = json.loads(params.get("files", "[]"))
    channel = _channel_id(state, params.get("channel_id"))
    if params.get("channel_id") and channel is None:
        return _json({"ok": False, "error": "channel_not_found"})
    shared = []
    with state.lock:
        for item in files:
            upload = state.uploads.get(item["id"])
            if upload is None or upload["data"] is None:
                return _json({"ok": False, "error": "file_not_found"})
            upload["title"] = item.get("title")
            shared.append({"id": item["id"], "name": upload["name"], "title": item.get("title")})
    if channel is not None:
        message = {"ts": _next_ts(state), "text": "", "files": shared, "thread_ts": params.get("thread_ts")}
        with state.lock:
            state.messages.setdefault(channel, []).append(message)
        _save_files(state, shared)
        _echo(state, channel, message)
    return _json({"ok": True, "files": shared})


def _history(state: _State, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    channel = _channel_id(state, params.get("channel"))
    if channel is None:
        return _json({"ok": False, "error": "channel_not_found"})
    with state.lock:
        top = [dict(m) for m in state.messages.get(channel, []) if not m.get("thread_ts")]
    limit = int(params.get("limit", 100))
    return _json({"ok": True, "messages": list(reversed(top))[:limit], "has_more": len(top) > limit})


def _replies(state: _State, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    channel = _channel_id(state, params.get("channel"))
    if channel is None:
        return _json({"ok": False, "error": "channel_not_found"})
    ts = params.get("ts")
    with state.lock:
        thread = [dict(m) for m in state.messages.get(channel, []) if ts in (m["ts"], m.get("thread_ts"))]
    if not thread:
        return _json({"ok": False, "error": "thread_not_found"})
    return _json({"ok": True, "messages": thread, "has_more": False})


def _list(state: _State, params: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """One channel per page, so clients must follow ``next_cursor`` as with a large workspace."""
    names = sorted(state.channels.items(), key=lambda item: item[1])
    start = int(params.get("cursor") or 0)
    page = [{"id": cid, "name": name.lstrip("#")} for name, cid in names[start : start + 1]]
    more = start + 1 < len(names)
    return _json(
        {"ok": True, "channels": page, "response_metadata": {"next_cursor": str(start + 1) if more else ""}}
    )


_METHODS: dict[str, Callable[[_State, dict[str, Any]], tuple[int, dict[str, str], bytes]]] = {
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "files.getUploadURLExternal": _get_upload_url,
    "upload": _upload,
    "files.completeUploadExternal": _complete_upload,
    "conversations.history": _history,
    "conversations.replies": _replies,
    "conversations.list": _list,
}


def _save_files(state: _State, shared: list[dict[str, Any]]) -> None:
    if state.out_dir is None:
        return
    state.out_dir.mkdir(parents=True, exist_ok=True)
    for item in shared:
        data = state.uploads[item["id"]]["data"]
        (state.out_dir / f"{item['id']}-{Path(item['name']).name}").write_bytes(data)


def _echo(state: _State, channel: str, message: dict[str, Any]) -> None:
    if state.echo is None:
        return
    summary = {k: v for k, v in message.items() if v not in (None, "", [])}
    state.echo(f"[{channel}] " + json.dumps(summary, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    """Run the sink in the foreground, printing messages and saving charts (``make demo``)."""
    parser = argparse.ArgumentParser(description="Local Slack-compatible sink for alerter.")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--out", type=Path, default=Path(".demo/slack"))
    parser.add_argument("--token", default="xoxb-local-sink-token")
    parser.add_argument("--channel", action="append", default=[], help="NAME=ID, e.g. '#alerts=C0001'")
    args = parser.parse_args(argv)
    channels = dict(item.split("=", 1) for item in args.channel) or None
    sink = SlackSink(token=args.token, channels=channels, port=args.port, out_dir=args.out, echo=print)
    print(f"slack sink on {sink.url} (api {sink.api_url}, webhook {sink.webhook_url})", flush=True)
    try:
        sink._server.serve_forever()
    except KeyboardInterrupt:
        return 0
    finally:
        sink._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
