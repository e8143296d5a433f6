"""Block Kit rendering: snapshots of whole messages plus the rules behind them (limits, digest, numbers).

Snapshots live in tests/notify/slack/snapshots/; after an intended change, regenerate them with
``UPDATE_SNAPSHOTS=1 pytest tests/notify/slack/test_blocks.py`` and review the diff.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from alerter import detect
from alerter.config.rules import Rule, Trigger
from alerter.core.model import Alert, AlertState, Labels, Verdict
from alerter.notify.base import Notification, NotifyReason, PayloadKind
from alerter.notify.slack import blocks
from alerter.notify.slack import links as weblinks
from alerter.notify.slack.actions import alert_buttons

AlertFactory = Callable[..., Alert]
T0 = 1_767_225_600.0
SNAPSHOTS = Path(__file__).parent / "snapshots"
TTFT_RULE = Rule(
    alert="TTFTAnomaly", expr="histogram_quantile(0.99, ttft)", baseline={"sensitivity": 3}, unit="seconds"
)
CONTEXT = blocks.RenderContext(
    prometheus_url="http://prometheus:9090", rules={"TTFTAnomaly": blocks.RuleInfo.of(TTFT_RULE)}
)


def note(alerts: list[Alert], reason: NotifyReason = NotifyReason.FIRST, **group: str) -> Notification:
    labels = Labels(group or {"alertname": "TTFTAnomaly"})
    return Notification("oncall", "g1", labels, tuple(alerts), reason, T0)


def check_snapshot(name: str, message: dict[str, Any]) -> None:
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(message, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(text)
    assert path.exists(), f"missing snapshot {path}; run with UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text()


def all_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for a in message["attachments"] for b in a["blocks"]]


def all_text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


def test_snapshot_first_notification_of_one_alert(make_alert: AlertFactory) -> None:
    check_snapshot("first_one_alert", blocks.render_message(note([make_alert()]), CONTEXT))


def test_snapshot_group_with_firing_and_resolved(make_alert: AlertFactory) -> None:
    alerts = [
        make_alert(model_name="llama3-70b"),
        make_alert(model_name="mistral-7b", severity="warning"),
        make_alert(model_name="qwen2-7b", state=AlertState.RESOLVED),
    ]
    check_snapshot("group_mixed", blocks.render_message(note(alerts, NotifyReason.NEW_ALERTS), CONTEXT))


def test_snapshot_closing_reply(make_alert: AlertFactory) -> None:
    check_snapshot("closing", blocks.render_closing(note([make_alert(state=AlertState.RESOLVED)])))


def test_snapshot_digest_of_a_burst(make_alert: AlertFactory) -> None:
    alerts = [make_alert(pod=f"vllm-{i:03d}") for i in range(200)]
    message = blocks.render_message(note(alerts), CONTEXT)
    check_snapshot("digest_200", message)
    assert len(all_blocks(message)) < 10
    assert "Digest of 200 alerts" in all_text(message)


def test_digest_lists_each_rule_and_state(make_alert: AlertFactory) -> None:
    alerts = [make_alert(pod=f"p{i}") for i in range(8)]
    alerts += [make_alert("QueueDepth", pod=f"q{i}") for i in range(5)]
    alerts += [make_alert("QueueDepth", AlertState.RESOLVED, pod=f"r{i}") for i in range(2)]
    text = all_text(blocks.render_message(note(alerts, alertname="x"), CONTEXT))
    assert "*TTFTAnomaly* firing: 8" in text
    assert "*QueueDepth* firing: 5" in text and "*QueueDepth* resolved: 2" in text


def test_many_alerts_below_digest_threshold_stay_within_block_limit(make_alert: AlertFactory) -> None:
    context = blocks.RenderContext(digest_threshold=1000, prometheus_url="http://p", rules=CONTEXT.rules)
    alerts = [make_alert(pod=f"vllm-{i:03d}") for i in range(60)]
    message = blocks.render_message(note(alerts), context)
    found = all_blocks(message)
    assert len(found) == blocks.MAX_BLOCKS
    shown = sum(1 for b in found if b["type"] == "section")
    assert found[-2]["elements"][0]["text"] == f"… and {60 - shown} more"


def test_long_texts_are_clipped_to_slack_limits(make_alert: AlertFactory) -> None:
    alert = make_alert()
    huge = Alert(**{**alert.__dict__, "rule": "R" * 400, "annotations": {"description": "x" * 5000}})
    message = blocks.render_message(note([huge], alertname="R" * 400), CONTEXT)
    sections = [b["text"]["text"] for b in all_blocks(message) if b["type"] == "section"]
    header = all_blocks(message)[0]["text"]["text"]
    assert len(header) == blocks.MAX_HEADER and header.endswith("…")
    assert max(len(s) for s in sections) == blocks.MAX_SECTION
    assert len(message["text"]) <= blocks.MAX_TEXT


@pytest.mark.parametrize(
    ("severity", "colour"),
    [("page", "#D0312D"), ("warning", "#F2A900"), ("info", "#2F80ED"), ("odd", "#E8912D")],
)
def test_colour_follows_worst_severity(make_alert: AlertFactory, severity: str, colour: str) -> None:
    alerts = [make_alert(severity=severity, pod="a"), make_alert(severity="info", pod="b")]
    expected = colour if severity != "odd" else "#2F80ED"
    assert blocks.render_message(note(alerts), CONTEXT)["attachments"][0]["color"] == expected


def test_resolved_group_is_green(make_alert: AlertFactory) -> None:
    message = blocks.render_message(note([make_alert(state=AlertState.RESOLVED)]), CONTEXT)
    assert message["attachments"][0]["color"] == blocks.RESOLVED.colour
    assert all_blocks(message)[0]["text"]["text"].startswith(":white_check_mark: [RESOLVED]")


def test_graph_url_points_at_the_expression_over_recent_hours() -> None:
    url = blocks.graph_url("http://prom:9090/", 'rate(x{a="b"}[5m])', T0, 6 * 3600)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == "/graph"
    assert query["g0.expr"] == ['rate(x{a="b"}[5m])']
    assert query["g0.range_input"] == ["6h"] and query["g0.end_input"] == ["2026-01-01 00:00:00"]


def test_payload_kinds_follow_the_notification(make_alert: AlertFactory) -> None:
    charts: list[Notification] = []

    def chart(n: Notification) -> bytes:
        charts.append(n)
        return b"png"

    context = blocks.RenderContext(chart=chart)
    first = blocks.render_payload(note([make_alert()]), context)
    assert first.kind is PayloadKind.OPEN and first.image == b"png" and first.edit is None
    reply = blocks.render_payload(note([make_alert()], NotifyReason.REPEAT), context)
    assert reply.kind is PayloadKind.REPLY and reply.edit == reply.body and reply.image is None
    close = blocks.render_payload(
        note([make_alert(state=AlertState.RESOLVED)], NotifyReason.RESOLVED), context
    )
    assert close.kind is PayloadKind.CLOSE and "Resolved" in close.body["text"]
    assert len(charts) == 1, "only the opening message carries a chart"


def test_missing_value_says_why(make_alert: AlertFactory) -> None:
    alert = Alert(**{**make_alert().__dict__, "value": math.nan, "reason": "no samples in window"})
    text = all_text(blocks.render_message(note([alert]), CONTEXT))
    assert "No value (no samples in window)" in text


def test_a_threshold_alert_shows_its_condition_not_a_band(make_alert: AlertFactory) -> None:
    base = make_alert().__dict__
    alert = Alert(
        **{
            **base,
            "value": 0.0,
            "expected": math.nan,
            "lower": math.nan,
            "upper": math.nan,
            "fraction": 0.0,
            "tier": "threshold",
        }
    )
    context = replace(CONTEXT, rules={alert.rule: blocks.RuleInfo("up{job='api'}\n  == 0", None)})
    text = all_text(blocks.render_message(note([alert]), context))
    assert "Value *0*" in text and "Threshold rule: `up{job='api'} == 0` returns this series" in text
    assert "out of band" not in text and "σ" not in text


def test_group_labels_clipped_from_the_header_are_shown_in_full_below(make_alert: AlertFactory) -> None:
    long = "m" * 200
    message = blocks.render_message(note([make_alert(model_name=long)], model_name=long), CONTEXT)
    header, scope = all_blocks(message)[:2]
    assert header["text"]["text"].endswith("…")
    assert scope["elements"][0]["text"] == f"`model_name={long}`"


def test_no_block_has_empty_text(make_alert: AlertFactory) -> None:
    for alerts in ([make_alert()], [make_alert(pod=str(i)) for i in range(30)]):
        message = blocks.render_message(note(alerts), CONTEXT)
        for block in all_blocks(message):
            texts = [block["text"]["text"]] if "text" in block else [e["text"] for e in block["elements"]]
            assert all(t.strip() for t in texts)


def test_closing_says_how_long_the_incident_lasted(make_alert: AlertFactory) -> None:
    early = Alert(**{**make_alert(state=AlertState.RESOLVED).__dict__, "resolved_at": T0 - 300})
    text = blocks.render_closing(
        note([early], NotifyReason.RESOLVED, alertname="TTFTAnomaly", model_name="x")
    )["text"]
    assert (
        text == ":white_check_mark: *Resolved* TTFTAnomaly · model_name=x: 1 alert(s) back in band after 5m"
    )


def test_user_supplied_text_cannot_mention_or_disguise_links(make_alert: AlertFactory) -> None:
    """Slack reads <...> in mrkdwn as links and mentions: labels and annotations are escaped."""
    alert = make_alert(model_name="<!channel> & co")
    hostile = Alert(
        **{
            **alert.__dict__,
            "rule": "R<@U123>",
            "annotations": {
                "summary": "<http://evil.example|click here>",
                "description": "a > b & c",
                "team": "<!here>",
                "runbook_url": "https://runbooks.example/a|<!channel>",
            },
        }
    )
    for message in (
        blocks.render_message(note([hostile], alertname="<!everyone>"), CONTEXT),
        blocks.render_closing(note([hostile], alertname="<!everyone>")),
    ):
        # A header is plain_text, which Slack shows as written and never parses for mentions.
        mrkdwn = {
            **message,
            "attachments": [
                {**a, "blocks": [b for b in a["blocks"] if b["type"] != "header"]}
                for a in message.get("attachments", [])
            ],
        }
        text = all_text(mrkdwn)
        for raw in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<http://evil"):
            assert raw not in text, raw
    first = all_text(blocks.render_message(note([hostile]), CONTEXT))
    assert "&lt;!channel&gt; &amp; co" in first and "a &gt; b &amp; c" in first
    assert "<https://runbooks.example/a%7C%3C!channel%3E|" in first


def test_escape_only_touches_the_three_characters() -> None:
    assert blocks.escape("p99 *TTFT* `x` 5% _y_") == "p99 *TTFT* `x` 5% _y_"
    assert blocks.escape("&<>") == "&amp;&lt;&gt;"


NUMBERS = (
    "*820 ms vs 310 ms expected (band 220–400 ms)*",
    "17.0σ above · 90% of the last 5m out of band",
    "Firing since <!date^1767225000^{date_short_pretty} {time}|2025-12-31 23:50 UTC> (10m) · detector: stl",
)
LINKS = ("|Prometheus graph>", "<https://runbooks.example/ttft|Runbook>")
# An entity or a <...> token cut in half leaves a bare "&" or an unbalanced "<" / ">".
_WHOLE_TOKENS = re.compile(r"&(?:amp|lt|gt);|<[^<>]*>")


def assert_well_formed(text: str) -> None:
    rest = _WHOLE_TOKENS.sub("", text)
    assert not set("&<>") & set(rest), f"a cut entity or link in {text[-80:]!r}"


def alert_section(message: dict[str, Any]) -> tuple[str, str]:
    """(the alert's section text, its links line)."""
    _, section, links, _ = all_blocks(message)
    return section["text"]["text"], links["elements"][0]["text"]


def test_numbers_and_links_survive_35_long_labels(make_alert: AlertFactory) -> None:
    alert = make_alert(**{f"label_{i:02d}": f"{i:02d}-" + "v" * 90 for i in range(35)})
    section, links = alert_section(blocks.render_message(note([alert]), CONTEXT))
    assert len(section) <= blocks.MAX_SECTION
    for line in NUMBERS:
        assert line in section.split("\n"), line
    assert all(link in links for link in LINKS)
    shown = section.count("label_") + section.count("model_name=")
    found = re.search(r"` … \((\d+) more labels\)$", section.split("\n")[0])
    assert found is not None, "the labels say how many were left out, after the code span"
    assert shown + int(found.group(1)) == 36 and shown > 0, "35 labels and model_name"
    assert_well_formed(section)


@pytest.mark.parametrize("length", [3000, 10_000])
def test_numbers_and_links_survive_a_long_description(make_alert: AlertFactory, length: int) -> None:
    raw = ("p99 & <queue> " * length)[:length]
    alert = make_alert()
    long = Alert(**{**alert.__dict__, "annotations": {**alert.annotations, "description": raw}})
    section, links = alert_section(blocks.render_message(note([long]), CONTEXT))
    assert len(section) <= blocks.MAX_SECTION
    lines = section.split("\n")
    for line in NUMBERS:
        assert line in lines, line
    assert all(link in links for link in LINKS)
    description = lines[-1]
    assert description.endswith("… (truncated)")
    assert blocks.escape(raw).startswith(description.removesuffix("… (truncated)"))
    assert lines.index(NUMBERS[0]) < len(lines) - 1, "the numbers come before the description"
    assert_well_formed(section)


def test_cuts_never_split_an_escape_entity(make_alert: AlertFactory) -> None:
    alert = make_alert(pod="&" * 400, zone="<>" * 300)
    for offset in range(6):  # moves the cut across every position of an entity
        text = "x" * offset + "&" * 5000
        hostile = Alert(**{**alert.__dict__, "annotations": {"summary": text, "description": text}})
        section = all_blocks(blocks.render_message(note([hostile]), CONTEXT))[1]["text"]["text"]
        assert_well_formed(section)
        assert "… (truncated)" in section and NUMBERS[0] in section


def test_links_are_kept_whole_or_counted(make_alert: AlertFactory) -> None:
    alert = make_alert()
    long = "https://runbooks.example/" + "a" * 1900
    linked = Alert(
        **{
            **alert.__dict__,
            "annotations": {"runbook_url": long, "dashboard_url": "https://grafana.example/d"},
        }
    )
    _, links = alert_section(blocks.render_message(note([linked]), CONTEXT))
    assert len(links) <= blocks.MAX_CONTEXT
    assert_well_formed(links)
    assert "|Prometheus graph>" in links and "<https://grafana.example/d|Dashboard>" in links
    assert long not in links and links.endswith("… (1 more links)"), "too long for the line: counted"


ACTING = blocks.RenderContext(
    prometheus_url="https://prometheus.example.com",
    rules=CONTEXT.rules,
    grafana=weblinks.Grafana(
        "https://grafana.example.com", datasource="prom", dashboard_uid="alerter-engine"
    ),
    engine_url="https://alerter.example.com",
    buttons=alert_buttons,
)


def test_snapshot_firing_alert_with_links_and_buttons(make_alert: AlertFactory) -> None:
    """What a person can open and press: Prometheus, Grafana Explore and dashboard, the alert in
    alerter, the runbook; then Silence 1h / 4h / until resolved, Acknowledge and Not an incident."""
    message = blocks.render_message(note([make_alert()]), ACTING)
    check_snapshot("first_one_alert_actions", message)
    links_line, buttons = all_blocks(message)[2:4]
    labels = re.findall(r"\|([^>]+)>", links_line["elements"][0]["text"])
    assert labels == [
        "Prometheus graph",
        "Grafana Explore",
        "Grafana dashboard",
        "Alert in alerter",
        "Runbook",
    ]
    assert buttons["type"] == "actions"
    assert [(e["action_id"], e["text"]["text"]) for e in buttons["elements"]] == [
        ("silence:1h", "Silence 1h"),
        ("silence:4h", "Silence 4h"),
        ("silence:resolved", "Silence until resolved"),
        ("ack", "Acknowledge"),
        ("noise", "Not an incident"),
    ]
    fingerprint = make_alert().fingerprint
    assert {e["value"] for e in buttons["elements"][:4]} == {fingerprint}
    assert buttons["elements"][4]["value"] == f"{fingerprint}:{make_alert().active_at!r}"


def test_what_people_did_shows_in_later_renderings(make_alert: AlertFactory) -> None:
    said = blocks.Standing((":eyes: Acknowledged by <@U1> at 03:12 UTC",), acknowledged=True)
    context = replace(ACTING, standing=lambda alert, now: said)
    message = blocks.render_message(note([make_alert()]), context)
    section, _, buttons = all_blocks(message)[1:4]
    assert section["text"]["text"].splitlines()[-1] == ":eyes: Acknowledged by <@U1> at 03:12 UTC"
    assert [e["action_id"] for e in buttons["elements"]] == [
        "silence:1h",
        "silence:4h",
        "silence:resolved",
        "noise",
    ]
    judged = blocks.Standing(
        (":white_check_mark: Not an incident, said by <@U2> at 03:20 UTC",), false_page=True
    )
    message = blocks.render_message(note([make_alert()]), replace(ACTING, standing=lambda alert, now: judged))
    section, _, buttons = all_blocks(message)[1:4]
    assert section["text"]["text"].splitlines()[-1].startswith(":white_check_mark: Not an incident, said by")
    assert [e["action_id"] for e in buttons["elements"]][-2:] == ["ack", "real"]


def test_resolved_alerts_keep_only_not_an_incident_and_digests_or_unpressable_have_none(
    make_alert: AlertFactory,
) -> None:
    """A page is often judged after it resolved: the message edited on resolution keeps that button."""
    resolved = blocks.render_message(note([make_alert(state=AlertState.RESOLVED)]), ACTING)
    (actions_block,) = [b for b in all_blocks(resolved) if b["type"] == "actions"]
    assert [e["action_id"] for e in actions_block["elements"]] == ["noise"]
    pending = blocks.render_message(note([make_alert(state=AlertState.PENDING)]), ACTING)
    assert not [b for b in all_blocks(pending) if b["type"] == "actions"]
    many = [make_alert(model_name=f"m{i}") for i in range(11)]
    digest = blocks.render_message(note(many), ACTING)
    assert not [b for b in all_blocks(digest) if b["type"] == "actions"]
    plain = blocks.render_message(note([make_alert()]), replace(ACTING, buttons=None))
    assert not [b for b in all_blocks(plain) if b["type"] == "actions"]
    ten = blocks.render_message(note(many[:10]), ACTING)
    assert len([b for b in all_blocks(ten) if b["type"] == "actions"]) == 10
    assert len(all_blocks(ten)) <= blocks.MAX_BLOCKS


def test_no_links_a_browser_cannot_open(make_alert: AlertFactory) -> None:
    bare = blocks.render_message(note([make_alert()]), blocks.RenderContext(rules=CONTEXT.rules))
    assert "Prometheus graph" not in all_text(bare) and "Grafana" not in all_text(bare)
    assert "Alert in alerter" not in all_text(bare) and "Runbook" in all_text(bare)


def detector_alert(rule: str, verdict: Verdict, fired_at: float, **labels: str) -> Alert:
    """A firing alert carrying a real detector's verdict, as ``core.alerts`` copies it over."""
    names = {"alertname": rule, "severity": "page", **labels}
    return Alert(
        rule=rule,
        group="llm",
        labels=Labels(names),
        state=AlertState.FIRING,
        active_at=fired_at - 300,
        fired_at=fired_at,
        last_eval=float(verdict.timestamps[-1]),
        value=verdict.value,
        expected=verdict.expected_value,
        lower=verdict.lower_value,
        upper=verdict.upper_value,
        score=verdict.score,
        fraction=verdict.fraction,
        tier=verdict.tier,
        reason=verdict.reason,
    )


def section_lines(message: dict[str, Any]) -> list[str]:
    return str(all_blocks(message)[1]["text"]["text"]).split("\n")


def test_snapshot_burn_rate_alert() -> None:
    """A burn rate says how fast each window burns against its factor, never a band or sigmas."""
    rule = Rule(
        alert="LiteLLMErrorBudgetBurn",
        expr='sum(rate(litellm_requests_total{status="error"}[5m])) / sum(rate(litellm_requests_total[5m]))',
        baseline={"detector": "burn_rate", "objective": 0.999},
    )
    assert rule.baseline is not None
    ts = T0 - 7200 + np.arange(0.0, 7200.0, 60.0)
    vs = np.where(ts > T0 - 1500, 0.09, 0.001)  # 9% errors for the last 25 minutes
    verdict = detect.build(rule.baseline).fit(np.empty(0), np.empty(0)).evaluate(ts, vs)
    alert = detector_alert(rule.alert, verdict, T0 - 600, model_group="gpt-4o")
    context = replace(CONTEXT, rules={rule.alert: blocks.RuleInfo.of(rule)})
    message = blocks.render_message(note([alert], alertname=rule.alert), context)
    check_snapshot("burn_rate_alert", message)
    lines = section_lines(message)
    assert lines[1] == "*burning 36.6× over 1h and 90.0× over 5m (fires above 14.4×)*"
    assert lines[2].startswith("error ratio 9.00% (99.9% objective) · 5.1% of a 30-day budget")
    assert "σ" not in all_text(message) and "band" not in all_text(message)


def test_snapshot_forecast_alert() -> None:
    """A spend forecast says the projected spend against the budget and the day it runs out."""
    rule = Rule(
        alert="LiteLLMMonthlySpend",
        expr="sum(litellm_spend_metric_total)",
        baseline={"detector": "forecast", "budget": 1000, "period": "month"},
        unit="usd",
    )
    assert rule.baseline is not None
    start = T0 - 31 * 86400.0  # 1 Dec 2025; the alert is read on 18 Dec
    ts = start + np.arange(0.0, 18 * 86400.0, 3600.0)
    spend = 40.0 * (ts - start) / 86400.0
    verdict = detect.build(rule.baseline).fit(ts, spend).evaluate(ts, spend)
    alert = detector_alert(rule.alert, verdict, float(ts[-1]) - 3600, team="search")
    context = replace(CONTEXT, rules={rule.alert: blocks.RuleInfo.of(rule)})
    message = blocks.render_message(
        Notification(
            "oncall", "g1", Labels(alertname=rule.alert), (alert,), NotifyReason.FIRST, float(ts[-1])
        ),
        context,
    )
    check_snapshot("forecast_alert", message)
    lines = section_lines(message)
    assert lines[1] == "*$1,240.00 of $1,000.00 by 31 Dec at the current rate*"
    assert lines[2] == "budget runs out on 26 Dec (in 7 days) · $718.33 spent so far this period"
    assert "σ" not in all_text(message)


def test_snapshot_latency_alert() -> None:
    """A latency band in the unit the metric name says (seconds), sigmas and the trigger window."""
    rule = Rule(
        alert="VLLMTimeToFirstTokenHigh",
        expr="histogram_quantile(0.99, sum by (le, model_name) "
        "(rate(vllm:time_to_first_token_seconds_bucket[5m])))",
        baseline={"detector": "auto", "direction": "up"},
        trigger=Trigger(window=600.0, fraction=0.8),
        annotations={"summary": "p99 time to first token is high"},
    )
    alert = replace(
        detector_alert(rule.alert, EMPTY_VERDICT, T0 - 900, model_name="llama3-70b"),
        value=2.42,
        expected=0.61,
        lower=0.40,
        upper=0.82,
        fraction=0.9,
        score=0.99,
        tier="stl(1d)",
        reason="",
        annotations=rule.annotations,
    )
    context = replace(CONTEXT, rules={rule.alert: blocks.RuleInfo.of(rule)})
    message = blocks.render_message(note([alert], alertname=rule.alert), context)
    check_snapshot("latency_alert", message)
    lines = section_lines(message)
    assert lines[2:4] == [
        "*2.42 s vs 0.61 s expected (band 0.40–0.82 s)*",
        "25.9σ above · 90% of the last 10m out of band",
    ]


EMPTY_VERDICT = Verdict(
    timestamps=np.array([T0]),
    values=np.array([0.0]),
    expected=np.array([0.0]),
    lower=np.array([0.0]),
    upper=np.array([0.0]),
    scores=np.array([0.0]),
    anomalous=np.array([False]),
    tier="",
)
