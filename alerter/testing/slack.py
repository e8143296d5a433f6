"""A local stand-in for Slack that speaks the wire protocol of the methods alerter uses.

Tests point slack-sdk's real ``WebClient`` (``base_url``) and ``WebhookClient`` at it, and ``make
demo`` runs it so the demo needs no Slack workspace: every message is printed and every uploaded
chart saved. It implements ``chat.postMessage``, ``chat.update``, ``files.getUploadURLExternal``,
the upload URL, ``files.completeUploadExternal``, ``conversations.history``,
``conversations.replies``, ``conversations.list`` and incoming webhooks, checks the bot token,
refuses actions blocks beyond Slack's limits (``invalid_blocks``), presses a message's buttons as a
person would (``press``: a signed ``block_actions`` callback to the app's Request URL), and can be told to fail:
answer 429 with ``Retry-After``, 5xx, ``ok: false`` errors, be down altogether, or hold a request
after recording it (to kill a sender mid-request).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from alerter.testing.slack_methods import (
    METHODS,
    Fault,
    Received,
    SinkState,
    json_answer,
    press_payload,
    webhook,
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (killed mid-request, on purpose in tests) is not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


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
        state = SinkState(token, dict(channels or {"#alerts": "C0001"}), out_dir, echo)
        self._state = state
        self._server = _Server(("127.0.0.1", port), _handler_for(state))
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

    @property
    def response_url(self) -> str:
        """Where an interaction's ``response_url`` would point (Slack: hooks.slack.com/actions/...)."""
        return f"{self.url}/actions/T0001/1/local"

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

    def press(
        self,
        request_url: str,
        signing_secret: str,
        *,
        channel: str,
        ts: str,
        action_id: str,
        value: str | None = None,
        user: tuple[str, str] = ("U0001", "ann"),
        at: float,
    ) -> tuple[int, bytes]:
        """Press a button of a posted message: POST its signed ``block_actions`` callback.

        As Slack does (https://api.slack.com/interactivity/handling): an
        ``application/x-www-form-urlencoded`` body with one ``payload`` field of JSON, signed with
        ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}`` under the app's signing secret in
        ``X-Slack-Signature``, the unix time ``at`` in ``X-Slack-Request-Timestamp``
        (https://api.slack.com/authentication/verifying-requests-from-slack). Returns the app's
        status and body; Slack shows the user an error unless it is a 200 within 3 s.
        """
        payload = press_payload(self._state, channel, ts, action_id, value, user, at)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        stamp = str(int(at))
        digest = hmac.new(signing_secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
        request = urllib.request.Request(
            request_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": f"v0={digest.hexdigest()}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=3) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def uploads(self) -> dict[str, dict[str, Any]]:
        with self._state.lock:
            return {k: dict(v) for k, v in self._state.uploads.items()}


def _handler_for(state: SinkState) -> type[BaseHTTPRequestHandler]:
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
    if path.startswith("/actions/"):
        return "response_url", params
    return path.removeprefix("/api/"), params


def _scripted(state: SinkState, method: str) -> Fault | None:
    with state.lock:
        for fault in state.faults:
            if fault.method in (method, "*"):
                fault.times -= 1
                if fault.times <= 0:
                    state.faults.remove(fault)
                return fault
    return None


def _answer(
    state: SinkState, method: str, params: dict[str, Any], headers: dict[str, str]
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
        return json_answer({"ok": False, "error": fault.error})
    if method == "webhook":
        return webhook(state, params)
    if method == "response_url":
        # An interaction's response_url (hooks.slack.com/actions/...) takes a message like an
        # incoming webhook and answers {"ok": true} (read as JSON by Slack integrations such as
        # getsentry/sentry's src/sentry/integrations/slack/link_identity.py).
        return json_answer({"ok": True})
    if method != "upload" and headers.get("Authorization", "") != f"Bearer {state.token}":
        return json_answer(
            {"ok": False, "error": "invalid_auth" if "Authorization" in headers else "not_authed"}
        )
    handler = METHODS.get(method)
    if handler is None:
        return json_answer({"ok": False, "error": "unknown_method"}, status=404)
    result = handler(state, params)
    hold = state.holds.pop(method, None)
    if hold is not None:
        hold.wait(timeout=60)
    return result


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
