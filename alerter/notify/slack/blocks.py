"""Slack Block Kit messages for alert groups: the face of alerter.

``render_payload(notification, context)`` is called by the Slack receiver when the pipeline
enqueues a notification; everything else here is a pure function of the alerts, the context
(Prometheus URL, rule expressions) and ``now``. A message says what (alert name, labels), how
far off (each detector's own words from ``detect.explain``: value vs expected and band in the
rule's unit with robust sigmas, a burn rate against its factor, the day a budget runs out),
since when, which detector tier judged, links (Prometheus graph, Grafana Explore and
dashboard, the alert in the engine's API, runbook, dashboard: only those a browser can open, see
``links``), what people did about it (acknowledged, silenced until when, not an incident) and,
where the Slack app takes button presses, Silence, Acknowledge and Not an incident buttons under
each firing alert and Not an incident under a resolved one (``actions``).
Groups larger than ``digest_threshold`` collapse into one digest, without buttons.

Slack's limits are kept by cutting what matters least first. An alert's section always keeps its
title line, the numbers (value vs expected and band, deviation, since, detector tier) and its
links; its labels and texts (summary, description, other annotations) share what room is left
and say when they were cut ("… (N more labels)", "… (truncated)"). Cuts never split an escape
entity or a ``<url|text>`` (``mrkdwn``); alerts beyond the block limit become "… and N more".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from alerter.config import units
from alerter.config.rules import Rule
from alerter.core.durations import format_duration
from alerter.core.model import Alert, AlertState
from alerter.detect.explain import THRESHOLD_TIER as THRESHOLD_TIER
from alerter.detect.explain import Numbers, RuleFacts, explain
from alerter.notify.base import Notification, NotifyReason, Payload, PayloadKind
from alerter.notify.slack import links as weblinks
from alerter.notify.slack import mrkdwn
from alerter.notify.slack.mrkdwn import escape as escape
from alerter.notify.slack.mrkdwn import link_target as link_target

# Slack's limits: "up to 50 blocks in each message" (https://docs.slack.dev/reference/block-kit/blocks);
# a section's text "maximum length is 3000 characters", its fields at most 10 of 2000 characters
# each, which these messages do not use (https://docs.slack.dev/reference/block-kit/blocks/section-block);
# a header's text at most 150 (https://docs.slack.dev/reference/block-kit/blocks/header-block); a
# message's top-level ``text`` is truncated by Slack beyond 40,000 characters
# (https://api.slack.com/changelog/2018-04-truncating-really-long-messages).
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_TEXT = 40_000
MAX_CONTEXT = 2000
"""Our own bound for one context line (Slack allows 3000 per text object): links and the footer."""
MAX_NAME = 200
"""Characters of a rule name in an alert's title line, so the numbers always have room."""
MAX_LABEL = 200
MAX_LABELS = 1000
"""Characters of one series label, and of an alert's label list, before "… (N more labels)"."""
_LINK_KEYS = {
    "runbook_url": "Runbook",
    "runbook": "Runbook",
    "dashboard_url": "Dashboard",
    "dashboard": "Dashboard",
}
_TEXT_KEYS = ("summary", "description")
_REASONS = {
    NotifyReason.FIRST: "first notification",
    NotifyReason.NEW_ALERTS: "new alerts in group",
    NotifyReason.RESOLVED: "alerts resolved",
    NotifyReason.REPEAT: "still firing (repeat interval)",
}


@dataclass(frozen=True)
class Severity:
    colour: str
    emoji: str


_SEVERITIES = {
    "critical": Severity("#D0312D", ":rotating_light:"),
    "page": Severity("#D0312D", ":rotating_light:"),
    "error": Severity("#D0312D", ":rotating_light:"),
    "warning": Severity("#F2A900", ":warning:"),
    "ticket": Severity("#F2A900", ":warning:"),
    "info": Severity("#2F80ED", ":information_source:"),
}
_DEFAULT_SEVERITY = Severity("#E8912D", ":large_orange_circle:")
RESOLVED = Severity("#2EB67D", ":white_check_mark:")


