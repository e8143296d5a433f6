"""Pages and what people said about them: "Not an incident", or "It was real" to take it back.

A **page** is one episode of an alert that fired: from the moment it turned active
(``active_at``, the start the baseline cache keeps out of training) until it resolved. The app
records every firing and resolved alert it hands to the pipeline (``record``), so pages are
counted per rule over a window (``counts``) whether or not a receiver was reached, and a verdict
can be given after the engine has forgotten the alert (its resolved alerts are kept for 15
minutes only): a Slack button names the episode by fingerprint and ``active_at``.

A **verdict** is one row per episode: ``noise`` true says the page was not an incident (a
confirmed false page), false that somebody took that back ("It was real"). Each press
overwrites who and when, so the row always says who decided last; the first "Not an incident"
of an episode is what ``alerter_false_pages_total`` counts (``Pages.judge`` says whether the row
changed). ``series`` is the fingerprint of the series the rule's baseline fitted (its labels
without ``alertname``), given by the app, so a restart can tell the baseline cache again which
periods are normal data.

The tables ``notify_pages`` and ``notify_page_verdicts`` belong to this module. Their SQL is
in the subset SQLite and PostgreSQL share (``?`` parameters, ``INSERT ... ON CONFLICT (...) DO
UPDATE``, DDL in SQLite's type names, which each engine maps to its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from alerter.core.model import Alert, AlertState
from alerter.store.sqlite import Store

SCHEMA = [
    """CREATE TABLE notify_pages (
        fingerprint TEXT NOT NULL, active_at REAL NOT NULL, grp TEXT NOT NULL,
        rule TEXT NOT NULL, labels TEXT NOT NULL, fired_at REAL NOT NULL,
        resolved_at REAL, PRIMARY KEY (fingerprint, active_at))""",
    "CREATE INDEX notify_pages_by_time ON notify_pages (active_at)",
    """CREATE TABLE notify_page_verdicts (
        fingerprint TEXT NOT NULL, active_at REAL NOT NULL, grp TEXT NOT NULL,
        rule TEXT NOT NULL, labels TEXT NOT NULL, fired_at REAL NOT NULL,
        resolved_at REAL, series TEXT NOT NULL, noise INTEGER NOT NULL, user_id TEXT NOT NULL,
        user_name TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (fingerprint, active_at))""",
    "CREATE INDEX notify_page_verdicts_by_time ON notify_page_verdicts (active_at)",
]

WINDOW = 30 * 86400.0
"""How far back ``/api/v1/rules`` counts pages and false pages."""

_SEEN_AT_MOST = 10_000
"""Episodes whose last recorded state is remembered, so a tick writes only what changed."""


@dataclass(frozen=True)
class Page:
    """One episode of an alert that fired."""

    fingerprint: str
    active_at: float
    group: str
    rule: str
    labels: dict[str, str]
    fired_at: float
    resolved_at: float | None

    def row(self) -> tuple[str, float, str, str, str, float, float | None]:
        """The episode's columns as both tables store them, in their order."""
        labels = json.dumps(self.labels, sort_keys=True)
        return (
            self.fingerprint,
            self.active_at,
            self.group,
            self.rule,
            labels,
            self.fired_at,
            self.resolved_at,
        )

    @classmethod
    def of(cls, alert: Alert) -> Page | None:
        """The page of a firing or resolved alert; None for one that never fired."""
        if alert.state not in (AlertState.FIRING, AlertState.RESOLVED) or alert.active_at is None:
            return None
        fired = alert.fired_at if alert.fired_at is not None else alert.active_at
        resolved = alert.resolved_at if alert.state is AlertState.RESOLVED else None
        return cls(
            alert.fingerprint, alert.active_at, alert.group, alert.rule, dict(alert.labels), fired, resolved
        )


@dataclass(frozen=True)
class PageVerdict:
    """What was last said about a page, by whom (Slack user id and name) and when."""

    page: Page
    noise: bool
    user_id: str
    user_name: str
    at: float
    series: str = ""

    @property
    def by(self) -> str:
        """The name to show in plain text: the Slack name, else the id."""
        return self.user_name or self.user_id or "someone"


@dataclass(frozen=True)
class Counts:
    """A rule's pages over a window and how many of them were confirmed false pages."""

    pages: int = 0
    false_pages: int = 0

    @property
    def rate(self) -> float | None:
        """false_pages / pages; None when the rule did not page (no rate to speak of)."""
        return self.false_pages / self.pages if self.pages else None


_VERDICT_COLUMNS = (
    "fingerprint, active_at, grp, rule, labels, fired_at, resolved_at, series, noise, user_id, user_name, at"
)


