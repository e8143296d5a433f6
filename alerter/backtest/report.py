"""The backtest's outputs: a JSON document for CI, a text summary, a self-contained HTML page.

``alerter.backtest.replay`` calls ``to_json`` on its results (one replay, or two with ``--against``;
with ``--truth``, scored by ``alerter.backtest.truth``), prints ``text`` of that document and
writes ``html``. Every rule gets a row saying how close it came to firing
(``alerter.backtest.closest``), and every alert says how long it was pending before it fired and
how long it fired. The HTML embeds everything (styles inline,
charts as base64 PNG drawn by ``alerter.notify.slack.chart.render_chart``), so it can be mailed or
attached to a CI run and opened offline.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alerter.core.durations import format_duration
from alerter.core.errors import AlerterError
from alerter.core.model import Alert

if TYPE_CHECKING:
    from alerter.backtest.record import Episode
    from alerter.backtest.replay import Result
    from alerter.backtest.truth import Truth
    from alerter.engine.engine import Engine
    from alerter.notify.pages import PageVerdict

WEEK = 7 * 86400.0
NOISIEST = 5


def chart(engine: Engine, alert: Alert, episode: Episode, now: float, span: float) -> bytes | None:
    """PNG of the episode's series with its band, the firing span shaded; None when there is no data."""
    from alerter.notify.slack.chart import render_chart

    try:
        verdict = engine.recent_verdict(alert, now, span)
    except AlerterError:
        return None
    if verdict is None or len(verdict) == 0:
        return None
    ts = verdict.timestamps
    firing = (ts >= episode.active_at) & (ts <= episode.end(now))
    series = ", ".join(
        f"{k}={v}" for k, v in sorted(episode.labels.items()) if k not in ("alertname", "severity")
    )
    title = f"{episode.rule} · {series}" if series else episode.rule
    return render_chart(
        ts, verdict.values, verdict.expected, verdict.lower, verdict.upper, firing, None, title
    )


def _summary(result: Result) -> dict[str, Any]:
    weeks = (result.end - result.start) / WEEK
    episodes = result.episodes
    per_receiver = Counter(d.receiver for d in result.deliveries if d.reason != "note")
    pages = sum(1 for d in result.deliveries if d.pages)
    noise = Counter(e.rule for e in episodes)
    return {
        "alerts": len(episodes),
        "notifications": sum(per_receiver.values()),
        "notifications_per_receiver": dict(sorted(per_receiver.items())),
        "pages": pages,
        "pages_per_week": round(pages / weeks, 2) if weeks > 0 else 0.0,
        "noisiest_rules": [{"rule": r, "alerts": n} for r, n in noise.most_common(NOISIEST)],
        "remediation_decisions": dict(sorted(Counter(e["decision"] for e in result.events).items())),
    }


def durations(alert: Mapping[str, Any], until: float) -> tuple[float | None, float]:
    """(pending, active) seconds of one alert of the document: pending from turning pending to
    firing (None when it never fired), active from firing (else turning pending) to resolving."""
    end = alert["resolved_at"] if alert["resolved_at"] is not None else until
    fired = alert["fired_at"]
    if fired is None:
        return None, end - alert["active_at"]
    return max(fired - alert["active_at"], 0.0), end - fired


def per_rule(result: Result) -> list[dict[str, Any]]:
    """One row per rule: alerts, how many fired, pages naming it, and how close it came to firing."""
    fired = Counter(e.rule for e in result.episodes if e.fired_at is not None)
    alerts = Counter(e.rule for e in result.episodes)
    pages = Counter(rule for d in result.deliveries if d.pages for rule in {a["rule"] for a in d.firing})
    names = sorted(set(result.closest) | set(alerts))
    rows = []
    for name in names:
        closest = result.closest.get(name, {"stage": "none", "summary": "not evaluated", "peak": None})
        rest = {k: v for k, v in closest.items() if k != "rule"}
        rows.append(
            {"rule": name, "alerts": alerts[name], "fired": fired[name], "pages": pages[name], **rest}
        )
    return rows


def result_json(result: Result) -> dict[str, Any]:
    """One replay as plain JSON values (times are unix seconds)."""
    return {
        "range": {"from": result.start, "to": result.end, "step": result.step},
        "rules": result.rules,
        "totals": _summary(result),
        "per_rule": per_rule(result),
        "alerts": [e.to_json() for e in result.episodes],
        "notifications": [d.to_json() for d in result.deliveries],
        "remediation": result.events,
        "remediation_changes": result.changes,
        "rule_errors": result.errors,
        "run": {
            "seconds": round(result.seconds, 3),
            "ticks": result.ticks,
            "queries_sent": result.fetches,
            "queries_served_from_memory": result.served,
        },
    }