@dataclass(frozen=True)
class RuleInfo:
    """What a message needs to know about a rule beyond its alerts.

    ``facts`` (``RuleInfo.of`` takes them from the rule: baseline, unit, trigger window) let each
    detector explain its alerts (``detect.explain``). Without them, ``sensitivity`` (band
    half-width in robust sigmas) alone turns a band into sigmas; with neither, no sigmas are said.
    """

    expr: str = ""
    sensitivity: float | None = None
    facts: RuleFacts | None = None

    @classmethod
    def of(cls, rule: Rule) -> RuleInfo:
        """Everything a message needs of ``rule``, its unit inferred when it names none."""
        sensitivity = None if rule.baseline is None else float(rule.baseline.get("sensitivity", 3))
        return cls(rule.expr, sensitivity, units.facts(rule))

    @property
    def explained_by(self) -> RuleFacts:
        """The facts for ``detect.explain``: ``facts``, or as much as ``sensitivity`` says."""
        if self.facts is not None:
            return self.facts
        return RuleFacts(baseline=None if self.sensitivity is None else {"sensitivity": self.sensitivity})


@dataclass(frozen=True)
class Standing:
    """What people did about an alert (acknowledged, silenced, said it was not an incident), as
    lines for its section."""

    lines: tuple[str, ...] = ()
    acknowledged: bool = False
    silenced: bool = False
    false_page: bool = False


@dataclass(frozen=True)
class RenderContext:
    """Per-receiver rendering settings; ``chart`` draws a PNG for a group (or None).

    ``prometheus_url`` and ``engine_url`` are the addresses a browser opens (``links.browser_base``
    chose them); None means no such link. ``standing`` says what people did about an alert;
    ``buttons`` gives a firing or resolved alert's buttons, and is None where nobody can press
    them (an incoming webhook, or no signing secret to verify the presses).
    """

    prometheus_url: str | None = None
    graph_range: float = 6 * 3600.0
    rules: Mapping[str, RuleInfo] = field(default_factory=dict)
    digest_threshold: int = 10
    chart: Callable[[Notification], bytes | None] | None = None
    grafana: weblinks.Grafana | None = None
    engine_url: str | None = None
    standing: Callable[[Alert, float], Standing] | None = None
    buttons: Callable[[Alert, Standing | None], Sequence[Button]] | None = None


def render_payload(notification: Notification, context: RenderContext) -> Payload:
    """The payload for one notification: open, reply in the thread, or close it."""
    message = render_message(notification, context)
    kind = notification.kind
    if kind is PayloadKind.OPEN:
        image = context.chart(notification) if context.chart is not None else None
        return Payload(kind, message, image=image)
    if kind is PayloadKind.REPLY:
        return Payload(kind, message, edit=message)
    return Payload(kind, render_closing(notification), edit=message)


def render_message(notification: Notification, context: RenderContext) -> dict[str, Any]:
    """``{"text", "attachments": [{"color", "blocks"}]}``: the whole group in one message."""
    alerts = _ordered(notification.alerts)
    severity = severity_of(notification)
    title = _title(notification)
    if len(alerts) > context.digest_threshold:
        blocks = _digest_blocks(notification, alerts, context)
    else:
        blocks = [b for a in alerts for b in _alert_blocks(a, notification.now, context)]
    head: list[dict[str, Any]] = [_header(f"{severity.emoji} {title}")]
    if len(title) + len(severity.emoji) + 1 > MAX_HEADER and _scope(notification):
        head.append(_context(" ".join(f"`{escape(f'{k}={v}')}`" for k, v in _scope(notification).items())))
    foot = _context(f"{_REASONS[notification.reason]} · {_date(notification.now)}")
    body = _fit(head, blocks, foot)
    return {
        "text": mrkdwn.clip(escape(title), MAX_TEXT),
        "attachments": [{"color": severity.colour, "blocks": body}],
    }