class Pages:
    """The pages and verdicts in the store; thread-safe as the store is."""

    def __init__(self, store: Store) -> None:
        self._store = store
        store.ensure_schema("notify_pages", 1, SCHEMA)
        self._seen: dict[tuple[str, float], float | None] = {}

    def record(self, alerts: Iterable[Alert]) -> int:
        """Record the pages of these alerts (firing ones start a page, resolved ones end it).

        Called with every tick's alerts; only episodes new or newly resolved are written.
        Returns how many rows were written.
        """
        fresh = []
        for alert in alerts:
            page = Page.of(alert)
            if page is None:
                continue
            key = (page.fingerprint, page.active_at)
            if key in self._seen and self._seen[key] == page.resolved_at:
                continue
            fresh.append(page)
        if not fresh:
            return 0
        with self._store.transaction() as db:
            for page in fresh:
                db.execute(
                    "INSERT INTO notify_pages (fingerprint, active_at, grp, rule, labels, fired_at, resolved_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint, active_at) DO UPDATE"
                    " SET resolved_at = excluded.resolved_at, fired_at = excluded.fired_at",
                    page.row(),
                )
                if page.resolved_at is not None:  # a verdict given while it fired learns its end
                    db.execute(
                        "UPDATE notify_page_verdicts SET resolved_at = ? WHERE fingerprint = ? AND active_at = ?",
                        (page.resolved_at, page.fingerprint, page.active_at),
                    )
        if len(self._seen) > _SEEN_AT_MOST:
            self._seen.clear()
        for page in fresh:
            self._seen[(page.fingerprint, page.active_at)] = page.resolved_at
        return len(fresh)

    def page(self, fingerprint: str, active_at: float) -> Page | None:
        """The recorded page of this episode, or None when it never fired (or predates the table)."""
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT fingerprint, active_at, grp, rule, labels, fired_at, resolved_at FROM notify_pages"
                " WHERE fingerprint = ? AND active_at = ?",
                (fingerprint, active_at),
            ).fetchone()
        if row is None:
            return None
        return _page(row)

    def verdict(self, fingerprint: str, active_at: float) -> PageVerdict | None:
        """What was last said about this episode, or None when nobody judged it."""
        with self._store.transaction() as db:
            row = db.execute(
                f"SELECT {_VERDICT_COLUMNS} FROM notify_page_verdicts WHERE fingerprint = ? AND active_at = ?",
                (fingerprint, active_at),
            ).fetchone()
        return None if row is None else _verdict(row)

    def judge(
        self, page: Page, *, noise: bool, user_id: str, user_name: str, at: float, series: str = ""
    ) -> tuple[PageVerdict, bool]:
        """Say ``noise`` (not an incident) or not (it was real) about ``page``.

        Returns the verdict now stored and whether it changed: the same verdict again (a double
        click, a second person agreeing) keeps the first one's who and when and changes nothing.
        One conditional upsert decides, atomic on either engine, so two replicas taking the
        same press at once change the row (and count the false page) once.
        """
        with self._store.transaction() as db:
            changed = db.execute(
                f"INSERT INTO notify_page_verdicts ({_VERDICT_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint, active_at) DO UPDATE"
                " SET resolved_at = excluded.resolved_at, noise = excluded.noise,"
                " user_id = excluded.user_id, user_name = excluded.user_name, at = excluded.at"
                " WHERE notify_page_verdicts.noise <> excluded.noise",
                (*page.row(), series, int(noise), user_id, user_name, at),
            ).rowcount
            after = self.verdict(page.fingerprint, page.active_at)
        assert after is not None
        return after, changed > 0

    def note_series(self, fingerprint: str, active_at: float, series: str) -> None:
        """Remember which series' baseline the verdict on this episode concerns (``series``)."""
        with self._store.transaction() as db:
            db.execute(
                "UPDATE notify_page_verdicts SET series = ? WHERE fingerprint = ? AND active_at = ?",
                (series, fingerprint, active_at),
            )

    def false_pages(self, start: float | None = None, end: float | None = None) -> list[PageVerdict]:
        """Confirmed false pages whose episode began in [start, end], oldest first."""
        with self._store.transaction() as db:
            rows = db.execute(
                f"SELECT {_VERDICT_COLUMNS} FROM notify_page_verdicts WHERE noise = 1"
                " AND active_at >= ? AND active_at <= ? ORDER BY active_at, fingerprint",
                (-1e308 if start is None else start, 1e308 if end is None else end),
            ).fetchall()
        return [_verdict(r) for r in rows]

    def counts(self, start: float, end: float) -> dict[tuple[str, str], Counts]:
        """(group, rule) -> pages whose episode began in [start, end] and how many were false."""
        with self._store.transaction() as db:
            pages = db.execute(
                "SELECT grp, rule, COUNT(*) FROM notify_pages WHERE active_at >= ? AND active_at <= ?"
                " GROUP BY grp, rule",
                (start, end),
            ).fetchall()
            false = db.execute(
                "SELECT grp, rule, COUNT(*) FROM notify_page_verdicts WHERE noise = 1"
                " AND active_at >= ? AND active_at <= ? GROUP BY grp, rule",
                (start, end),
            ).fetchall()
        out: dict[tuple[str, str], Counts] = {}
        for grp, rule, n in pages:
            out[(str(grp), str(rule))] = Counts(pages=int(n))
        for grp, rule, n in false:
            key = (str(grp), str(rule))
            # A verdict on an episode the pages table missed (recorded before it existed) still
            # is a page: false_pages never exceeds pages.
            pages_n = max(out.get(key, Counts()).pages, int(n))
            out[key] = Counts(pages=pages_n, false_pages=int(n))
        return out


def _labels(text: str) -> dict[str, str]:
    loaded = json.loads(text)
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def _page(row: Sequence[Any]) -> Page:
    """A page from its first seven columns: fingerprint, active_at, grp, rule, labels, fired_at, resolved_at."""
    fingerprint, active_at, grp, rule, labels, fired_at, resolved_at = row[:7]
    return Page(
        str(fingerprint),
        float(active_at),
        str(grp),
        str(rule),
        _labels(str(labels)),
        float(fired_at),
        None if resolved_at is None else float(resolved_at),
    )


def _verdict(row: Sequence[Any]) -> PageVerdict:
    series, noise, user_id, user_name, at = row[7:]
    return PageVerdict(_page(row), bool(noise), str(user_id), str(user_name), float(at), str(series))
