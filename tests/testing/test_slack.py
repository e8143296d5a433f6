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