def render_closing(notification: Notification) -> dict[str, Any]:
    """The short thread reply that announces a group is resolved, with how long it lasted."""
    alerts = notification.alerts
    now = notification.now
    started = min((a.fired_at or a.active_at or now) for a in alerts) if alerts else now
    ended = max((a.resolved_at or now) for a in alerts) if alerts else now
    scope = ", ".join(f"{k}={v}" for k, v in _scope(notification).items())
    name = _group_name(notification) + (f" · {scope}" if scope else "")
    text = f"{RESOLVED.emoji} *Resolved* {escape(name)}: {len(alerts)} alert(s) back in band after {_minutes(ended - started)}"
    return {"text": mrkdwn.clip(text, MAX_TEXT), "blocks": [_section(text)]}


@dataclass(frozen=True)
class Button:
    """An interactive button; Slack posts ``action_id`` and ``value`` back to the callback URL."""

    action_id: str
    text: str
    value: str
    style: str | None = None

    def __post_init__(self) -> None:
        if self.style not in (None, "primary", "danger"):
            raise ValueError(f"button style must be primary, danger or None, got {self.style!r}")
        if not 0 < len(self.action_id) <= 255 or len(self.value) > 2000:
            raise ValueError("button action_id must be 1-255 characters and value at most 2000")


MAX_ACTIONS = 25
"""Elements in one actions block: "There is a maximum of 25 elements in each action block"
(https://api.slack.com/reference/block-kit/blocks, Actions block); a button's text is at most 75
characters (https://docs.slack.dev/reference/block-kit/block-elements/button-element)."""


def note_message(text: str, buttons: Sequence[Button] = ()) -> dict[str, Any]:
    """A thread note (a remediation decision, an approval request) with optional buttons."""
    blocks: list[dict[str, Any]] = [_section(text)]
    if buttons:
        blocks.append(_actions(buttons))
    return {"text": mrkdwn.clip(text, MAX_TEXT), "blocks": blocks}


def _actions(buttons: Sequence[Button]) -> dict[str, Any]:
    elements = []
    for button in buttons[:MAX_ACTIONS]:
        element: dict[str, Any] = {
            "type": "button",
            "action_id": button.action_id,
            "text": {"type": "plain_text", "text": _clip_plain(button.text, 75)},
            "value": button.value,
        }
        if button.style:
            element["style"] = button.style
        elements.append(element)
    return {"type": "actions", "elements": elements}


def severity_of(notification: Notification) -> Severity:
    """The worst severity among firing alerts; green when nothing fires."""
    firing = notification.firing
    if not firing:
        return RESOLVED
    order = list(_SEVERITIES)
    found = [a.labels.get("severity", "") for a in firing]
    known = sorted((s for s in found if s in _SEVERITIES), key=order.index)
    return _SEVERITIES[known[0]] if known else _DEFAULT_SEVERITY


def _severity(alert: Alert) -> Severity:
    return _SEVERITIES.get(alert.labels.get("severity", ""), _DEFAULT_SEVERITY)


def graph_url(base: str, expr: str, now: float, range_seconds: float) -> str:
    """Prometheus's graph page for ``expr`` over the hours up to ``now``."""
    end = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S")
    query = {
        "g0.expr": expr,
        "g0.tab": "0",
        "g0.range_input": format_duration(range_seconds),
        "g0.end_input": end,
    }
    return f"{base.rstrip('/')}/graph?{urlencode(query)}"


def _alert_blocks(alert: Alert, now: float, context: RenderContext) -> list[dict[str, Any]]:
    """The alert's section and links: the title line, numbers and since line are kept whole; the
    labels, then the summary, description and other annotations get what room is left."""
    info = _info(context, alert)
    resolved = alert.state is AlertState.RESOLVED
    emoji = RESOLVED.emoji if resolved else _severity(alert).emoji
    name = mrkdwn.shorten(alert.rule, MAX_NAME, mrkdwn.ELLIPSIS)
    head = f"{emoji} *{name}* {'RESOLVED' if resolved else 'FIRING'}"
    standing = context.standing(alert, now) if context.standing is not None else None
    numbers = [*_numbers(alert, info, now), _since(alert, now), *(standing.lines if standing else ())]
    room = MAX_SECTION - len(head) - sum(1 + len(line) for line in numbers)
    labels = _labels(alert, min(room, MAX_LABELS))
    room -= len(labels)
    summary, texts = _texts(alert, room)
    lines = [head + labels, *summary, *numbers, *texts]
    out = [_section("\n".join(lines))]
    links = _links(alert, now, context, info)
    if links:
        out.append(_context(mrkdwn.join_within(links, MAX_CONTEXT, noun="links", separator=" · ")))
    if context.buttons is not None and alert.state in (AlertState.FIRING, AlertState.RESOLVED):
        buttons = context.buttons(alert, standing)
        if buttons:
            out.append(_actions(buttons))
    return out


