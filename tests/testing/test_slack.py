"""The sink as the demo runs it: a process that prints each message and saves each chart."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from alerter.notify.base import Payload, PayloadKind
from alerter.notify.secret import Secret
from alerter.notify.slack.client import SlackNotifier
from alerter.testing.slack import SlackSink

PNG = b"\x89PNG\r\n\x1a\ndemo-chart"


def test_sink_process_prints_messages_and_saves_charts(tmp_path: Path) -> None:
    out = tmp_path / "slack"
    process = subprocess.Popen(
        [sys.executable, "-m", "alerter.testing.slack", "--port", "0", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        api_url = banner.split("(api ")[1].split(",")[0]
        notifier = SlackNotifier("demo", "#alerts", token=Secret("xoxb-local-sink-token"), base_url=api_url)
        body = {"text": "[FIRING:1] TTFTAnomaly", "blocks": []}
        ts = notifier.deliver(Payload(PayloadKind.OPEN, body, image=PNG), "k1", None, 1_767_225_600.0)
        printed = [process.stdout.readline(), process.stdout.readline()]
    finally:
        process.terminate()
        process.wait(timeout=10)
    channel, message = printed[0].split(" ", 1)
    assert channel == "[C0001]" and json.loads(message)["text"] == "[FIRING:1] TTFTAnomaly"
    assert ts == f"C0001/{json.loads(printed[1].split(' ', 1)[1])['thread_ts']}"
    [saved] = out.iterdir()
    assert saved.name.endswith("-k1.png") and saved.read_bytes() == PNG


def call(sink: SlackSink, method: str, params: dict[str, str], token: str = "t") -> dict[str, object]:
    request = urllib.request.Request(
        f"{sink.api_url}{method}",
        data=urllib.parse.urlencode(params).encode(),
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as err:
        return dict(json.loads(err.read()))


@pytest.mark.parametrize(
    ("method", "params", "error"),
    [
        ("users.list", {}, "unknown_method"),
        ("files.getUploadURLExternal", {"filename": "", "length": "x"}, "invalid_arguments"),
        ("chat.postMessage", {"channel": "#alerts"}, "no_text"),
        ("chat.update", {"channel": "C0001", "ts": "1.2", "text": "x"}, "message_not_found"),
        ("chat.update", {"channel": "#alerts", "ts": "1.2", "text": "x"}, "channel_not_found"),
        ("conversations.replies", {"channel": "C0001", "ts": "1.2"}, "thread_not_found"),
        ("conversations.history", {"channel": "#alerts"}, "channel_not_found"),
    ],
)
def test_sink_answers_like_slack_to_bad_requests(method: str, params: dict[str, str], error: str) -> None:
    with SlackSink(token="t") as sink:
        assert call(sink, method, params) == {"ok": False, "error": error}


def test_sink_checks_the_token() -> None:
    with SlackSink(token="t") as sink:
        assert (
            call(sink, "chat.postMessage", {"channel": "#alerts", "text": "x"}, token="u")["error"]
            == "invalid_auth"
        )


def _actions(*elements: dict[str, object]) -> str:
    return json.dumps([{"color": "#D0312D", "blocks": [{"type": "actions", "elements": list(elements)}]}])


def _button(action_id: str, text: str = "Go", value: str = "v") -> dict[str, object]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


@pytest.mark.parametrize(
    "attachments",
    [
        _actions(*(_button(f"b{i}") for i in range(26))),
        _actions(_button("same"), _button("same")),
        _actions(_button("x" * 256)),
        _actions(_button("b", text="t" * 76)),
        _actions(_button("b", value="v" * 2001)),
    ],
)
def test_sink_refuses_actions_beyond_slacks_limits(attachments: str) -> None:
    with SlackSink(token="t") as sink:
        answer = call(
            sink, "chat.postMessage", {"channel": "#alerts", "text": "x", "attachments": attachments}
        )
        assert answer == {"ok": False, "error": "invalid_blocks"}
        ok = call(
            sink,
            "chat.postMessage",
            {"channel": "#alerts", "text": "x", "attachments": _actions(_button("b"))},
        )
        assert ok["ok"] is True


def test_a_press_is_the_signed_block_actions_callback_slack_sends() -> None:
    import hashlib
    import hmac
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    got: list[tuple[dict[str, str], bytes]] = []

    class App(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            got.append((dict(self.headers.items()), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    app = HTTPServer(("127.0.0.1", 0), App)
    thread = threading.Thread(target=app.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with SlackSink(token="t") as sink:
            posted = call(
                sink,
                "chat.postMessage",
                {"channel": "#alerts", "text": "x", "attachments": _actions(_button("ack", value="f1"))},
            )
            ts = str(posted["ts"])
            url = f"http://127.0.0.1:{app.server_address[1]}/slack/interactions"
            with pytest.raises(LookupError, match="no button 'silence:1h'"):
                sink.press(url, "secret", channel="C0001", ts=ts, action_id="silence:1h", at=1_700_000_000)
            assert sink.press(url, "secret", channel="C0001", ts=ts, action_id="ack", at=1_700_000_000) == (
                200,
                b"",
            )
    finally:
        app.shutdown()
        app.server_close()
    ((headers, body),) = got
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["X-Slack-Request-Timestamp"] == "1700000000"
    expected = hmac.new(b"secret", b"v0:1700000000:" + body, hashlib.sha256).hexdigest()
    assert headers["X-Slack-Signature"] == f"v0={expected}"
    payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0001"
    assert payload["container"] == {
        "type": "message_attachment",
        "message_ts": ts,
        "attachment_id": 1,
        "channel_id": "C0001",
        "is_ephemeral": False,
        "is_app_unfurl": False,
    }
    (action,) = payload["actions"]
    assert (action["action_id"], action["value"], action["type"]) == ("ack", "f1", "button")
    assert action["block_id"] and payload["response_url"].startswith(sink.url + "/actions/")
    assert payload["message"]["ts"] == ts
