"""The whole pipeline with slack-sdk against the local sink and a real SQLite store, time stepped by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerter.config.engine import Route as RouteConfig
from alerter.core.model import Alert, AlertState
from alerter.notify import route as routing
from alerter.notify.base import NotifyReason
from alerter.notify.mute import Window
from alerter.notify.outbox import RetryPolicy
from alerter.notify.pipeline import Pipeline
from alerter.notify.secret import Secret
from alerter.notify.slack.blocks import RenderContext
from alerter.notify.slack.client import SlackNotifier
from alerter.store.sqlite import Store
from alerter.testing.slack import SlackSink

AlertFactory = Callable[..., Alert]
TOKEN = "xoxb-test-0123456789-secret"
T0 = 1_767_225_600.0
ROUTE = {"receiver": "oncall", "group_by": ["alertname"], "group_wait": "30s", "group_interval": "5m"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db") as opened:
        yield opened


def make_pipeline(
    store: Store, sink: SlackSink, route: dict[str, Any] | None = None, **kw: Any
) -> tuple[Pipeline, SlackNotifier]:
    chart = kw.pop("chart", lambda n: b"\x89PNG-chart")
    notifier = SlackNotifier(
        "oncall", "#alerts", token=Secret(TOKEN), base_url=sink.api_url, context=RenderContext(chart=chart)
    )
    root = routing.build(RouteConfig.model_validate(route or ROUTE))
    return Pipeline(store, root, {"oncall": notifier}, **kw), notifier


def top_messages(sink: SlackSink) -> list[dict[str, Any]]:
    return [m for m in sink.messages("C0001") if not m.get("thread_ts")]


def replies(sink: SlackSink, ts: str) -> list[dict[str, Any]]:
    return [m for m in sink.messages("C0001") if m.get("thread_ts") == ts]


def resolve(alert: Alert, at: float) -> Alert:
    return Alert(**{**alert.__dict__, "state": AlertState.RESOLVED, "resolved_at": at})


def test_lifecycle_opens_threads_updates_and_edits_the_original_on_resolution(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink)
    a, b = make_alert(pod="a"), make_alert(pod="b")
    pipeline.ingest([a], T0)
    assert pipeline.flush(T0 + 29).notified == 0, "group_wait not over"
    first = pipeline.flush(T0 + 30)
    assert (first.notified, first.sent, first.reasons) == (1, 1, [NotifyReason.FIRST])
    [top] = top_messages(sink)
    assert "[FIRING:1] TTFTAnomaly" in top["text"]
    assert [f["name"] for m in replies(sink, top["ts"]) for f in m.get("files") or []], "chart in thread"

    pipeline.ingest([a, b], T0 + 60)
    assert pipeline.flush(T0 + 60).notified == 0, "a flushed group waits for group_interval"
    update = pipeline.flush(T0 + 330)
    assert update.reasons == [NotifyReason.NEW_ALERTS]
    assert len(top_messages(sink)) == 1, "updates go into the thread"
    assert "[FIRING:2]" in replies(sink, top["ts"])[-1]["text"]
    assert "[FIRING:2]" in top_messages(sink)[0]["text"], "the original shows the current state"

    pipeline.ingest([resolve(a, T0 + 400), resolve(b, T0 + 400)], T0 + 400)
    done = pipeline.flush(T0 + 630)
    assert done.reasons == [NotifyReason.RESOLVED]
    [original] = top_messages(sink)
    assert original["edited"] and original["text"].startswith("[RESOLVED] TTFTAnomaly")
    assert original["attachments"][0]["color"] == "#2EB67D"
    assert "Resolved" in replies(sink, top["ts"])[-1]["text"]

    assert pipeline.flush(T0 + 5000).notified == 0 and pipeline.pending_groups() == []
    pipeline.ingest([make_alert(pod="a", fired_at=T0 + 6000)], T0 + 6000)
    pipeline.flush(T0 + 6030)
    assert len(top_messages(sink)) == 2, "a new incident opens a new message"


def test_no_duplicates_without_change_and_repeat_after_interval(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink, {**ROUTE, "repeat_interval": "1h"})
    alert = make_alert()
    reasons = []
    for step in range(0, 3900, 30):
        pipeline.ingest([alert], T0 + step)
        reasons += pipeline.flush(T0 + step).reasons
    assert reasons == [NotifyReason.FIRST, NotifyReason.REPEAT]
    assert len(sink.requests("chat.postMessage")) == 2


def test_burst_of_200_alerts_is_one_digest_message(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink)
    for i in range(200):
        pipeline.ingest([make_alert(pod=f"vllm-{i:03d}")], T0 + i * 0.1)
    report = pipeline.flush(T0 + 30)
    assert (report.notified, report.sent) == (1, 1)
    [message] = sink.requests("chat.postMessage")
    assert "Digest of 200 alerts" in str(message.params["attachments"])
    assert len(message.params["attachments"][0]["blocks"]) <= 50


def test_slack_down_ten_minutes_then_every_notification_arrives_once_in_order(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink, {**ROUTE, "group_by": ["alertname", "model_name"]})
    models = ["llama3-70b", "mistral-7b", "qwen2-7b"]
    sink.set_down(True)
    alerts = {m: make_alert(model_name=m) for m in models}
    pipeline.ingest(alerts.values(), T0)
    retrying = [pipeline.flush(T0 + 30).retrying]
    pipeline.ingest([resolve(alerts["qwen2-7b"], T0 + 100)], T0 + 100)
    for step in range(60, 600, 15):
        retrying.append(pipeline.flush(T0 + step).retrying)
    assert sink.messages("C0001") == []
    calls_while_down = len(sink.requests())
    assert calls_while_down < 40, "backoff and receiver pause keep an outage from hammering Slack"
    sink.set_down(False)
    for step in range(600, 1500, 15):
        pipeline.flush(T0 + step)
    tops = top_messages(sink)
    assert [sum(t["text"].endswith(f"model_name={m}") for t in tops) for m in models] == [1, 1, 1]
    qwen = next(m for m in tops if "qwen2-7b" in m["text"])
    assert qwen["text"].startswith("[RESOLVED]"), "resolution edited the original after the outage"
    assert [m["text"].split(" ")[1] for m in replies(sink, qwen["ts"]) if m.get("text")] == ["*Resolved*"]
    keys = [
        r.params["metadata"]["event_payload"]["key"]
        for r in sink.requests("chat.postMessage")
        if r.answered == 200
    ]
    assert len(keys) == len(set(keys)) == 4


def test_rate_limit_retry_after_is_honoured(store: Store, sink: SlackSink, make_alert: AlertFactory) -> None:
    pipeline, _ = make_pipeline(store, sink)
    sink.fail("chat.postMessage", status=429, retry_after=120)
    pipeline.ingest([make_alert()], T0)
    assert pipeline.flush(T0 + 30).retrying == 1
    assert pipeline.flush(T0 + 149).sent == 0, "Retry-After 120s not over"
    assert pipeline.flush(T0 + 150).sent == 1
    assert len(top_messages(sink)) == 1


def test_permanent_failure_is_logged_and_does_not_block_the_group(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink)
    sink.fail("chat.postMessage", error="not_in_channel")
    pipeline.ingest([make_alert()], T0)
    assert pipeline.flush(T0 + 30).failed == 1
    [entry] = pipeline.outbox.history()
    assert entry.state == "failed" and "invite the bot" in entry.last_error
    pipeline.ingest([make_alert(pod="b")], T0 + 40)
    assert pipeline.flush(T0 + 330).sent == 1


def test_gives_up_after_the_configured_age(store: Store, sink: SlackSink, make_alert: AlertFactory) -> None:
    retry = RetryPolicy(initial=10, maximum=60, give_up_after=600)
    pipeline, _ = make_pipeline(store, sink, retry=retry)
    sink.set_down(True)
    pipeline.ingest([make_alert()], T0)
    for step in range(30, 700, 30):
        pipeline.flush(T0 + step)
    [entry] = pipeline.outbox.history()
    assert entry.state == "failed" and entry.last_error.startswith("gave up after")


def test_silence_mutes_and_its_expiry_unmutes(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink)
    silence = pipeline.silences.add(['model_name="llama3-70b"'], ends_at=T0 + 3600, now=T0, created_by="ops")
    pipeline.ingest([make_alert()], T0)
    report = pipeline.flush(T0 + 30)
    assert (report.notified, report.muted) == (0, 1)
    assert pipeline.flush(T0 + 330).notified == 0
    pipeline.silences.expire(silence.id, T0 + 400)
    assert pipeline.flush(T0 + 630).reasons == [NotifyReason.FIRST]
    assert len(top_messages(sink)) == 1


def test_silence_that_ends_by_itself_unmutes(store: Store, sink: SlackSink, make_alert: AlertFactory) -> None:
    pipeline, _ = make_pipeline(store, sink)
    pipeline.silences.add(['alertname="TTFTAnomaly"'], ends_at=T0 + 200, now=T0)
    pipeline.ingest([make_alert()], T0)
    assert pipeline.flush(T0 + 30).notified == 0
    assert pipeline.flush(T0 + 330).notified == 1


def test_maintenance_window_mutes_only_inside_it(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    # T0 is Thursday 2026-01-01 00:00 UTC: a daily 00:00 window of 20 minutes covers the first flush.
    window = Window.build("nightly", "0 0 * * *", 1200, ['model_name=~"llama.*"'])
    pipeline, _ = make_pipeline(store, sink, windows=[window])
    pipeline.ingest([make_alert(), make_alert(model_name="mistral-7b")], T0)
    first = pipeline.flush(T0 + 30)
    assert (first.notified, first.muted) == (1, 1)
    assert "llama3" not in top_messages(sink)[0]["text"]
    assert pipeline.flush(T0 + 1230).reasons == [NotifyReason.NEW_ALERTS], "window closed at 00:20"


def test_routes_send_to_matching_receivers(store: Store, sink: SlackSink, make_alert: AlertFactory) -> None:
    other = SlackNotifier("info", "#other", token=Secret(TOKEN), base_url=sink.api_url)
    oncall = SlackNotifier("oncall", "#alerts", token=Secret(TOKEN), base_url=sink.api_url)
    config = {
        **ROUTE,
        "routes": [{"matchers": ['severity="info"'], "receiver": "info"}],
    }
    root = routing.build(RouteConfig.model_validate(config))
    pipeline = Pipeline(store, root, {"oncall": oncall, "info": other})
    pipeline.ingest([make_alert(), make_alert("KVCache", severity="info")], T0)
    pipeline.flush(T0 + 30)
    assert ["TTFTAnomaly" in m["text"] for m in sink.messages("C0001")] == [True]
    assert ["KVCache" in m["text"] for m in sink.messages("C0002")] == [True]


def test_route_to_unknown_receiver_is_refused(store: Store) -> None:
    root = routing.build(RouteConfig.model_validate(ROUTE))
    with pytest.raises(ValueError, match="oncall"):
        Pipeline(store, root, {})


def test_pending_and_nodata_states_do_not_notify_or_resolve(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink)
    alert = make_alert()
    pipeline.ingest([alert], T0)
    pipeline.flush(T0 + 30)
    nodata = Alert(**{**alert.__dict__, "state": AlertState.NODATA})
    pipeline.ingest([nodata, make_alert(pod="p", state=AlertState.PENDING)], T0 + 60)
    assert pipeline.flush(T0 + 330).notified == 0
    assert len(sink.requests("chat.postMessage")) == 1


def test_state_survives_a_restart(tmp_path: Path, sink: SlackSink, make_alert: AlertFactory) -> None:
    with Store(tmp_path / "s.db") as first:
        pipeline, _ = make_pipeline(first, sink)
        pipeline.ingest([make_alert()], T0)
        pipeline.flush(T0 + 30)
    with Store(tmp_path / "s.db") as second:
        pipeline, _ = make_pipeline(second, sink)
        pipeline.ingest([make_alert()], T0 + 60)
        assert pipeline.flush(T0 + 330).notified == 0, "the log survived: no duplicate"
        pipeline.ingest([resolve(make_alert(), T0 + 400)], T0 + 400)
        assert pipeline.flush(T0 + 630).sent == 1
    [top] = top_messages(sink)
    assert top["edited"], "the thread reference survived: resolution edited the original"


def test_burst_across_many_groups_is_one_digest_whose_thread_takes_their_updates(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink, {**ROUTE, "group_by": ["alertname", "pod"]})
    alerts = [make_alert(pod=f"vllm-{i:02d}") for i in range(15)]
    pipeline.ingest(alerts, T0)
    report = pipeline.flush(T0 + 30)
    assert (report.notified, report.sent) == (15, 1)
    [digest] = top_messages(sink)
    assert digest["text"].startswith("[FIRING:15] TTFTAnomaly") and "Digest of 15 alerts" in str(digest)

    pipeline.ingest([resolve(alerts[3], T0 + 100)], T0 + 100)
    assert pipeline.flush(T0 + 330).sent == 1
    [only] = top_messages(sink)
    assert only["text"] == digest["text"] and not only.get("edited"), (
        "one group's news must not rewrite the digest"
    )
    assert "Resolved" in replies(sink, digest["ts"])[-1]["text"]


def test_groups_up_to_the_limit_get_their_own_messages(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink, {**ROUTE, "group_by": ["alertname", "pod"]})
    pipeline.ingest([make_alert(pod=f"vllm-{i:02d}") for i in range(10)], T0)
    assert pipeline.flush(T0 + 30).sent == 10
    assert len(top_messages(sink)) == 10


def test_silencing_a_notified_alert_neither_resolves_it_nor_hides_its_resolution(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink)
    alert = make_alert()
    pipeline.ingest([alert], T0)
    pipeline.flush(T0 + 30)
    pipeline.silences.add(['model_name="llama3-70b"'], ends_at=T0 + 7200, now=T0 + 60)
    assert pipeline.flush(T0 + 330).notified == 0, "a silence is not a resolution"
    pipeline.ingest([make_alert(pod="new")], T0 + 400)
    assert pipeline.flush(T0 + 630).notified == 0, "new alerts under the silence stay quiet"
    pipeline.ingest([resolve(alert, T0 + 700), resolve(make_alert(pod="new"), T0 + 700)], T0 + 700)
    assert pipeline.flush(T0 + 930).reasons == [NotifyReason.RESOLVED]
    [top] = top_messages(sink)
    assert (
        top["text"].startswith("[RESOLVED]")
        and "1 alert(s) back in band" in replies(sink, top["ts"])[-1]["text"]
    )


def test_alert_resolves_in_its_group_even_after_routes_changed(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    before, _ = make_pipeline(store, sink)
    alert = make_alert()
    before.ingest([alert], T0)
    before.flush(T0 + 30)
    after, _ = make_pipeline(store, sink, {**ROUTE, "group_by": ["alertname", "model_name"]})
    assert after.ingest([resolve(alert, T0 + 100)], T0 + 100) == 1
    assert after.flush(T0 + 330).reasons == [NotifyReason.RESOLVED]
    assert top_messages(sink)[0]["text"].startswith("[RESOLVED] TTFTAnomaly")


def burst_of(pipeline: Pipeline, sink: SlackSink, make_alert: AlertFactory, n: int, at: float) -> list[Alert]:
    """``n`` groups (one pod each) opening at once: one digest."""
    alerts = [make_alert(pod=f"vllm-{i:03d}", fired_at=at) for i in range(n)]
    pipeline.ingest(alerts, at)
    assert pipeline.flush(at + 30).sent == 1
    return alerts


def calls(sink: SlackSink) -> tuple[int, int]:
    return len(sink.requests("chat.postMessage")), len(sink.requests("chat.update"))


def test_a_burst_resolving_together_edits_its_digest_once_and_replies_once(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    """250 replies at once would run far past Slack's rate for chat.postMessage, "generally one
    message per second per channel" (https://api.slack.com/apis/rate-limits): one edit, one reply."""
    pipeline, _ = make_pipeline(store, sink, {**ROUTE, "group_by": ["alertname", "pod"]})
    alerts = burst_of(pipeline, sink, make_alert, 250, T0)
    [digest] = top_messages(sink)
    posts, updates = calls(sink)
    pipeline.ingest([resolve(a, T0 + 100) for a in alerts], T0 + 100)
    report = pipeline.flush(T0 + 330)
    assert (report.notified, report.sent) == (250, 1)
    assert calls(sink) == (posts + 1, updates + 1)
    [edited] = top_messages(sink)
    assert edited["edited"] and edited["text"].startswith("[RESOLVED] TTFTAnomaly")
    assert "Digest of 250 alerts" in str(edited["attachments"]) and "resolved: 250" in str(
        edited["attachments"]
    )
    [summary] = replies(sink, digest["ts"])[-1:]
    assert "250 alert(s) back in band" in summary["text"]
    assert pipeline.pending_groups() == []

    # The groups forgot the old digest: the next burst of the same pods has its own thread.
    again = burst_of(pipeline, sink, make_alert, 15, T0 + 1000)
    new = top_messages(sink)[-1]
    pipeline.ingest([resolve(again[0], T0 + 1100)], T0 + 1100)
    assert pipeline.flush(T0 + 1330).sent == 1
    assert "Resolved" in replies(sink, new["ts"])[-1]["text"]
    assert replies(sink, digest["ts"])[-1] == summary


