"""The notification groups in the store: which alerts each group holds, when it is due, what it last said.

The pipeline (``alerter.notify.pipeline``) decides; this module owns the tables it decides on and
every statement on them, next to their schema. Each method runs inside a transaction the pipeline
opened (``store.transaction()``), so a decision, its log entry and its outbox entry still commit
together, exactly as one unit.

Tables: ``notify_groups`` (one row per open group: receiver, route, group labels, next flush),
``notify_group_alerts`` (the alerts of a group, as ``alerter.core.codec`` JSON), ``notify_log`` (what
the group's last notification said, for dedup) and ``notify_notes`` (thread replies waiting for the
group's first message).

Each function that writes, and ``due`` (where a flush starts deciding), takes the notification
lock (``LOCK``, see ``alerter.store.db``) for the rest of the transaction: on PostgreSQL two
replicas' blocks would otherwise interleave, say one closing a group it counted empty while the
other places an alert into it. On SQLite the transaction holds the write lock already.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerter.notify.dedup import LogEntry
from alerter.store.db import Transaction, upsert

LOCK = "notify"
"""The lock every read-modify-write of the notification tables holds (``Transaction.lock``)."""

SCHEMA = [
    """CREATE TABLE notify_groups (
        key TEXT PRIMARY KEY, receiver TEXT NOT NULL, route TEXT NOT NULL, labels TEXT NOT NULL,
        created REAL NOT NULL, next_flush REAL NOT NULL)""",
    """CREATE TABLE notify_group_alerts (
        group_key TEXT NOT NULL, fingerprint TEXT NOT NULL, alert TEXT NOT NULL,
        PRIMARY KEY (group_key, fingerprint))""",
    """CREATE TABLE notify_notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, group_key TEXT NOT NULL, body TEXT NOT NULL, created REAL NOT NULL)""",
    """CREATE TABLE notify_log (
        group_key TEXT PRIMARY KEY, firing TEXT NOT NULL, resolved TEXT NOT NULL, sent_at REAL NOT NULL)""",
]
"""Created with the outbox's tables, as one schema version (``alerter.notify.outbox``)."""


_PLACE = upsert("notify_group_alerts", ("group_key", "fingerprint", "alert"), ("group_key", "fingerprint"))
_RECORD = upsert("notify_log", ("group_key", "firing", "resolved", "sent_at"), ("group_key",))


@dataclass(frozen=True)
class Group:
    """One open group as the pipeline decides on it."""

    key: str
    receiver: str
    route: str
    labels: dict[str, str]
    next_flush: float = 0.0
    """When it was due, as read: ``still_due`` compares it before a decision is recorded."""


@dataclass(frozen=True)
class Holder:
    """A group holding some alert, and whether it has notified yet (a note may join its thread)."""

    key: str
    receiver: str
    notified: bool


def resolve(db: Transaction, fingerprint: str, alert: str) -> int:
    """Replace the alert in every group that holds it; returns how many groups did."""
    db.lock(LOCK)
    return db.execute(
        "UPDATE notify_group_alerts SET alert = ? WHERE fingerprint = ?", (alert, fingerprint)
    ).rowcount


def place(
    db: Transaction,
    key: str,
    receiver: str,
    route: str,
    labels: Mapping[str, str],
    fingerprint: str,
    alert: str,
    now: float,
    first_flush: float,
) -> None:
    """Put the alert into its group, opening the group (first flush at ``first_flush``) if new."""
    db.lock(LOCK)
    db.execute(
        "INSERT INTO notify_groups (key, receiver, route, labels, created, next_flush) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (key, receiver, route, json.dumps(dict(labels)), now, first_flush),
    )
    db.execute(_PLACE, (key, fingerprint, alert))


def due(db: Transaction, now: float) -> list[Group]:
    """Groups whose next flush has come, oldest first."""
    db.lock(LOCK)
    rows = db.execute(
        "SELECT key, receiver, route, labels, next_flush FROM notify_groups WHERE next_flush <= ? "
        "ORDER BY created, key",
        (now,),
    ).fetchall()
    return [Group(str(k), str(r), str(p), json.loads(labels), float(t)) for k, r, p, labels, t in rows]