def _overlaps(a: dict[str, Any], b: dict[str, Any], end: float) -> bool:
    a_end = a["resolved_at"] if a["resolved_at"] is not None else end
    b_end = b["resolved_at"] if b["resolved_at"] is not None else end
    return bool(a["active_at"] <= b_end and b["active_at"] <= a_end)


def compare(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]], end: float) -> dict[str, Any]:
    """Alerts of A and B matched by rule, labels and overlapping time: only in A, only in B, both."""
    unmatched_b = list(b)
    only_a, both = [], []
    for ea in a:
        match = next(
            (
                eb
                for eb in unmatched_b
                if eb["rule"] == ea["rule"] and eb["labels"] == ea["labels"] and _overlaps(ea, eb, end)
            ),
            None,
        )
        if match is None:
            only_a.append(ea)
        else:
            unmatched_b.remove(match)
            both.append({"a": ea, "b": match})
    return {"only_a": only_a, "only_b": unmatched_b, "both": both}


def flagged_json(
    verdicts: Sequence[PageVerdict], alerts: Sequence[dict[str, Any]], start: float, end: float, source: str
) -> dict[str, Any]:
    """The production pages people confirmed were not incidents ("Not an incident" in Slack) whose
    episode began in the replayed range, each with whether this replay still pages it: an alert of
    the same rule and labels that fired and overlaps the episode. Per rule, how many were flagged
    and how many this rule set still pages: was the tuning fixing the noise users flagged?"""
    rows: list[dict[str, Any]] = []
    per_rule: dict[str, dict[str, int]] = {}
    for verdict in verdicts:
        page = verdict.page
        if not start <= page.active_at <= end:
            continue
        episode = {"active_at": page.active_at, "resolved_at": page.resolved_at}
        still = any(
            a["rule"] == page.rule
            and a["labels"] == page.labels
            and a["fired_at"] is not None
            and _overlaps(a, episode, end)
            for a in alerts
        )
        rows.append(
            {
                "rule": page.rule,
                "group": page.group,
                "labels": page.labels,
                "active_at": page.active_at,
                "resolved_at": page.resolved_at,
                "by": verdict.by,
                "at": verdict.at,
                "still_paged": still,
            }
        )
        counts = per_rule.setdefault(page.rule, {"flagged": 0, "still_paged": 0})
        counts["flagged"] += 1
        counts["still_paged"] += int(still)
    return {"source": source, "false_pages": rows, "per_rule": dict(sorted(per_rule.items()))}


def to_json(
    result: Result,
    against: Result | None = None,
    *,
    truth: Truth | None = None,
    tolerance: float | None = None,
    flagged: tuple[str, Sequence[PageVerdict]] | None = None,
) -> dict[str, Any]:
    """The backtest document: ``{"a": replay}`` or, with ``against``, also ``"b"`` and ``"diff"``.

    With ``truth`` each side has a ``"truth"`` section scoring its alerts against the incidents
    (``tolerance`` seconds either side of each, default ``truth.DEFAULT_TOLERANCE``). With
    ``flagged`` (the production store's name and its confirmed false pages) each side has a
    ``"flagged"`` section (``flagged_json``).
    """
    from alerter.backtest import truth as scoring

    doc: dict[str, Any] = {"a": result_json(result)}
    if against is not None:
        doc["b"] = result_json(against)
        doc["diff"] = compare(doc["a"]["alerts"], doc["b"]["alerts"], result.end)
    if truth is not None:
        slack = scoring.DEFAULT_TOLERANCE if tolerance is None else tolerance
        for side in ("a", "b"):
            if side in doc:
                part = doc[side]
                rng = part["range"]
                part["truth"] = scoring.score(truth, part["alerts"], rng["from"], rng["to"], slack)
    if flagged is not None:
        source, verdicts = flagged
        for side in ("a", "b"):
            if side in doc:
                part = doc[side]
                rng = part["range"]
                part["flagged"] = flagged_json(verdicts, part["alerts"], rng["from"], rng["to"], source)
    return doc


