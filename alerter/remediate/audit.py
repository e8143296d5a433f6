"""The remediation audit log: every action's state and every decision, in the engine's store.

Written only by ``remediate.runner``; read by the runner (history for the policy gates), by
``alerter actions list`` and by ``/api/v1/actions``. Two tables: ``remediation_actions`` holds one
row per action whose outcome moves (pending approval -> applied -> effective...), and
``remediation_events`` is append-only, one row per decision with its reason, so the log says
what happened even after an action's row has moved on. ``remediation_episodes`` remembers when
each alert with a policy fired and resolved, so the gates can tell an incident chain of a flapping
alert from a new incident (``policy.chain_start``). The kill switch set by
``alerter remediation pause`` lives here too, so every replica and restart sees it.

The database is the engine's ``alerter.store.sqlite.Store`` (its ``ensure_schema`` and ``transaction``
hooks, SQLite or PostgreSQL), typed here as a small Protocol so the audit log depends on nothing
else of it. Every write is one statement, atomic on both engines without a lock: a new action's
id comes back from its ``INSERT ... RETURNING``, an episode is recorded once by ``ON CONFLICT DO
NOTHING`` however many replicas see it resolve, and ``update`` with ``expect`` changes an action
only if its outcome is still the one the caller read (a claim: one approval applies once).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from alerter.remediate.actions import Change
from alerter.remediate.policy import IN_FLIGHT, Attempt, Episode, Outcome
from alerter.store.db import Transaction, upsert

COMPONENT = "remediation"
LOCK = "remediation"
"""The lock ``serial`` holds: a new action is recorded after its target's gates were read again."""
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS remediation_actions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        policy TEXT NOT NULL,
        target TEXT NOT NULL,
        alert TEXT NOT NULL,
        rule TEXT NOT NULL,
        mode TEXT NOT NULL,
        outcome TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        change TEXT,
        reason TEXT NOT NULL,
        verify_by REAL,
        expires_at REAL,
        reverted_at REAL,
        decided_by TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX IF NOT EXISTS remediation_actions_target ON remediation_actions (target, created_at)",
    "CREATE INDEX IF NOT EXISTS remediation_actions_outcome ON remediation_actions (outcome)",
    """CREATE TABLE IF NOT EXISTS remediation_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        action_id INTEGER,
        policy TEXT NOT NULL,
        target TEXT NOT NULL,
        alert TEXT NOT NULL,
        rule TEXT NOT NULL,
        decision TEXT NOT NULL,
        gate TEXT NOT NULL,
        reason TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS remediation_events_alert ON remediation_events (alert, policy, id)",
    """CREATE TABLE IF NOT EXISTS remediation_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    )""",
)
SCHEMA_V2 = (
    """CREATE TABLE IF NOT EXISTS remediation_episodes (
        alert TEXT NOT NULL,
        fired_at REAL NOT NULL,
        resolved_at REAL NOT NULL,
        PRIMARY KEY (alert, fired_at)
    )""",
    "CREATE INDEX IF NOT EXISTS remediation_episodes_resolved ON remediation_episodes (resolved_at)",
)
SCHEMA_VERSION = 2
MIGRATIONS = ((1, SCHEMA), (2, SCHEMA_V2))
"""Each version's statements; a database at version N runs those of N+1 onwards."""

EPISODES_PER_ALERT = 1000
"""Ended episodes kept (and read back) per alert: an incident chain is followed back this far."""
EPISODE_RETENTION = 30 * 86400.0
"""Episodes that ended longer ago are deleted: no chain_gap is anywhere near this long."""
AUTO_HISTORY = 200
"""Automatic actions per target returned besides the latest actions of any kind, so the budgets
see a day's actions even when a flapping alert's approval requests fill the latest ones."""


class Database(Protocol):
    """What the audit log needs from the engine's store."""

    def ensure_schema(self, component: str, version: int, statements: Sequence[str]) -> object: ...

    def transaction(self) -> AbstractContextManager[Transaction]: ...


@dataclass(frozen=True)
class ActionRecord:
    """One row of ``remediation_actions``."""

    id: int
    created_at: float
    updated_at: float
    policy: str
    target: str
    alert: str
    rule: str
    mode: str
    outcome: Outcome
    dry_run: bool
    change: Change | None
    reason: str
    verify_by: float | None = None
    expires_at: float | None = None
    reverted_at: float | None = None
    decided_by: str = ""

    def to_json(self) -> dict[str, Any]:
        """The shape ``/api/v1/actions`` serves."""
        return {
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "policy": self.policy,
            "target": self.target,
            "alert": self.alert,
            "rule": self.rule,
            "mode": self.mode,
            "outcome": str(self.outcome),
            "dry_run": self.dry_run,
            "change": self.change.to_json() if self.change else None,
            "reason": self.reason,
            "verify_by": self.verify_by,
            "expires_at": self.expires_at,
            "reverted_at": self.reverted_at,
            "decided_by": self.decided_by,
        }


