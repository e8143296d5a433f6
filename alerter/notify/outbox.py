"""The durable outbox: notifications wait here, in the store, until their receiver took them.

The pipeline enqueues a rendered payload in the same transaction that records the group's
notification log, so a decision to notify is never lost and never taken twice. Sending marks an
entry ``inflight`` before the network call and ``sent`` after it; an entry still ``inflight``
(a crash mid-send, or a failed attempt whose effect is unknown, like a timeout) is only sent
again after the receiver's ``recover`` found it did not arrive. Entries of one group go out strictly in order; a retryable failure holds the group
back until its ``next_attempt`` (exponential backoff, or the receiver's ``Retry-After``), and
when the receiver takes anything again its waiting entries are released (``release``).
The sent and failed entries are the notification log that the API and CLI show.

Several replicas share one outbox (PostgreSQL), so sending an entry starts with a claim
(``claim``): one conditional ``UPDATE`` moves it to ``inflight`` only if it is still in the state
the sender read (pending, or in flight with no live claim), naming the replica
(``claimed_by``) and how long the claim lasts (``claim_until``). Of two replicas reading the
same entry exactly one sends it. A replica that dies mid-send leaves its claim behind; once it
has expired another replica takes the entry over, asks the receiver's ``recover`` whether it
arrived, and sends it only if not. A failed attempt ends its claim at once (the attempt is
over; the next one recovers first). The claim outlives the longest delivery (``CLAIM_SECONDS``):
a replica still sending when its claim expires is the one way a message can arrive twice, when
the receiver cannot tell (an incoming webhook, Alertmanager and plain webhooks have no history
to search; Slack's Web API does).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alerter.notify import groups
from alerter.notify.base import Payload, PayloadKind
from alerter.store.db import Transaction, upsert
from alerter.store.sqlite import Store

SCHEMA = [
    """CREATE TABLE notify_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, receiver TEXT NOT NULL,
        group_key TEXT NOT NULL, reason TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, image BLOB,
        created REAL NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL, last_error TEXT NOT NULL DEFAULT '', done_at REAL)""",
    "CREATE INDEX notify_outbox_pending ON notify_outbox (state, group_key, id)",
    "CREATE INDEX notify_outbox_done ON notify_outbox (done_at)",
    """CREATE TABLE notify_threads (
        receiver TEXT NOT NULL, group_key TEXT NOT NULL, thread TEXT NOT NULL, shared INTEGER NOT NULL,
        PRIMARY KEY (receiver, group_key))""",
    """CREATE TABLE notify_burst_members (
        receiver TEXT NOT NULL, burst_key TEXT NOT NULL, group_key TEXT NOT NULL,
        PRIMARY KEY (receiver, burst_key, group_key))""",
    *groups.SCHEMA,
]
"""The outbox's tables and the notification groups' (``alerter.notify.groups``), as one version."""

SCHEMA_V2 = [
    "ALTER TABLE notify_outbox ADD COLUMN backoff INTEGER NOT NULL DEFAULT 0",
    "UPDATE notify_outbox SET backoff = attempts",
]
"""``backoff``: failed attempts since the receiver last worked, which the retry delay grows with;
``attempts`` keeps counting every failure for the log."""

SCHEMA_V3 = [
    "ALTER TABLE notify_outbox ADD COLUMN claimed_by TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE notify_outbox ADD COLUMN claim_until REAL NOT NULL DEFAULT 0",
]
"""The claim of an entry being sent: which replica sends it and until when no other may.
Rows written before have no claim (``''``, 0): any replica may take them, after recovering."""

MIGRATIONS = ((1, SCHEMA), (2, SCHEMA_V2), (3, SCHEMA_V3))

CLAIM_SECONDS = 120.0
"""How long a claim keeps other replicas off an entry: longer than a delivery can take (Slack's
client times out each call after 10 s and one entry may make three: a post, a chart upload and
an edit; a webhook's default timeout is 10 s), so a live sender finishes well inside it, and
short enough that a dead replica's message goes out within two minutes of its death."""

PENDING, INFLIGHT, SENT, FAILED, SUPERSEDED = "pending", "inflight", "sent", "failed", "superseded"


@dataclass(frozen=True)
class RetryPolicy:
    """How the outbox backs off: ``initial`` seconds doubling up to ``maximum``, then gives up.

    ``give_up_after`` bounds how long a notification may wait (seconds since enqueued): an
    alert from yesterday delivered today misleads more than it helps.
    """

    initial: float = 5.0
    maximum: float = 300.0
    factor: float = 2.0
    give_up_after: float = 24 * 3600.0

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt after ``attempts`` failures in a row (counted from the
        receiver's last success); a receiver's ``Retry-After`` wins when longer."""
        backoff = min(self.maximum, self.initial * self.factor ** max(0, attempts - 1))
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True)
class Entry:
    """One outbox row."""

    id: int
    key: str
    receiver: str
    group_key: str
    reason: str
    payload: Payload = field(repr=False)
    created: float
    state: str
    attempts: int
    next_attempt: float
    last_error: str
    done_at: float | None
    backoff: int = 0
    """Failed attempts since the receiver last took something: what the retry delay grows with."""
    claimed_by: str = ""
    """The replica sending it (or that last tried); ``''`` before any claim."""
    claim_until: float = 0.0
    """Until when the claim keeps other replicas off; 0 once the attempt ended."""

    def as_json(self) -> dict[str, object]:
        """The log entry for the HTTP API: what, where, when and how it went (no payload, no image)."""
        return {
            "key": self.key,
            "receiver": self.receiver,
            "group": self.group_key,
            "reason": self.reason,
            "kind": self.payload.kind.value,
            "title": str(self.payload.body.get("text", ""))[:200],
            "created": self.created,
            "state": "retrying" if self.state == INFLIGHT and self.attempts else self.state,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "doneAt": self.done_at,
        }


class Outbox:
    """Rows of ``notify_outbox`` and the conversation references in ``notify_threads``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        for version, statements in MIGRATIONS:
            store.ensure_schema("notify", version, statements)

    def enqueue(
        self, db: Transaction, receiver: str, group_key: str, reason: str, payload: Payload, now: float
    ) -> str:
        """Add an entry inside the caller's transaction; returns its key."""
        key = uuid.uuid4().hex
        db.execute(
            "INSERT INTO notify_outbox (key, receiver, group_key, reason, kind, payload, image, created, state, "
            "next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                receiver,
                group_key,
                reason,
                payload.kind.value,
                encode(payload),
                payload.image,
                now,
                PENDING,
                now,
            ),
        )
        return key

    def open_entries(self) -> list[Entry]:
        """Pending and in-flight entries, oldest first."""
        with self.store.transaction() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM notify_outbox WHERE state IN (?, ?) ORDER BY id", (PENDING, INFLIGHT)
            ).fetchall()
        return [_entry(r) for r in rows]

    def claim(self, entry: Entry, *, replica: str, now: float, until: float) -> bool:
        """Take ``entry`` for sending until ``until``; False when another replica has it.

        One conditional statement, atomic on both engines: it moves the entry to ``inflight``
        only if it is still as the caller read it (same state and attempts: a pending entry
        nobody took, or an entry in flight whose claim is this replica's or has expired), so
        a sender that read it before someone else's attempt does not skip the recovery that
        attempt calls for.
        """
        with self.store.transaction() as db:
            if entry.state == PENDING:
                cursor = db.execute(
                    "UPDATE notify_outbox SET state = ?, claimed_by = ?, claim_until = ? "
                    "WHERE id = ? AND state = ? AND attempts = ?",
                    (INFLIGHT, replica, until, entry.id, PENDING, entry.attempts),
                )
            else:
                cursor = db.execute(
                    "UPDATE notify_outbox SET claimed_by = ?, claim_until = ? "
                    "WHERE id = ? AND state = ? AND attempts = ? AND (claimed_by = ? OR claim_until <= ?)",
                    (replica, until, entry.id, INFLIGHT, entry.attempts, replica, now),
                )
        return cursor.rowcount == 1

    def mark(self, entry_id: int, state: str, *, now: float, error: str = "") -> None:
        """Move an entry to a final state (sent, failed, superseded); it leaves the open entries.

        Superseding applies only to an entry still pending: one another replica has claimed
        meanwhile is being sent, and what it sends is recorded."""
        if state == INFLIGHT:
            raise ValueError("an entry goes in flight by claim(), not mark()")
        guard = " AND state = ?" if state == SUPERSEDED else ""
        with self.store.transaction() as db:
            db.execute(
                "UPDATE notify_outbox SET state = ?, done_at = ?, last_error = ?, image = NULL, claim_until = 0 "
                f"WHERE id = ?{guard}",
                (state, now, error, entry_id, *((PENDING,) if guard else ())),
            )

    def retry(self, entry_id: int, *, error: str, next_attempt: float) -> None:
        """Count a failed attempt; the entry stays ``inflight`` because whether a failed request
        reached the receiver is not always knowable (a timeout after the receiver took it), so
        the next attempt asks the receiver first. The attempt is over, so its claim ends: any
        replica may make the next one."""
        with self.store.transaction() as db:
            db.execute(
                "UPDATE notify_outbox SET state = ?, attempts = attempts + 1, backoff = backoff + 1, "
                "next_attempt = ?, last_error = ?, claim_until = 0 WHERE id = ?",
                (INFLIGHT, next_attempt, error, entry_id),
            )

    def release(self, receiver: str, now: float) -> int:
        """The receiver works again: its open entries start their backoff afresh and are due at
        ``now`` at the latest. Returns how many had been waiting for a later attempt.

        Counts and updates under the notification lock (``groups.LOCK``), so the count is of
        the rows this update released, whichever replica sends too."""
        with self.store.transaction() as db:
            db.lock(groups.LOCK)
            row = db.execute(
                "SELECT COUNT(*) FROM notify_outbox WHERE receiver = ? AND state IN (?, ?) AND next_attempt > ?",
                (receiver, PENDING, INFLIGHT, now),
            ).fetchone()
            db.execute(
                "UPDATE notify_outbox SET backoff = 0, "
                "next_attempt = CASE WHEN next_attempt > ? THEN ? ELSE next_attempt END "
                "WHERE receiver = ? AND state IN (?, ?) AND (backoff > 0 OR next_attempt > ?)",
                (now, now, receiver, PENDING, INFLIGHT, now),
            )
        return int(row[0]) if row else 0

    def thread(self, receiver: str, group_key: str) -> tuple[str | None, bool]:
        """The group's conversation reference and whether it is a burst digest shared by groups."""
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT thread, shared FROM notify_threads WHERE receiver = ? AND group_key = ?",
                (receiver, group_key),
            ).fetchone()
        return (str(row[0]), bool(row[1])) if row else (None, False)

    def set_thread(self, receiver: str, group_key: str, thread: str | None) -> None:
        with self.store.transaction() as db:
            if thread is None:
                db.execute(
                    "DELETE FROM notify_threads WHERE receiver = ? AND group_key = ?", (receiver, group_key)
                )
            else:
                db.execute(_SET_THREAD, (receiver, group_key, thread, 0))

    def add_burst_members(self, db: Transaction, receiver: str, burst_key: str, groups: list[str]) -> None:
        """Remember which groups a burst digest stands for (inside the caller's transaction)."""
        db.executemany(
            "INSERT INTO notify_burst_members (receiver, burst_key, group_key) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [(receiver, burst_key, g) for g in groups],
        )

    def share_burst_thread(self, receiver: str, burst_key: str, thread: str) -> None:
        """After a digest went out, its members' updates go into the digest's thread.

        Reads the members and deletes them under the notification lock (``groups.LOCK``)."""
        with self.store.transaction() as db:
            db.lock(groups.LOCK)
            db.execute(
                "INSERT INTO notify_threads (receiver, group_key, thread, shared) "
                "SELECT receiver, group_key, ?, 1 FROM notify_burst_members "
                "WHERE receiver = ? AND burst_key = ? ON CONFLICT DO NOTHING",
                (thread, receiver, burst_key),
            )
            db.execute(
                "DELETE FROM notify_burst_members WHERE receiver = ? AND burst_key = ?", (receiver, burst_key)
            )

    def sharing(self, receiver: str, thread: str) -> list[str]:
        """The groups whose updates go into the burst digest ``thread``, by group key."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT group_key FROM notify_threads WHERE receiver = ? AND thread = ? AND shared = 1 "
                "ORDER BY group_key",
                (receiver, thread),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def prune(self, now: float, keep: float) -> int:
        """Forget finished entries older than ``keep`` seconds; returns how many went."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "DELETE FROM notify_outbox WHERE state IN (?, ?, ?) AND done_at < ?",
                (SENT, FAILED, SUPERSEDED, now - keep),
            )
        return cursor.rowcount

    def history(
        self, *, receiver: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[Entry]:
        """The most recent entries, newest first (the notification log); ``since`` keeps those
        enqueued at or after that unix time (``alerter notifications list --since``)."""
        where: list[str] = []
        args: tuple[Any, ...] = ()
        if receiver is not None:
            where.append("receiver = ?")
            args += (receiver,)
        if since is not None:
            where.append("created >= ?")
            args += (since,)
        query = f"SELECT {_COLUMNS} FROM notify_outbox" + (f" WHERE {' AND '.join(where)}" if where else "")
        with self.store.transaction() as db:
            rows = db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_entry(r) for r in rows]


