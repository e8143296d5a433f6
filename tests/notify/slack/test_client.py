"""The Slack receiver with slack-sdk's real clients against the local Slack sink."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from alerter.core.errors import NotifyError
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify.base import Notification, NotifyReason, Payload, PayloadKind
from alerter.notify.secret import Secret
from alerter.notify.slack.blocks import Button, note_message
from alerter.notify.slack.client import SlackNotifier
from alerter.testing.slack import SlackSink

AlertFactory = Callable[..., Alert]
TOKEN = "xoxb-test-0123456789-secret"
T0 = 1_767_225_600.0
PNG = b"\x89PNG\r\n\x1a\nchart"


def bot(sink: SlackSink, channel: str = "#alerts", token: str = TOKEN) -> SlackNotifier:
    return SlackNotifier("oncall", channel, token=Secret(token), base_url=sink.api_url)


def hook(sink: SlackSink) -> SlackNotifier:
    return SlackNotifier("hook", "", webhook_url=Secret(sink.webhook_url))


def body(text: str) -> dict[str, object]:
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def test_open_posts_message_with_metadata_and_uploads_chart_into_thread(sink: SlackSink) -> None:
    ref = bot(sink).deliver(Payload(PayloadKind.OPEN, body("fire"), image=PNG), "k1", None, T0)
    top, chart = sink.messages("C0001")
    ts = top["ts"]
    assert ref == f"C0001/{ts}" and top["text"] == "fire" and top["thread_ts"] is None
    assert top["metadata"] == {"event_type": "alerter_notification", "event_payload": {"key": "k1"}}
    assert chart["thread_ts"] == ts and chart["files"][0]["name"] == "k1.png"
    assert [u["data"] for u in sink.uploads().values()] == [PNG]
    assert [r.method for r in sink.requests()] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


def test_reply_goes_into_thread_and_edits_the_original(sink: SlackSink) -> None:
    notifier = bot(sink)
    ref = notifier.deliver(Payload(PayloadKind.OPEN, body("v1")), "k1", None, T0)
    again = notifier.deliver(
        Payload(PayloadKind.CLOSE, body("resolved"), edit=body("v2 resolved")), "k2", ref, T0
    )
    assert again == ref
    ts = sink.messages("C0001")[0]["ts"]
    original, reply = sink.messages("C0001")
    assert reply["thread_ts"] == ts and reply["text"] == "resolved"
    assert original["text"] == "v2 resolved" and original["edited"] is True


def test_reply_without_thread_opens_a_new_message(sink: SlackSink) -> None:
    ref = bot(sink).deliver(Payload(PayloadKind.REPLY, body("update")), "k1", None, T0)
    assert ref == f"C0001/{sink.messages('C0001')[0]['ts']}"


def test_rate_limit_is_retryable_with_retry_after_and_not_retried_inline(sink: SlackSink) -> None:
    sink.fail("chat.postMessage", status=429, retry_after=30)
    with pytest.raises(NotifyError) as caught:
        bot(sink).deliver(Payload(PayloadKind.OPEN, body("x")), "k", None, T0)
    assert caught.value.retryable and caught.value.retry_after == 30.0
    assert len(sink.requests("chat.postMessage")) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retryable(sink: SlackSink, status: int) -> None:
    sink.fail("chat.postMessage", status=status)
    with pytest.raises(NotifyError, match=f"HTTP {status}") as caught:
        bot(sink).deliver(Payload(PayloadKind.OPEN, body("x")), "k", None, T0)
    assert caught.value.retryable and caught.value.retry_after is None


@pytest.mark.parametrize(
    ("error", "hint"),
    [("not_in_channel", "invite the bot"), ("channel_not_found", "check the receiver's channel")],
)
def test_refusals_are_permanent_with_a_hint(sink: SlackSink, error: str, hint: str) -> None:
    sink.fail("chat.postMessage", error=error)
    with pytest.raises(NotifyError, match=hint) as caught:
        bot(sink).deliver(Payload(PayloadKind.OPEN, body("x")), "k", None, T0)
    assert not caught.value.retryable and error in str(caught.value)


def test_unknown_channel_is_reported_by_the_server(sink: SlackSink) -> None:
    with pytest.raises(NotifyError, match="channel_not_found") as caught:
        bot(sink, channel="#nope").deliver(Payload(PayloadKind.OPEN, body("x")), "k", None, T0)
    assert not caught.value.retryable


def test_bad_token_is_invalid_auth_and_never_printed(
    sink: SlackSink, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "xoxb-wrong-token-do-not-print"
    notifier = bot(sink, token=wrong)
    with caplog.at_level(logging.DEBUG), pytest.raises(NotifyError, match="invalid_auth") as caught:
        notifier.deliver(Payload(PayloadKind.OPEN, body("x")), "k", None, T0)
    assert not caught.value.retryable
    for text in (str(caught.value), repr(caught.value), repr(notifier), caplog.text):
        assert wrong not in text
    assert caplog.records, "slack-sdk's debug logging was captured"


def test_unreachable_slack_is_retryable() -> None:
    sink = SlackSink(token=TOKEN).start()
    url = sink.api_url
    sink.stop()
    notifier = SlackNotifier("oncall", "#alerts", token=Secret(TOKEN), base_url=url, timeout=2)
    with pytest.raises(NotifyError, match="cannot reach Slack") as caught:
        notifier.deliver(Payload(PayloadKind.OPEN, body("x")), "k", None, T0)
    assert caught.value.retryable


def test_recover_finds_an_interrupted_post_and_completes_its_chart(sink: SlackSink) -> None:
    notifier = bot(sink)
    ts = notifier.post(body("fire"), key="k1")
    ref = f"C0001/{ts}"
    assert notifier.recover(Payload(PayloadKind.OPEN, body("fire"), image=PNG), "k1", None) == (True, ref)
    assert notifier.recover(Payload(PayloadKind.OPEN, body("other")), "k2", None) == (False, None)
    assert len(sink.requests("chat.postMessage")) == 1
    assert [m["files"][0]["name"] for m in sink.messages("C0001") if m.get("files")] == ["k1.png"]
    assert notifier.recover(Payload(PayloadKind.OPEN, body("fire"), image=PNG), "k1", None) == (True, ref)
    assert len(sink.uploads()) == 1, "a chart already in the thread is not uploaded twice"


def test_recover_looks_for_replies_inside_the_thread(sink: SlackSink) -> None:
    notifier = bot(sink)
    ts = notifier.post(body("fire"), key="k1")
    notifier.post(body("more"), key="k2", thread_ts=ts)
    ref = f"C0001/{ts}"
    assert notifier.recover(Payload(PayloadKind.REPLY, body("more")), "k2", ref) == (True, ref)
    assert notifier.recover(Payload(PayloadKind.REPLY, body("x")), "k3", ref) == (False, ref)


def test_webhook_mode_posts_every_payload_as_a_message(sink: SlackSink) -> None:
    notifier = hook(sink)
    assert notifier.deliver(Payload(PayloadKind.OPEN, body("a"), image=PNG), "k1", None, T0) is None
    notifier.deliver(Payload(PayloadKind.CLOSE, body("b"), edit=body("c")), "k2", None, T0)
    assert [m["text"] for m in sink.messages("webhook")] == ["a", "b"]
    assert notifier.recover(Payload(PayloadKind.OPEN, body("a")), "k1", None) == (False, None)


def test_webhook_errors_keep_the_url_secret(sink: SlackSink) -> None:
    notifier = hook(sink)
    sink.fail("webhook", status=429, retry_after=7)
    with pytest.raises(NotifyError) as limited:
        notifier.deliver(Payload(PayloadKind.OPEN, body("a")), "k", None, T0)
    assert limited.value.retryable and limited.value.retry_after == 7.0
    sink.fail("webhook", error="no_service")
    with pytest.raises(NotifyError, match="revoked or is wrong") as gone:
        notifier.deliver(Payload(PayloadKind.OPEN, body("a")), "k", None, T0)
    assert not gone.value.retryable
    for text in (str(limited.value), str(gone.value), repr(notifier)):
        assert sink.webhook_url not in text and "/hooks/" not in text


def test_notifier_needs_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SlackNotifier("x", "#a")
    with pytest.raises(ValueError, match="needs a channel"):
        SlackNotifier("x", "", token=Secret(TOKEN))


def test_render_uses_block_kit(make_alert: AlertFactory) -> None:
    notifier = SlackNotifier("x", "#a", token=Secret(TOKEN))
    note = Notification("x", "g", Labels(alertname="TTFTAnomaly"), (make_alert(),), NotifyReason.FIRST, T0)
    payload = notifier.render(note)
    assert payload.kind is PayloadKind.OPEN and payload.body["attachments"][0]["blocks"]
    closing = notifier.render(
        Notification("x", "g", Labels(), (make_alert(state=AlertState.RESOLVED),), NotifyReason.RESOLVED, T0)
    )
    assert closing.kind is PayloadKind.CLOSE and closing.edit is not None


def test_note_with_buttons_posts_an_actions_block(sink: SlackSink) -> None:
    buttons = [
        Button("approve", "Approve", "action-42", "primary"),
        Button("reject", "Reject", "action-42", "danger"),
    ]
    note = note_message("Proposed: scale inference/vllm-llama3 from 4 to 6 replicas", buttons)
    notifier = bot(sink)
    ts = notifier.post(body("alert"), key="k1")
    notifier.deliver(Payload(PayloadKind.REPLY, note), "k2", f"C0001/{ts}", T0)
    reply = sink.messages("C0001")[-1]
    assert reply["thread_ts"] == ts
    actions = reply["blocks"][1]
    assert [(e["action_id"], e["style"], e["value"]) for e in actions["elements"]] == [
        ("approve", "primary", "action-42"),
        ("reject", "danger", "action-42"),
    ]


def test_button_validation() -> None:
    with pytest.raises(ValueError, match="style"):
        Button("a", "A", "v", "green")
    with pytest.raises(ValueError, match="action_id"):
        Button("", "A", "v")


def test_recovery_after_restart_finds_the_channel_id_by_name(sink: SlackSink) -> None:
    before = bot(sink, channel="#other")
    before.post(body("fire"), key="k1")
    after = bot(sink, channel="#other")
    found, ref = after.recover(Payload(PayloadKind.OPEN, body("fire")), "k1", None)
    assert found and ref is not None and ref.startswith("C0002/")
    assert len(sink.requests("conversations.list")) == 2, "followed the cursor to the second page"
    after.recover(Payload(PayloadKind.OPEN, body("fire")), "k1", None)
    assert len(sink.requests("conversations.list")) == 2, "the ID is remembered"


def test_a_configured_channel_id_needs_no_lookup(sink: SlackSink) -> None:
    notifier = bot(sink, channel="C0001")
    notifier.post(body("fire"), key="k1")
    assert notifier.recover(Payload(PayloadKind.OPEN, body("fire")), "k1", None)[0]
    assert sink.requests("conversations.list") == []


def test_recovery_that_cannot_look_sends_again_instead_of_failing(
    sink: SlackSink, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = bot(sink, channel="#alerts")
    sink.fail("conversations.list", error="missing_scope")
    assert notifier.recover(Payload(PayloadKind.OPEN, body("x")), "k1", None) == (False, None)
    assert "cannot check whether k1 arrived" in caplog.text and "chat:write" in caplog.text


def test_recovery_while_slack_is_down_is_retried(sink: SlackSink) -> None:
    sink.set_down(True)
    with pytest.raises(NotifyError) as caught:
        bot(sink, channel="C0001").recover(Payload(PayloadKind.OPEN, body("x")), "k1", None)
    assert caught.value.retryable


def test_a_refused_chart_or_edit_does_not_undo_the_delivered_message(
    sink: SlackSink, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = bot(sink)
    sink.fail("files.getUploadURLExternal", error="missing_scope")
    ref = notifier.deliver(Payload(PayloadKind.OPEN, body("fire"), image=PNG), "k1", None, T0)
    assert ref is not None and "chart upload skipped" in caplog.text
    sink.fail("chat.update", error="cant_update_message")
    assert notifier.deliver(Payload(PayloadKind.REPLY, body("more"), edit=body("v2")), "k2", ref, T0) == ref
    assert "edit of the first message skipped" in caplog.text
    assert [m["text"] for m in sink.messages("C0001")] == ["fire", "more"]


def test_a_chart_upload_interrupted_by_an_outage_is_retried(sink: SlackSink) -> None:
    notifier = bot(sink)
    sink.fail("files.getUploadURLExternal", status=503)
    with pytest.raises(NotifyError) as caught:
        notifier.deliver(Payload(PayloadKind.OPEN, body("fire"), image=PNG), "k1", None, T0)
    assert caught.value.retryable
    found, ref = notifier.recover(Payload(PayloadKind.OPEN, body("fire"), image=PNG), "k1", None)
    assert found and ref == f"C0001/{sink.messages('C0001')[0]['ts']}"
    assert len(sink.requests("chat.postMessage")) == 1
    assert [m["files"][0]["name"] for m in sink.messages("C0001") if m.get("files")] == ["k1.png"]


def test_a_private_reply_goes_to_the_response_url_as_an_ephemeral_message(sink: SlackSink) -> None:
    from alerter.notify.slack.client import reply_privately

    reply_privately(sink.response_url, "Could not approve action 8: <already> & done", allowed=(sink.url,))
    (request,) = sink.requests("response_url")
    assert request.params["response_type"] == "ephemeral"
    assert request.params["replace_original"] is False
    assert request.params["text"] == "Could not approve action 8: &lt;already&gt; &amp; done"


def test_a_private_reply_calls_no_host_but_slack() -> None:
    from alerter.notify.slack.client import reply_privately

    with pytest.raises(NotifyError, match="not a Slack URL") as caught:
        reply_privately("http://169.254.169.254/latest/meta-data", "x")
    assert caught.value.retryable is False


def test_a_private_reply_slack_refuses_is_an_error(sink: SlackSink) -> None:
    from alerter.notify.slack.client import reply_privately

    sink.fail("response_url", status=404)
    with pytest.raises(NotifyError, match="refused the reply"):
        reply_privately(sink.response_url, "x", allowed=(sink.url,))
