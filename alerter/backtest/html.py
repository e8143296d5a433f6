"""The backtest's HTML page, built from the JSON document and the episodes' charts.

Called by ``alerter.backtest.report.html``. Every value is escaped; the page links nothing
outside itself (inline CSS, charts as ``data:`` URIs), so it renders offline and from CI
artifacts. Sections: totals, every rule with how close it came to firing, the ground truth's
incidents caught and missed (``--truth``), alerts per rule (with charts), notifications per
receiver, remediation decisions, and with two rule sets the alerts found by only one of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from alerter.backtest.report import durations
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
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th,td.t{white-space:nowrap}
tr.quiet td{background:#fffbe6}
tr.missed td{background:#fdecea}
.tag{display:inline-block;padding:0 .4em;border-radius:3px;font-size:.85em;white-space:nowrap}
.fired,.caught{background:#e3f4e1;color:#1d5c19}
.near{background:#fff1c2;color:#6b4e00}
.never,.missed{background:#fbd9d5;color:#8a1c11}
.reason{display:block;color:#777;font-size:.85em}
"""
MAX_FALSE_PAGES = 200
"""False pages listed in the truth section; the count covers all of them."""


def _when(t: float | None) -> str:
    return "still firing" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _labels(labels: Mapping[str, str]) -> str:
    return escape(", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname"))


def _table(
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    classes: Sequence[str] = (),
    numeric: frozenset[int] = frozenset(),
    nowrap: frozenset[int] = frozenset(),
) -> str:
    """A table whose cells are already escaped HTML; ``classes`` per row, ``numeric`` columns
    right-aligned, ``nowrap`` columns (times) kept on one line."""
    if not rows:
        return '<p class="muted">none</p>'
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    thead = f"<thead><tr>{th}</tr></thead>" if any(head) else ""

    def cells(row: Sequence[str]) -> str:
        return "".join(
            f'<td class="num">{c}</td>'
            if i in numeric
            else f'<td class="t">{c}</td>'
            if i in nowrap
            else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )

    body = "".join(
        (f'<tr class="{classes[n]}">' if n < len(classes) and classes[n] else "<tr>") + cells(row) + "</tr>"
        for n, row in enumerate(rows)
    )
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _span(seconds: float | None) -> str:
    return "" if seconds is None else format_duration(max(round(seconds), 0))


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return ("-" if seconds < 0 else "+") + format_duration(abs(round(seconds)))


def _caught(totals: Mapping[str, Any]) -> str:
    median = _delay(totals["median_delay"]) or "-"
    return (
        f"{totals['caught']} of {totals['incidents']} (median delay {median}), "
        f"{totals['false_pages']} false pages"
    )


def _rules(part: Mapping[str, Any]) -> str:
    """Every rule: how often it fired and, for one that never did, how close it came."""
    rows, classes = [], []
    for row in part["per_rule"]:
        peak = row.get("peak")
        if row["fired"]:
            status = f'<span class="tag fired">fired {row["fired"]}</span>'
        elif row["stage"] in ("pending", "window", "guard"):
            status = '<span class="tag near">near miss</span>'
        else:
            status = '<span class="tag never">never fired</span>'
        how = escape(row["summary"] if not row["fired"] else "fired")
        if peak:
            how = escape(peak["text"]) if row["fired"] or row["stage"] == "points" else how
        reason = (
            f'<span class="reason">{escape(peak["reason"])}</span>' if peak and peak.get("reason") else ""
        )
        extra = ""
        if not row["fired"] and row["stage"] != "points" and peak:
            extra = f'<span class="reason">peak point: {escape(peak["text"])}</span>'
        rows.append(
            [
                escape(row["rule"]),
                status,
                str(row["alerts"]),
                str(row["pages"]),
                how + extra + reason,
                escape(_when(peak["at"])) if peak else "",
                _labels(peak["labels"]) if peak else "",
                escape(peak["tier"]) if peak else "",
            ]
        )
        classes.append("" if row["fired"] else "quiet")
    head = ["rule", "", "alerts", "pages sent", "peak / closest it came", "at", "series", "tier"]
    return _table(head, rows, classes, frozenset({2, 3}), frozenset({5}))


