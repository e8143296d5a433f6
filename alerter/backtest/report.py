"""The backtest's outputs: a JSON document for CI, a text summary, a self-contained HTML page.

``alerter.backtest.replay`` calls ``to_json`` on its results (one replay, or two with ``--against``),
prints ``text`` of that document and writes ``html``. The HTML embeds everything (styles inline,
charts as base64 PNG drawn by ``alerter.notify.slack.chart.render_chart``), so it can be mailed or
attached to a CI run and opened offline.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alerter.core.durations import format_duration
from alerter.core.errors import AlerterError
from alerter.core.model import Alert

if TYPE_CHECKING:
    from alerter.backtest.record import Episode
    from alerter.backtest.replay import Result
    from alerter.engine.engine import Engine

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


def result_json(result: Result) -> dict[str, Any]:
    """One replay as plain JSON values (times are unix seconds)."""
    return {
        "range": {"from": result.start, "to": result.end, "step": result.step},
        "rules": result.rules,
        "totals": _summary(result),
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


def to_json(result: Result, against: Result | None = None) -> dict[str, Any]:
    """The backtest document: ``{"a": replay}`` or, with ``against``, also ``"b"`` and ``"diff"``."""
    doc: dict[str, Any] = {"a": result_json(result)}
    if against is not None:
        doc["b"] = result_json(against)
        doc["diff"] = compare(doc["a"]["alerts"], doc["b"]["alerts"], result.end)
    return doc


def _when(t: float | None) -> str:
    return "still firing" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _series(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")


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
            length = format_duration((e["resolved_at"] or part["range"]["to"]) - e["active_at"])
            lines.append(
                f"  {e['rule']:<28} {_series(e['labels']):<50} {_when(e['fired_at'])} -> "
                f"{_when(e['resolved_at'])} ({length})"
            )
        for key, error in part["rule_errors"].items():
            lines.append(f"  error in {key}: {error}")
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


__all__ = ["chart", "compare", "html", "result_json", "text", "to_json"]