def _texts(alert: Alert, room: int) -> tuple[list[str], list[str]]:
    """(summary line, the description and other annotations), each cut to the room still left.

    The summary goes above the numbers and the rest below them, so a long description never
    pushes the numbers out of sight (Slack folds long sections behind "See more").
    """
    summary, rest = [], []
    if alert.annotations.get("summary"):
        text = mrkdwn.shorten(alert.annotations["summary"], room - 3)  # a newline and two asterisks
        if text:
            summary.append(f"*{text}*")
            room -= len(text) + 3
    others = [
        f"{k}: {v}" for k, v in alert.annotations.items() if k not in _TEXT_KEYS and k not in _LINK_KEYS
    ]
    for raw in [alert.annotations.get("description", ""), *others]:
        text = mrkdwn.shorten(raw, room - 1) if raw else ""
        if text:
            rest.append(text)
            room -= len(text) + 1
    return summary, rest


def _labels(alert: Alert, limit: int) -> str:
    """`` · `k=v, ...` `` for the title line, with "… (N more labels)" when they do not all fit."""
    items = [mrkdwn.shorten(f"{k}={v}", MAX_LABEL, mrkdwn.ELLIPSIS) for k, v in _series_labels(alert)]
    prefix = " · "
    text = mrkdwn.join_within(items, limit - len(prefix), noun="labels", wrap=("`", "`"))
    return prefix + text if text else ""


def _numbers(alert: Alert, info: RuleInfo, now: float) -> list[str]:
    """The detector's own explanation (``detect.explain``): the headline in bold, then the detail."""
    if not math.isfinite(alert.value):
        return [
            f"No value ({mrkdwn.shorten(alert.reason, MAX_NAME, mrkdwn.ELLIPSIS)})"
            if alert.reason
            else "No value"
        ]
    said = explain(Numbers.of(alert), info.explained_by, now)
    if alert.tier == THRESHOLD_TIER:
        # A Prometheus threshold rule: no band, no deviation; the condition is the expression.
        condition = mrkdwn.shorten(" ".join(info.expr.split()), MAX_NAME, mrkdwn.ELLIPSIS)
        line = f"Value *{escape(said.headline)}*"
        return [line, f"Threshold rule: `{condition}` returns this series" if condition else "Threshold rule"]
    lines = [f"*{escape(said.headline)}*"]
    if said.detail:
        lines.append(escape(said.detail))
    return lines


def _since(alert: Alert, now: float) -> str:
    start = alert.fired_at or alert.active_at
    tier = f" · detector: {alert.tier}" if alert.tier else ""
    if alert.state is AlertState.RESOLVED and alert.resolved_at is not None and start is not None:
        took = _minutes(alert.resolved_at - start)
        return f"Resolved {_date(alert.resolved_at)} after {took}{tier}"
    if start is None:
        return f"Firing{tier}"
    return f"Firing since {_date(start)} ({_minutes(now - start)}){tier}"


def _links(alert: Alert, now: float, context: RenderContext, info: RuleInfo) -> list[str]:
    links = []
    if context.prometheus_url and info.expr:
        links.append(
            f"<{graph_url(context.prometheus_url, info.expr, now, context.graph_range)}|Prometheus graph>"
        )
    grafana = context.grafana
    if grafana is not None:
        start = now - context.graph_range
        if info.expr:
            links.append(
                f"<{link_target(weblinks.explore_url(grafana, info.expr, start, now))}|Grafana Explore>"
            )
        board = weblinks.dashboard_url(grafana, alert.rule, start, now)
        if board:
            links.append(f"<{link_target(board)}|Grafana dashboard>")
    if context.engine_url:
        links.append(
            f"<{link_target(weblinks.alert_url(context.engine_url, alert.fingerprint))}|Alert in alerter>"
        )
    seen = set()
    for key, label in _LINK_KEYS.items():
        url = alert.annotations.get(key)
        if url and label not in seen:
            seen.add(label)
            links.append(f"<{link_target(url)}|{label}>")
    return links


