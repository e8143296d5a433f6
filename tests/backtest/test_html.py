"""The HTML report's rule table (how close each rule came), ground-truth tables and alert rows."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from alerter.backtest.html import page

END = 7200.0


class Tables(HTMLParser):
    """Rows of every table as (row class, [cell text]) lists."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[tuple[str, list[str]]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append((dict(attrs).get("class") or "", []))
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1][1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _part() -> dict[str, Any]:
    peak = {
        "text": "13.3x of 14.4x burn over 1h/5m",
        "at": 3600.0,
        "labels": {"service": "<chat>"},
        "tier": "burn_rate",
        "reason": "error budget burn (0.999 objective): 13.3x over 1h and 14.0x over 5m (fires above 14.4x)",
    }
    alert = {
        "rule": "Loud",
        "labels": {"model_name": "m"},
        "fingerprint": "f",
        "active_at": 0.0,
        "fired_at": 300.0,
        "resolved_at": 1800.0,
        "tier": "stl(1d)",
    }
    truth = {
        "file": "truth.json",
        "tolerance": 600.0,
        "incidents": [
            {
                "index": 0,
                "kind": "error_surge",
                "model": "m",
                "start": 0.0,
                "end": 1800.0,
                "caught": True,
                "delay": 300.0,
                "first_page": {"rule": "Loud", "labels": {"model_name": "m"}, "fired_at": 300.0},
                "rules": ["Loud"],
            },
            {
                "index": 1,
                "kind": "silent",
                "model": "m",
                "start": 5000.0,
                "end": 6000.0,
                "caught": False,
                "delay": None,
                "first_page": None,
                "rules": [],
            },
        ],
        "false_pages": [],
        "per_rule": {"Loud": {"pages": 1, "false_pages": 0, "caught": 1, "median_delay": 300.0}},
        "totals": {
            "incidents": 2,
            "caught": 1,
            "missed": 1,
            "outside": 0,
            "pages": 1,
            "false_pages": 0,
            "median_delay": 300.0,
        },
    }
    return {
        "range": {"from": 0.0, "to": END, "step": 60.0},
        "rules": ["Burn", "Loud"],
        "totals": {
            "alerts": 1,
            "notifications": 0,
            "pages_per_week": 0.0,
            "noisiest_rules": [],
            "remediation_decisions": {},
        },
        "run": {"ticks": 120, "seconds": 1.0, "queries_sent": 2},
        "per_rule": [
            {
                "rule": "Burn",
                "alerts": 0,
                "fired": 0,
                "pages": 0,
                "stage": "points",
                "summary": "closest: x",
                "peak": peak,
            },
            {
                "rule": "Loud",
                "alerts": 1,
                "fired": 1,
                "pages": 1,
                "stage": "fired",
                "summary": "fired",
                "peak": None,
            },
        ],
        "alerts": [alert],
        "notifications": [],
        "remediation": [],
        "remediation_changes": [],
        "rule_errors": {},
        "truth": truth,
    }


def _tables() -> list[list[tuple[str, list[str]]]]:
    parser = Tables()
    parser.feed(page({"a": _part()}, {}))
    return parser.tables


def test_every_rule_has_a_row_with_how_close_it_came() -> None:
    rules = next(t for t in _tables() if t[0][1][:2] == ["rule", ""])
    burn, loud = rules[1:]
    assert burn[0] == "quiet"
    assert burn[1][:4] == ["Burn", "never fired", "0", "0"]
    assert burn[1][4].startswith("13.3x of 14.4x burn over 1h/5m error budget burn (0.999 objective)")
    assert burn[1][5:] == ["1970-01-01 01:00", "service=<chat>", "burn_rate"]  # escaped, then read back
    assert loud[1][:2] == ["Loud", "fired 1"] and loud[0] == ""


def test_the_truth_section_marks_missed_incidents() -> None:
    incidents = next(t for t in _tables() if "caught by" in t[0][1])
    assert [(cls, row[0], row[5]) for cls, row in incidents[1:]] == [
        ("", "caught", "+5m"),
        ("missed", "missed", ""),
    ]
    per_rule = next(t for t in _tables() if t[0][1][:2] == ["rule", "incidents caught"])
    assert per_rule[1][1] == ["Loud", "1", "1", "0", "+5m"]


def test_an_alert_row_shows_pending_and_active_from_firing() -> None:
    alerts = next(t for t in _tables() if t[0][1][:2] == ["series", "pending for"])
    assert alerts[1][1] == ["model_name=m", "5m", "1970-01-01 00:05", "1970-01-01 00:30", "25m", "stl(1d)"]


def test_the_totals_table_has_no_empty_header_and_counts_incidents() -> None:
    totals = _tables()[0]
    assert totals[0][1][0] == "range"
    assert ["incidents caught", "1 of 2 (median delay +5m), 0 false pages"] in [row for _, row in totals]
