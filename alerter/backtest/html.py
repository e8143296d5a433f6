"""The backtest's HTML page, built from the JSON document and the episodes' charts.

Called by ``alerter.backtest.report.html``. Every value is escaped; the page links nothing
outside itself (inline CSS, charts as ``data:`` URIs), so it renders offline and from CI
artifacts. Sections: totals, alerts per rule (with charts), notifications per receiver,
remediation decisions, and with two rule sets the alerts found by only one of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from alerter.core.durations import format_duration

Images = Mapping[tuple[str, str, float | None], str]

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.9em;vertical-align:top}
th{background:#f0f0f0}
h2{border-bottom:2px solid #ddd;padding-bottom:.2em}
.muted{color:#777}
img{max-width:100%;display:block;margin:.3em 0 1em}
"""


def _when(t: float | None) -> str:
    return "still firing" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _labels(labels: Mapping[str, str]) -> str:
    return escape(", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname"))


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table whose cells are already escaped HTML."""
    if not rows:
        return '<p class="muted">none</p>'
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _totals(part: Mapping[str, Any]) -> str:
    t = part["totals"]
    rng = part["range"]
    rows = [
        ["range", escape(f"{_when(rng['from'])} .. {_when(rng['to'])} every {format_duration(rng['step'])}")],
        ["rules", escape(", ".join(part["rules"]))],
        ["alerts", str(t["alerts"])],
        ["notifications", str(t["notifications"])],
        ["pages per week", str(t["pages_per_week"])],
        ["noisiest rules", escape(", ".join(f"{n['rule']} ({n['alerts']})" for n in t["noisiest_rules"]))],
        ["remediation", escape(", ".join(f"{k}: {v}" for k, v in t["remediation_decisions"].items()))],
        [
            "replay",
            escape(
                f"{part['run']['ticks']} ticks in {part['run']['seconds']:.1f}s, "
                f"{part['run']['queries_sent']} queries sent"
            ),
        ],
    ]
    return _table(["", ""], rows)


def _alerts(side: str, part: Mapping[str, Any], images: Images) -> str:
    out = []
    by_rule: dict[str, list[Mapping[str, Any]]] = {}
    for e in part["alerts"]:
        by_rule.setdefault(e["rule"], []).append(e)
    for rule, episodes in sorted(by_rule.items()):
        out.append(f"<h3>{escape(rule)} ({len(episodes)})</h3>")
        rows = []
        for e in episodes:
            length = format_duration((e["resolved_at"] or part["range"]["to"]) - e["active_at"])
            rows.append(
                [
                    _labels(e["labels"]),
                    escape(_when(e["fired_at"])),
                    escape(_when(e["resolved_at"])),
                    escape(length),
                    escape(e["tier"]),
                ]
            )
        out.append(_table(["series", "fired", "resolved", "active for", "tier"], rows))
        for e in episodes:
            src = images.get((side, e["fingerprint"], e["fired_at"]))
            if src:
                alt = escape(f"{rule} {_labels(e['labels'])} fired {_when(e['fired_at'])}")
                out.append(f'<img alt="{alt}" src="{src}">')
    return "".join(out) or '<p class="muted">no alert fired</p>'


def _notifications(part: Mapping[str, Any]) -> str:
    counts = Counter((n["receiver"], n["reason"]) for n in part["notifications"])
    rows = [[escape(r), escape(why), str(n)] for (r, why), n in sorted(counts.items())]
    return _table(["receiver", "reason", "count"], rows)


def _remediation(part: Mapping[str, Any]) -> str:
    rows = [
        [
            escape(_when(e["at"])),
            escape(e["rule"]),
            escape(e["policy"]),
            escape(e["decision"]),
            escape(e["target"]),
            escape(e["reason"]),
        ]
        for e in part["remediation"]
    ]
    changes = [
        [escape(_when(c["at"])), escape(c["target"]), escape(str(c["from"])), escape(str(c["to"]))]
        for c in part["remediation_changes"]
    ]
    return _table(["at", "rule", "policy", "decision", "target", "reason"], rows) + (
        "<h3>changes auto-mode policies would have made</h3>"
        + _table(["at", "target", "from", "to"], changes)
    )


def _diff(diff: Mapping[str, Any]) -> str:
    def rows(items: Sequence[Mapping[str, Any]]) -> list[list[str]]:
        return [
            [
                escape(e["rule"]),
                _labels(e["labels"]),
                escape(_when(e["fired_at"])),
                escape(_when(e["resolved_at"])),
            ]
            for e in items
        ]

    head = ["rule", "series", "fired", "resolved"]
    return (
        f"<h3>only in A ({len(diff['only_a'])})</h3>{_table(head, rows(diff['only_a']))}"
        f"<h3>only in B ({len(diff['only_b'])})</h3>{_table(head, rows(diff['only_b']))}"
        f"<h3>in both ({len(diff['both'])})</h3>{_table(head, rows([p['a'] for p in diff['both']]))}"
    )


def _side(side: str, title: str, part: Mapping[str, Any], images: Images) -> str:
    return (
        f"<h2>{escape(title)}</h2>{_totals(part)}"
        f"<h2>{escape(title)}: alerts</h2>{_alerts(side, part, images)}"
        f"<h2>{escape(title)}: notifications per receiver</h2>{_notifications(part)}"
        f"<h2>{escape(title)}: remediation decisions</h2>{_remediation(part)}"
    )


def page(doc: Mapping[str, Any], images: Images) -> str:
    """The whole page; ``images`` maps (side, fingerprint, fired_at) to a ``data:`` URI."""
    two = "b" in doc
    body = _side("a", "Rule set A" if two else "Backtest", doc["a"], images)
    if two:
        body = f"<h2>Difference</h2>{_diff(doc['diff'])}" + body + _side("b", "Rule set B", doc["b"], images)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>alerter backtest</title><style>{_STYLE}</style></head>"
        f"<body><h1>alerter backtest</h1>{body}</body></html>\n"
    )


__all__ = ["page"]