def still_due(db: Transaction, key: str, next_flush: float) -> bool:
    """Whether the group is open with the next flush ``due`` read: nobody recorded a decision on
    it since. Every record moves the next flush past its ``now`` (or closes the group), so an
    unchanged one means no other replica's flush came between this one's decide and record."""
    db.lock(LOCK)
    row = db.execute("SELECT next_flush FROM notify_groups WHERE key = ?", (key,)).fetchone()
    return row is not None and float(row[0]) == next_flush


def alerts(db: Transaction, key: str) -> list[str]:
    """The group's alerts (codec JSON), by fingerprint."""
    rows = db.execute(
        "SELECT alert FROM notify_group_alerts WHERE group_key = ? ORDER BY fingerprint", (key,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def last_notification(db: Transaction, key: str) -> LogEntry | None:
    row = db.execute(
        "SELECT firing, resolved, sent_at FROM notify_log WHERE group_key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    return LogEntry(frozenset(json.loads(row[0])), frozenset(json.loads(row[1])), float(row[2]))


def record_notification(
    db: Transaction, key: str, firing: Sequence[str], resolved: Sequence[str], now: float
) -> None:
    db.lock(LOCK)
    db.execute(_RECORD, (key, json.dumps(sorted(firing)), json.dumps(sorted(resolved)), now))


def forget_resolved(db: Transaction, key: str, fingerprint: str, alert: str) -> None:
    """Drop a resolved alert the group has announced, unless it changed since (it fired again)."""
    db.lock(LOCK)
    db.execute(
        "DELETE FROM notify_group_alerts WHERE group_key = ? AND fingerprint = ? AND alert = ?",
        (key, fingerprint, alert),
    )


def close_if_empty(db: Transaction, key: str, next_flush: float) -> bool:
    """Close a group with no alerts left (its notes and log go too), else schedule its next flush."""
    db.lock(LOCK)
    row = db.execute("SELECT COUNT(*) FROM notify_group_alerts WHERE group_key = ?", (key,)).fetchone()
    if row and row[0]:
        db.execute("UPDATE notify_groups SET next_flush = ? WHERE key = ?", (next_flush, key))
        return False
    db.execute("DELETE FROM notify_groups WHERE key = ?", (key,))
    db.execute("DELETE FROM notify_notes WHERE group_key = ?", (key,))
    db.execute("DELETE FROM notify_log WHERE group_key = ?", (key,))
    return True


def holders(db: Transaction, fingerprint: str) -> list[Holder]:
    rows = db.execute(
        "SELECT g.key, g.receiver, l.group_key IS NOT NULL FROM notify_group_alerts a "
        "JOIN notify_groups g ON a.group_key = g.key LEFT JOIN notify_log l ON l.group_key = g.key "
        "WHERE a.fingerprint = ? ORDER BY g.key",
        (fingerprint,),
    ).fetchall()
    return [Holder(str(k), str(r), bool(n)) for k, r, n in rows]


def keep_note(db: Transaction, key: str, body: Mapping[str, Any], now: float) -> None:
    """Hold a thread reply until the group's first message is enqueued."""
    db.lock(LOCK)
    db.execute(
        "INSERT INTO notify_notes (group_key, body, created) VALUES (?, ?, ?)",
        (key, json.dumps(dict(body)), now),
    )


def take_notes(db: Transaction, key: str) -> list[dict[str, Any]]:
    """The group's held replies, oldest first, removed from the table."""
    db.lock(LOCK)
    rows = db.execute("SELECT body FROM notify_notes WHERE group_key = ? ORDER BY id", (key,)).fetchall()
    db.execute("DELETE FROM notify_notes WHERE group_key = ?", (key,))
    return [json.loads(body) for (body,) in rows]


def schedule(db: Transaction) -> list[tuple[str, float]]:
    """(group key, next flush) of every open group."""
    return [(str(k), float(t)) for k, t in db.execute("SELECT key, next_flush FROM notify_groups")]


__all__ = [
    "LOCK",
    "SCHEMA",
    "Group",
    "Holder",
    "alerts",
    "close_if_empty",
    "due",
    "forget_resolved",
    "holders",
    "keep_note",
    "last_notification",
    "place",
    "record_notification",
    "resolve",
    "schedule",
    "still_due",
    "take_notes",
]