def test_part_of_a_burst_resolving_shows_what_still_fires(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(store, sink, {**ROUTE, "group_by": ["alertname", "pod"]})
    alerts = burst_of(pipeline, sink, make_alert, 250, T0)
    [digest] = top_messages(sink)
    posts, updates = calls(sink)
    pipeline.ingest([resolve(a, T0 + 100) for a in alerts[:200]], T0 + 100)
    assert pipeline.flush(T0 + 330).sent == 1
    assert calls(sink) == (posts + 1, updates + 1)
    assert top_messages(sink)[0]["text"] == "[FIRING:50] TTFTAnomaly (200 resolved)"
    assert replies(sink, digest["ts"])[-1]["text"] == "[FIRING:50] TTFTAnomaly (200 resolved)"

    pipeline.ingest([resolve(a, T0 + 400) for a in alerts[200:]], T0 + 400)
    assert pipeline.flush(T0 + 630).sent == 1
    assert calls(sink) == (posts + 2, updates + 2)
    assert top_messages(sink)[0]["text"].startswith("[RESOLVED] TTFTAnomaly")
    assert "50 alert(s) back in band" in replies(sink, digest["ts"])[-1]["text"]


def test_a_burst_repeating_together_is_one_reply(
    store: Store, sink: SlackSink, make_alert: AlertFactory
) -> None:
    pipeline, _ = make_pipeline(
        store, sink, {**ROUTE, "group_by": ["alertname", "pod"], "repeat_interval": "1h"}
    )
    alerts = burst_of(pipeline, sink, make_alert, 40, T0)
    posts, updates = calls(sink)
    pipeline.ingest(alerts, T0 + 3630)
    report = pipeline.flush(T0 + 3630)
    assert report.reasons == [NotifyReason.REPEAT] * 40 and report.sent == 1
    assert calls(sink) == (posts + 1, updates + 1)
    assert top_messages(sink)[0]["text"] == "[FIRING:40] TTFTAnomaly"