_INSERT_COLUMNS = (
    "created_at, updated_at, policy, target, alert, rule, mode, outcome, dry_run, change, reason, "
    "verify_by, expires_at, reverted_at, decided_by"
)
_COLUMNS = f"id, {_INSERT_COLUMNS}"
_SET_SETTING = upsert("remediation_settings", ("name", "value", "updated_at", "updated_by"), ("name",))


def _record(row: Sequence[Any]) -> ActionRecord:
    change = Change.from_json(json.loads(row[10])) if row[10] else None
    return ActionRecord(
        row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], Outcome(row[8]), bool(row[9]),
        change, row[11], row[12], row[13], row[14], row[15],
    )  # fmt: skip


class AuditLog:
    """Typed access to the audit tables; each method is one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db
        for version, statements in MIGRATIONS:
            db.ensure_schema(COMPONENT, version, statements)

    def add_action(self, record: ActionRecord) -> int:
        """Insert ``record`` (its id is ignored) and return the new id."""
        change = json.dumps(record.change.to_json()) if record.change else None
        with self._db.transaction() as db:
            row = db.execute(
                f"INSERT INTO remediation_actions ({_INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (record.created_at, record.updated_at, record.policy, record.target, record.alert, record.rule,
                 record.mode, str(record.outcome), int(record.dry_run), change, record.reason, record.verify_by,
                 record.expires_at, record.reverted_at, record.decided_by),
            ).fetchone()  # fmt: skip
        assert row is not None, "INSERT ... RETURNING returns the row"
        return int(row[0])

    def update(self, action_id: int, now: float, *, expect: Outcome | None = None, **fields: Any) -> bool:
        """Set ``fields`` (outcome, reason, change, verify_by, reverted_at, decided_by) of one action.

        With ``expect``, only while the action's outcome is still ``expect``: one conditional
        ``UPDATE``, so of two replicas deciding on the same pending approval one wins and the
        other is told (False) instead of both going on. Returns whether the row changed.
        """
        allowed = {"outcome", "reason", "change", "verify_by", "reverted_at", "decided_by", "expires_at"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)} of an action")
        values: dict[str, Any] = {}
        for key, value in fields.items():
            if isinstance(value, Change):
                value = json.dumps(value.to_json())
            values[key] = str(value) if key == "outcome" else value
        assignments = ", ".join(f"{k} = ?" for k in values)
        condition = "" if expect is None else " AND outcome = ?"
        guard = () if expect is None else (str(expect),)
        with self._db.transaction() as db:
            changed = db.execute(
                f"UPDATE remediation_actions SET {assignments}, updated_at = ? WHERE id = ?{condition}",
                (*values.values(), now, action_id, *guard),
            ).rowcount
        return changed > 0

    def serial(self) -> AbstractContextManager[Transaction]:
        """One transaction holding the audit's lock (``LOCK``) until it ends: the runner reads a
        target's history again and records its new action inside, so replicas sharing the log
        decide on one target one after another. The audit's own methods nest in it."""
        return _locked(self._db)

    def get(self, action_id: int) -> ActionRecord | None:
        with self._db.transaction() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM remediation_actions WHERE id = ?", (action_id,)
            ).fetchone()
        return _record(row) if row else None

    def actions(
        self, *, where: str = "1 = 1", params: Sequence[Any] = (), limit: int = 1000
    ) -> list[ActionRecord]:
        with self._db.transaction() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM remediation_actions WHERE {where} ORDER BY id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_record(r) for r in rows]

    def history(self, target: str, limit: int = 200) -> list[Attempt]:
        """The latest attempts on ``target``, for the policy gates, newest first.

        By count, not by time: the circuit breaker stays open however long ago the ineffective
        actions were, until a human resets it. The latest ``AUTO_HISTORY`` automatic actions (and
        dry-run records) come too, for the budgets (``policy.budget``).
        """
        newest = "SELECT id FROM (SELECT id FROM remediation_actions WHERE target = ?{} ORDER BY id DESC LIMIT ?) AS n"
        auto = newest.format(" AND (decided_by = 'auto' OR dry_run = 1)")
        where = f"id IN ({newest.format('')} UNION {auto})"
        params = (target, limit, target, AUTO_HISTORY)
        records = self.actions(where=where, params=params, limit=limit + AUTO_HISTORY)
        return [
            Attempt(at=r.created_at, outcome=r.outcome, dry_run=r.dry_run, alert=r.rule, fingerprint=r.alert,
                    auto=r.dry_run or r.decided_by == "auto")
            for r in records
        ]  # fmt: skip

    def add_episode(self, alert: str, fired_at: float, resolved_at: float) -> None:
        """Remember that ``alert`` (a fingerprint) fired at ``fired_at`` and resolved at ``resolved_at``.

        Idempotent: the runner calls it on every pass while the alert shows as resolved. Old
        episodes are pruned here (by age, and beyond ``EPISODES_PER_ALERT`` for this alert).
        """
        with self._db.transaction() as db:
            added = db.execute(
                "INSERT INTO remediation_episodes (alert, fired_at, resolved_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (alert, fired_at, resolved_at),
            ).rowcount
            if not added:
                return
            db.execute(
                "DELETE FROM remediation_episodes WHERE resolved_at < ?", (resolved_at - EPISODE_RETENTION,)
            )
            db.execute(
                "DELETE FROM remediation_episodes WHERE alert = ? AND fired_at NOT IN (SELECT fired_at FROM "
                "remediation_episodes WHERE alert = ? ORDER BY fired_at DESC LIMIT ?)",
                (alert, alert, EPISODES_PER_ALERT),
            )

    def episodes(self, alert: str) -> list[Episode]:
        """The ended episodes of ``alert`` (a fingerprint), newest first."""
        with self._db.transaction() as db:
            rows = db.execute(
                "SELECT fired_at, resolved_at FROM remediation_episodes WHERE alert = ? "
                "ORDER BY fired_at DESC LIMIT ?",
                (alert, EPISODES_PER_ALERT),
            ).fetchall()
        return [Episode(float(f), float(r)) for f, r in rows]

    def in_flight(self) -> list[ActionRecord]:
        flight = ",".join("?" * len(IN_FLIGHT))
        return self.actions(where=f"outcome IN ({flight}) AND dry_run = 0", params=sorted(IN_FLIGHT))

    def add_event(self, at: float, action_id: int | None, policy: str, target: str, alert: str, rule: str,
                  decision: str, gate: str, reason: str) -> None:  # fmt: skip
        with self._db.transaction() as db:
            db.execute(
                "INSERT INTO remediation_events (at, action_id, policy, target, alert, rule, decision, gate, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (at, action_id, policy, target, alert, rule, decision, gate, reason),
            )

    def last_event(self, alert: str, policy: str) -> tuple[str, str] | None:
        """(decision, gate) of the latest event for this alert and policy."""
        with self._db.transaction() as db:
            row = db.execute(
                "SELECT decision, gate FROM remediation_events WHERE alert = ? AND policy = ? ORDER BY id DESC LIMIT 1",
                (alert, policy),
            ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._db.transaction() as db:
            rows = db.execute(
                "SELECT id, at, action_id, policy, target, alert, rule, decision, gate, reason "
                "FROM remediation_events ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        keys = ("id", "at", "action_id", "policy", "target", "alert", "rule", "decision", "gate", "reason")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def paused(self) -> bool:
        with self._db.transaction() as db:
            row = db.execute("SELECT value FROM remediation_settings WHERE name = 'paused'").fetchone()
        return bool(row and row[0] == "true")

    def set_paused(self, paused: bool, now: float, by: str) -> None:
        with self._db.transaction() as db:
            db.execute(_SET_SETTING, ("paused", "true" if paused else "false", now, by))


# ---- CLI entry points ----------------------------------------------------------------------


@contextmanager
def _locked(database: Database) -> Iterator[Transaction]:
    with database.transaction() as db:
        db.lock(LOCK)
        yield db


def list_actions(db: Database, limit: int = 50) -> list[ActionRecord]:
    """The latest actions, newest first, for ``alerter actions list`` and ``/api/v1/actions``."""
    return AuditLog(db).actions(limit=limit)


def format_actions(records: Sequence[ActionRecord]) -> str:
    """A plain table of actions for the terminal."""
    header = ("ID", "CREATED", "POLICY", "TARGET", "MODE", "OUTCOME", "REASON")
    rows = [header]
    for r in records:
        rows.append((str(r.id), _iso(r.created_at), r.policy, r.target, r.mode, str(r.outcome), r.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pause(db: Database, now: float, by: str) -> None:
    """The kill switch (``alerter remediation pause``): no replica acts until ``resume``."""
    AuditLog(db).set_paused(True, now, by)


def resume(db: Database, now: float, by: str) -> None:
    AuditLog(db).set_paused(False, now, by)


def is_paused(db: Database) -> bool:
    return AuditLog(db).paused()