_SET_THREAD = upsert(
    "notify_threads", ("receiver", "group_key", "thread", "shared"), ("receiver", "group_key")
)

_COLUMNS = (
    "id, key, receiver, group_key, reason, kind, payload, image, created, state, attempts, next_attempt, "
    "last_error, done_at, backoff, claimed_by, claim_until"
)


def encode(payload: Payload) -> str:
    """The JSON part of a payload; the image goes into its own column so it can be dropped once sent."""
    return json.dumps({"body": payload.body, "edit": payload.edit})


def decode(kind: str, text: str, image: bytes | None) -> Payload:
    data: Mapping[str, Any] = json.loads(text)
    return Payload(PayloadKind(kind), data["body"], edit=data.get("edit"), image=image)


def _entry(row: tuple[Any, ...]) -> Entry:
    (
        eid,
        key,
        receiver,
        group_key,
        reason,
        kind,
        payload,
        image,
        created,
        state,
        attempts,
        nxt,
        error,
        done,
        backoff,
        claimed_by,
        claim_until,
    ) = row
    return Entry(
        eid,
        key,
        receiver,
        group_key,
        reason,
        decode(kind, payload, image),
        created,
        state,
        attempts,
        nxt,
        error,
        done,
        backoff,
        str(claimed_by),
        float(claim_until),
    )
