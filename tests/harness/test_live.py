"""The recording servers of ``harness.live``: what they serve, forward and keep."""

from __future__ import annotations

import json
import urllib.request

from harness.live import Exporter, QueryLog, WebhookSink


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers["Content-Type"], response.read().decode()


def test_the_exporter_writes_the_text_format_with_escaped_label_values() -> None:
    with Exporter() as exporter:
        exporter.set("demo_hot", {"shard": "g1"}, 1.0)
        exporter.set("demo_hot", {"shard": 'a"b\\c\nd'}, 0.5)
        exporter.set("demo_cold", {}, 2.0)
        status, content_type, text = _get(exporter.url + "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert text == (
        "# TYPE demo_cold gauge\ndemo_cold 2.0\n"
        '# TYPE demo_hot gauge\ndemo_hot{shard="a\\"b\\\\c\\nd"} 0.5\ndemo_hot{shard="g1"} 1.0\n'
    )


def test_the_query_log_forwards_without_the_replica_segment_and_records_who_asked() -> None:
    with Exporter() as upstream, QueryLog(upstream.url) as proxy:
        upstream.set("up", {}, 1.0)
        status, _, text = _get(proxy.url_for("alerter-1") + "/metrics?query=up%3E0")
        (query,) = proxy.queries()
    assert status == 200 and "up 1.0" in text
    assert (query.who, query.path, query.expr) == ("alerter-1", "/metrics", "up>0")


def test_the_webhook_sink_keeps_every_message_with_its_sender_and_key() -> None:
    with WebhookSink() as sink:
        request = urllib.request.Request(
            sink.url_for("alerter-2"), data=json.dumps({"status": "firing"}).encode(),
            headers={"Content-Type": "application/json", "X-Alerter-Key": "k1"}, method="POST",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        (message,) = sink.messages()
    assert (message.who, message.key, dict(message.body)) == ("alerter-2", "k1", {"status": "firing"})