def _when(t: float | None) -> str:
    return "still firing" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _series(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return format_duration(max(round(seconds), 0)) if seconds >= 1 or seconds == 0 else "0s"


def _delay(seconds: float | None) -> str:
    """A detection delay, signed: a page a little before the recorded start is ``-1m``."""
    if seconds is None:
        return "-"
    return ("-" if seconds < 0 else "+") + format_duration(abs(round(seconds)))


def alert_times(alert: dict[str, Any], until: float) -> str:
    """``fired -> resolved (active 25m, pending 5m)``: active counts from firing, as the row reads."""
    pending, active = durations(alert, until)
    if alert["fired_at"] is None:
        return f"{_when(alert['active_at'])} -> {_when(alert['resolved_at'])} (pending {_span(active)}, never fired)"
    return (
        f"{_when(alert['fired_at'])} -> {_when(alert['resolved_at'])} "
        f"(active {_span(active)}, pending {_span(pending)})"
    )


def peak_line(row: dict[str, Any]) -> str:
    """The rule table's peak: what decides, its threshold, when and on which series."""
    peak = row.get("peak")
    if not peak:
        return ""
    series = _series(peak["labels"])
    return f"{peak['text']} at {_when(peak['at'])}" + (f" on {series}" if series else "")


def _truth_lines(score: dict[str, Any]) -> list[str]:
    totals = score["totals"]
    lines = [
        f"truth ({score['file']}, tolerance {_span(score['tolerance'])}): {totals['caught']} of "
        f"{totals['incidents']} incidents caught, median delay {_delay(totals['median_delay'])}, "
        f"{totals['false_pages']} false pages of {totals['pages']} alerts fired"
        + (f" ({totals['outside']} incidents outside the range)" if totals["outside"] else "")
    ]
    for i in score["incidents"]:
        what = f"{i['kind']} on {i['model']} {_when(i['start'])} ({_span(i['end'] - i['start'])})"
        if i["caught"]:
            first = i["first_page"]
            lines.append(
                f"  caught  {what}: {_delay(i['delay'])} by {first['rule']} {_series(first['labels'])}"
            )
        else:
            lines.append(f"  MISSED  {what}")
    for rule, t in score["per_rule"].items():
        lines.append(
            f"  {rule:<28} caught {t['caught']}, {t['false_pages']} false pages of {t['pages']} fired, "
            f"median delay {_delay(t['median_delay'])}"
        )
    return lines


def flagged_lines(flagged: dict[str, Any]) -> list[str]:
    """The production false pages in the range, per rule: flagged, and still paged by this replay."""
    rows = flagged["false_pages"]
    still = sum(1 for r in rows if r["still_paged"])
    lines = [
        f"not an incident in production ({flagged['source']}): {len(rows)} confirmed false pages in the range, "
        f"{still} still paged by this replay, {len(rows) - still} no longer"
    ]
    for rule, n in flagged["per_rule"].items():
        lines.append(f"  {rule:<28} {n['flagged']} flagged, {n['still_paged']} still paged")
    return lines


def text(doc: dict[str, Any]) -> str:
    """A terminal summary: per side totals and alerts, then the difference."""
    lines: list[str] = []
    for side in ("a", "b"):
        if side not in doc:
            continue
        part = doc[side]
        totals = part["totals"]
        head = "rule set B" if side == "b" else ("rule set A" if "b" in doc else "backtest")
        lines.append(
            f"{head}: {totals['alerts']} alerts, {totals['notifications']} notifications, "
            f"{totals['pages_per_week']} pages/week, {part['run']['ticks']} ticks in {part['run']['seconds']:.1f}s"
        )
        for e in part["alerts"]:
            lines.append(
                f"  {e['rule']:<28} {_series(e['labels']):<50} {alert_times(e, part['range']['to'])}"
            )
        for key, error in part["rule_errors"].items():
            lines.append(f"  error in {key}: {error}")
        lines.append("  per rule:")
        for row in part["per_rule"]:
            fired = f"fired {row['fired']}" if row["fired"] else "never fired"
            if row["fired"]:
                detail = "peak " + peak_line(row) if row.get("peak") else ""
            elif row.get("peak") and row["stage"] == "points":
                detail = "closest: " + peak_line(row)
            else:
                detail = row["summary"]
            lines.append(f"    {row['rule']:<28} {fired:<12} {detail}")
        if "truth" in part:
            lines += ["  " + line for line in _truth_lines(part["truth"])]
        if "flagged" in part:
            lines += ["  " + line for line in flagged_lines(part["flagged"])]
    if "diff" in doc:
        diff = doc["diff"]
        lines.append(
            f"only in A: {len(diff['only_a'])}, only in B: {len(diff['only_b'])}, in both: {len(diff['both'])}"
        )
    return "\n".join(lines)


def html(doc: dict[str, Any], result: Result, against: Result | None = None) -> str:
    """The self-contained HTML page (no external URL: styles inline, charts as data: URIs)."""
    from alerter.backtest.html import page

    charts = {("a", e.fingerprint, e.fired_at): e.chart for e in result.episodes if e.chart}
    if against is not None:
        charts |= {("b", e.fingerprint, e.fired_at): e.chart for e in against.episodes if e.chart}
    images = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in charts.items()}
    return page(doc, images)


__all__ = ["chart", "compare", "flagged_json", "flagged_lines", "html", "result_json", "text", "to_json"]