def _digest_blocks(
    notification: Notification, alerts: Sequence[Alert], context: RenderContext
) -> list[dict[str, Any]]:
    counts = Counter((a.rule, a.state) for a in alerts)
    rows = [f"• *{escape(rule)}* {state.value}: {n}" for (rule, state), n in counts.most_common()]
    blocks = [_section(f"*Digest of {len(alerts)} alerts* (more than {context.digest_threshold} at once)")]
    blocks.append(_section(_lines_with_more(rows, MAX_SECTION)))
    top = sorted(notification.firing, key=lambda a: (-a.score, a.fingerprint))[:5]
    if top:
        worst = [
            f"• {escape(a.rule)} `{escape(_series(a))}` "
            + escape(explain(Numbers.of(a), _info(context, a).explained_by, notification.now).headline)
            for a in top
        ]
        blocks.append(_section("*Largest departures*\n" + _lines_with_more(worst, MAX_SECTION - 30)))
    return blocks


def _fit(
    head: list[dict[str, Any]], blocks: list[dict[str, Any]], foot: dict[str, Any]
) -> list[dict[str, Any]]:
    room = MAX_BLOCKS - len(head) - 1
    if len(blocks) > room:
        hidden = sum(1 for b in blocks[room - 1 :] if b["type"] == "section")
        blocks = [*blocks[: room - 1], _context(f"… and {hidden} more")]
    return [*head, *blocks, foot]


def _lines_with_more(lines: Sequence[str], limit: int) -> str:
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        tail = f"\n… and {len(lines) - i} more"
        if used + len(line) + 1 + len(tail) > limit:
            return "\n".join(out) + tail
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def _ordered(alerts: Sequence[Alert]) -> list[Alert]:
    """Firing first, then by score, so truncation hides the least interesting alerts."""
    return sorted(alerts, key=lambda a: (a.state is not AlertState.FIRING, -a.score, a.fingerprint))


def _title(notification: Notification) -> str:
    firing, resolved = len(notification.firing), len(notification.resolved)
    state = f"FIRING:{firing}" if firing else "RESOLVED"
    extra = f" ({resolved} resolved)" if firing and resolved else ""
    scope = ", ".join(f"{k}={v}" for k, v in _scope(notification).items())
    return f"[{state}] {_group_name(notification)}{extra}" + (f" · {scope}" if scope else "")


def _scope(notification: Notification) -> dict[str, str]:
    """The group labels that say where (alertname is already the title)."""
    return {k: v for k, v in notification.group_labels.items() if k != "alertname"}


def _group_name(notification: Notification) -> str:
    if "alertname" in notification.group_labels:
        return notification.group_labels["alertname"]
    rules = sorted({a.rule for a in notification.alerts})
    return rules[0] if len(rules) == 1 else f"{len(rules)} alert rules"


def _series(alert: Alert) -> str:
    return ", ".join(f"{k}={v}" for k, v in _series_labels(alert))


def _series_labels(alert: Alert) -> list[tuple[str, str]]:
    """The labels that tell series apart (alertname and severity are already said)."""
    return [(k, v) for k, v in alert.labels.items() if k not in ("alertname", "severity")]


def _info(context: RenderContext, alert: Alert) -> RuleInfo:
    return context.rules.get(alert.rule, RuleInfo())


def _minutes(seconds: float) -> str:
    return format_duration(60 * round(seconds / 60)) if seconds >= 60 else "<1m"


def _date(ts: float) -> str:
    """Slack shows this in each reader's timezone; the fallback is UTC."""
    fallback = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time}}|{fallback}>"


def _clip_plain(text: str, limit: int) -> str:
    """For plain_text only (headers, buttons), which has no entities or links to keep whole."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _clip_plain(text, MAX_HEADER), "emoji": True},
    }


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn.clip(text, MAX_SECTION)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn.clip(text, MAX_CONTEXT)}]}