def _truth(score: Mapping[str, Any]) -> str:
    """Incidents caught and missed, per-rule totals, false pages."""
    t = score["totals"]
    median = _delay(t["median_delay"]) or "-"
    outside = f", {t['outside']} outside the range" if t["outside"] else ""
    head = (
        f"<p><b>{t['caught']} of {t['incidents']}</b> incidents caught, median detection delay "
        f"<b>{escape(median)}</b>, <b>{t['false_pages']}</b> false pages (alerts that fired on no incident, "
        f"of {t['pages']} that fired)"
        f'{escape(outside)} <span class="muted">({escape(score["file"])}, a page belongs to an incident '
        f"from {escape(_span(score['tolerance']))} before its start to as long after its end)</span></p>"
    )
    rows, classes = [], []
    for i in score["incidents"]:
        first = i["first_page"]
        rows.append(
            [
                f'<span class="tag {"caught" if i["caught"] else "missed"}">'
                f"{'caught' if i['caught'] else 'missed'}</span>",
                escape(i["kind"]),
                escape(i["model"]),
                escape(_when(i["start"])),
                escape(_span(i["end"] - i["start"])),
                escape(_delay(i["delay"])),
                escape(first["rule"]) + " " + _labels(first["labels"]) if first else "",
                escape(", ".join(i["rules"])),
            ]
        )
        classes.append("" if i["caught"] else "missed")
    incidents = _table(
        ["", "kind", "model", "start", "lasted", "delay", "first page", "caught by"],
        rows,
        classes,
        frozenset({4, 5}),
        frozenset({3}),
    )
    per_rule = _table(
        ["rule", "incidents caught", "alerts fired", "false pages", "median delay"],
        [
            [
                escape(r),
                str(v["caught"]),
                str(v["pages"]),
                str(v["false_pages"]),
                escape(_delay(v["median_delay"])),
            ]
            for r, v in score["per_rule"].items()
        ],
        numeric=frozenset({1, 2, 3, 4}),
    )
    false = score["false_pages"]
    listed = _table(
        ["rule", "series", "fired"],
        [
            [escape(p["rule"]), _labels(p["labels"]), escape(_when(p["fired_at"]))]
            for p in false[:MAX_FALSE_PAGES]
        ],
    )
    more = (
        f'<p class="muted">and {len(false) - MAX_FALSE_PAGES} more</p>'
        if len(false) > MAX_FALSE_PAGES
        else ""
    )
    return f"{head}{incidents}<h3>per rule</h3>{per_rule}<h3>false pages ({len(false)})</h3>{listed}{more}"


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
        *([["incidents caught", escape(_caught(part["truth"]["totals"]))]] if "truth" in part else []),
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
            pending, active = durations(e, part["range"]["to"])
            fired = _when(e["fired_at"]) if e["fired_at"] is not None else "never fired"
            rows.append(
                [
                    _labels(e["labels"]),
                    escape(_span(pending) if pending is not None else _span(active)),
                    escape(fired),
                    escape(_when(e["resolved_at"])),
                    escape(_span(active) if pending is not None else ""),
                    escape(e["tier"]),
                ]
            )
        head = ["series", "pending for", "fired", "resolved", "active for", "tier"]
        out.append(_table(head, rows, numeric=frozenset({1, 4}), nowrap=frozenset({2, 3})))
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
    truth = f"<h2>{escape(title)}: ground truth</h2>{_truth(part['truth'])}" if "truth" in part else ""
    return (
        f"<h2>{escape(title)}</h2>{_totals(part)}"
        f"<h2>{escape(title)}: rules, and how close each came to firing</h2>{_rules(part)}"
        f"{truth}"
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
