"""The demo's Slack transcript: Block Kit as a reader sees it, threads with their replies and edits.

The messages go through alerter's own Slack receiver (``SlackNotifier.deliver``, the real
slack-sdk client) into the local sink, whose ``echo`` lines are what the demo records, so the
test reads exactly the format the demo does.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from alerter.demo import transcript
from alerter.demo.transcript import Event, message_lines, record, render
from alerter.notify.base import Payload, PayloadKind
from alerter.notify.secret import Secret
from alerter.notify.slack.blocks import Button, note_message
from alerter.notify.slack.client import SlackNotifier
from alerter.testing.slack import SlackSink

T0 = 1795010400.0  # 2026-11-18T14:00:00Z
TOKEN = "xoxb-transcript-test-token"


def _firing(state: str, value: str) -> dict[str, Any]:
    """A message shaped as ``notify.slack.blocks.render_message`` shapes one: an attachment
    holding a header, the alert's section, its links, its buttons and the footer."""
    section = (
        f":rotating_light: *TTFTAnomaly* {state} · `model_name=llama-3.1-8b`\n"
        f"*p99 TTFT is {value}* &amp; rising &lt;fast&gt;\n"
        "Firing since <!date^1795010400^{date_short_pretty} {time}|2026-11-18 14:00 UTC> (3m)"
    )
    links = (
        "<http://127.0.0.1:9090/graph?g0.expr=up|Prometheus graph> · <https://runbooks.example/ttft|Runbook>"
    )
    buttons = [
        {"type": "button", "action_id": "silence:1h", "text": {"type": "plain_text", "text": "Silence 1h"}},
        {
            "type": "button",
            "action_id": "ack",
            "style": "primary",
            "text": {"type": "plain_text", "text": "Acknowledge"},
        },
    ]
    blocks = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f":rotating_light: [{state}:1] TTFTAnomaly"},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": section}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": links}]},
        {"type": "actions", "elements": buttons},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "first notification · <@U0001>"}]},
    ]
    return {"text": f"[{state}:1] TTFTAnomaly", "attachments": [{"color": "#D0312D", "blocks": blocks}]}


def _conversation(tmp_path: Path) -> list[Event]:
    """Open (with a chart), a remediation note, a close (reply plus edit), a second group's page."""
    stamps = itertools.count()
    events: list[Event] = []

    def echo(line: str) -> None:
        event = record(T0 + 5 * next(stamps), line)
        assert event is not None, line
        events.append(event)

    with SlackSink(token=TOKEN, out_dir=tmp_path / "slack", echo=echo) as sink:
        slack = SlackNotifier("oncall", "#alerts", token=Secret(TOKEN), base_url=sink.api_url)
        opened = Payload(PayloadKind.OPEN, _firing("FIRING", "2.24s"), image=b"\x89PNG chart")
        thread = slack.deliver(opened, "k1", None, T0)
        note = note_message(
            "Approve scale-vllm: 2 -> 4 replicas?", [Button("approve", "Approve", "a1", style="primary")]
        )
        slack.deliver(Payload(PayloadKind.REPLY, note), "k2", thread, T0)
        closing = {"text": ":white_check_mark: *Resolved* TTFTAnomaly: 1 alert(s) back in band after 4m"}
        slack.deliver(
            Payload(PayloadKind.CLOSE, closing, edit=_firing("RESOLVED", "477ms")), "k3", thread, T0
        )
        slack.deliver(Payload(PayloadKind.OPEN, {"text": "[FIRING:1] SpendAnomaly"}), "k4", None, T0)
    return events


def test_block_kit_reads_as_slack_shows_it() -> None:
    lines = message_lines(_firing("FIRING", "2.24s"))
    assert lines == [
        "| :rotating_light: [FIRING:1] TTFTAnomaly",
        "| :rotating_light: *TTFTAnomaly* FIRING · `model_name=llama-3.1-8b`",
        "| *p99 TTFT is 2.24s* & rising <fast>",
        "| Firing since 2026-11-18 14:00 UTC (3m)",
        "| Prometheus graph [1] · Runbook [2]",
        "| [Silence 1h] [Acknowledge] (primary)",
        "| first notification · @U0001",
        "[1] http://127.0.0.1:9090/graph?g0.expr=up",
        "[2] https://runbooks.example/ttft",
    ]
    # without blocks the text is the message; a bare <url> is shown as it is
    assert message_lines({"text": "see <https://x.example/a> &amp; <!here>"}) == [
        "see https://x.example/a & @here"
    ]


def test_transcript_keeps_threads_together_in_order(tmp_path: Path) -> None:
    events = _conversation(tmp_path)
    assert [(e.thread is not None, e.edited) for e in events] == [
        (False, False),  # the page
        (True, False),  # its chart, in the thread
        (True, False),  # the approval request
        (True, False),  # the closing reply
        (False, True),  # the page edited to RESOLVED
        (False, False),  # another group's page
    ]
    text = render(events, channels={"#alerts": "C0001"}, charts=tmp_path / "slack")
    assert text.splitlines()[0] == (
        "Slack transcript: 5 messages and 1 edit in 2 threads; the first arrived 2026-11-18 14:00:00 UTC"
        " (every time below is UTC)"
    )
    _, first, second = text.split("\n\n== ")
    page = first.splitlines()
    assert page[0] == f"14:00:00  #alerts (C0001)  message {events[0].ts}"
    assert page[1] == "   | :rotating_light: [FIRING:1] TTFTAnomaly"
    chart = next(i for i, line in enumerate(page) if line.startswith("   -> 14:00:05"))
    assert page[chart : chart + 2] == [
        "   -> 14:00:05  reply",
        f"        [file: chart] (saved as {tmp_path / 'slack' / events[1].message['files'][0]['id']}-k1.png)",
    ]
    assert (
        tmp_path / "slack" / f"{events[1].message['files'][0]['id']}-k1.png"
    ).read_bytes() == b"\x89PNG chart"
    rest = page[chart + 2 :]
    assert rest[:3] == [
        "   -> 14:00:10  reply",
        "        Approve scale-vllm: 2 -> 4 replicas?",
        "        [Approve] (primary)",
    ]
    assert rest[3:5] == [
        "   -> 14:00:15  reply",
        "        :white_check_mark: *Resolved* TTFTAnomaly: 1 alert(s) back in band after 4m",
    ]
    assert rest[5:7] == [
        "   -> 14:00:20  edited the message",
        "        | :rotating_light: [RESOLVED:1] TTFTAnomaly",
    ]
    assert second.splitlines() == [
        f"14:00:25  #alerts (C0001)  message {events[5].ts}",
        "   [FIRING:1] SpendAnomaly",
    ]
    assert text.endswith("SpendAnomaly\n")


def test_write_and_edge_cases(tmp_path: Path) -> None:
    path = transcript.write(tmp_path / "out" / "transcript.txt", [])
    assert path.read_text() == "No Slack messages were received.\n"
    assert record(T0, "not a sink line") is None
    assert record(T0, "[C0001] {broken") is None
    assert record(T0, "[C0001] [1, 2]") is None
    # a reply whose parent the sink never reported still gets a heading
    orphan = Event(T0, "C9", {"ts": "2.0", "thread_ts": "1.0", "text": "late"})
    assert render([orphan]).splitlines()[2:5] == [
        "== C9  thread 1.0 (its first message was not received)",
        "   -> 14:00:00  reply",
        "        late",
    ]
