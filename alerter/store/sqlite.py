"""SQLite persistence, the single owner of the database file: alerts, baselines, rule health.

The engine saves each tick's alert states in one transaction and loads them at start-up, the
baseline cache persists fitted detectors so a restart does not retrain for hours, and the status
API reads rule health. Other components (the notification outbox, the remediation audit log) own
their tables through two hooks, so every table lives in one file with one migration mechanism::

    store = Store("/var/lib/alerter/state.db")          # ":memory:" in tests
    store.ensure_schema("outbox", 1, ["CREATE TABLE outbox (...)"])
    with store.transaction() as db:                      # one atomic unit, nestable
        store.save_alerts(alerts, drop=[a.fingerprint for a in gone])
        db.execute("INSERT INTO outbox ...")

Public API (all methods are safe to call from any thread)::

    Store(path, *, synchronous="FULL"); close(); usable as a context manager
    transaction() -> ContextManager[sqlite3.Connection]
    ensure_schema(component, version, statements); schema_version(component) -> int
    save_alerts(alerts, *, drop=()); load_alerts(*, group=None, rule=None) -> list[Alert]
    delete_alerts(fingerprints) -> int; count_alerts() -> dict[AlertState, int]
    save_baseline(rule_key, fingerprint, fitted_at, blob); load_baseline(rule_key, fingerprint)
    load_baselines(rule_key) -> dict[fingerprint, (fitted_at, blob)]
    delete_baselines(rule_key, fingerprints=None) -> int
    save_rule_health(healths); load_rule_health() -> dict[(group, rule), RuleHealth]
    delete_rule_health(keys) -> int

Crash safety: the file is in WAL mode and every write is a transaction that either committed
before the call returned or left no trace. With ``synchronous=FULL`` (the default) a commit is
also on disk before the call returns, so neither ``kill -9`` nor a power cut loses a fired alert
that was saved; ``NORMAL`` survives ``kill -9`` but may lose the last commits on power loss.

Threads share one connection behind a re-entrant lock: SQLite serialises writers anyway, our
reads are small, and one connection is the only way ``:memory:`` databases can be shared.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerter.core import codec
from alerter.core.alerts import RuleKey
from alerter.core.errors import AlerterError
from alerter.core.model import Alert, AlertState

CORE = "store"
"""The component name of the store's own tables; reserved."""

_COMPONENT = re.compile(r"^[a-z][a-z0-9_]*$")
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE alerts (
            fingerprint TEXT PRIMARY KEY, grp TEXT NOT NULL, rule TEXT NOT NULL, labels TEXT NOT NULL,
            state TEXT NOT NULL, active_at REAL, fired_at REAL, resolved_at REAL,
            keep_firing_since REAL, last_eval REAL, last_sent_at REAL,
            value REAL, expected REAL, lower REAL, upper REAL, score REAL NOT NULL,
            fraction REAL NOT NULL, tier TEXT NOT NULL, reason TEXT NOT NULL,
            annotations TEXT NOT NULL, transitions TEXT NOT NULL, flapping INTEGER NOT NULL)""",
        "CREATE INDEX alerts_by_rule ON alerts (grp, rule)",
        """CREATE TABLE baselines (
            rule_key TEXT NOT NULL, fingerprint TEXT NOT NULL, fitted_at REAL NOT NULL,
            blob BLOB NOT NULL, PRIMARY KEY (rule_key, fingerprint))""",
        """CREATE TABLE rule_health (
            grp TEXT NOT NULL, rule TEXT NOT NULL, last_eval REAL, duration REAL NOT NULL,
            last_error TEXT NOT NULL, last_error_at REAL, digest TEXT NOT NULL,
            PRIMARY KEY (grp, rule))""",
    ],
]

_TIMES = frozenset(("active_at", "fired_at", "resolved_at", "keep_firing_since", "last_eval", "last_sent_at"))
"""Alert fields checked to be finite unix times before they are written."""
_COLUMN_OF = {"group": "grp"}
"""Alert fields whose column has another name (``group`` is an SQL keyword)."""
_ALERT_FIELDS = codec.FIELDS
_ALERT_COLUMNS = ", ".join(("fingerprint", *(_COLUMN_OF.get(f, f) for f in _ALERT_FIELDS)))


class StoreError(AlerterError):
    """The database cannot be opened, migrated or used (closed, newer schema, not a database)."""


@dataclass(frozen=True)
class RuleHealth:
    """How the last evaluation of one rule went, for ``/api/v1/rules`` and for restarts."""

    group: str
    rule: str
    last_eval: float | None = None
    """Unix time the last evaluation started; None before the first."""
    duration: float = 0.0
    """Seconds the last evaluation took."""
    last_error: str = ""
    """Why the last evaluation failed; empty when it succeeded."""
    last_error_at: float | None = None
    """When the most recent failure happened, kept after recovery so operators see it."""
    digest: str = ""
    """Digest of the rule definition its stored alerts were produced under (see alerts.carry_over)."""


class Store:
    """One SQLite database; see the module docstring for the API and guarantees."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}, got {synchronous!r}")
        self.path = str(path)
        self._lock = threading.RLock()
        self._savepoints = 0
        self._conn: sqlite3.Connection | None = self._open(self.path, synchronous.upper())
        try:
            for version, statements in enumerate(_MIGRATIONS, start=1):
                self._migrate(CORE, version, statements)
            found = self.schema_version(CORE)
            if found > len(_MIGRATIONS):
                raise StoreError(
                    f"{self.path} was written by a newer alerter (store schema v{found}, this build "
                    f"knows up to v{len(_MIGRATIONS)}); upgrade alerter or point storage.path elsewhere"
                )
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _open(path: str, synchronous: str) -> sqlite3.Connection:
        if path != ":memory:" and not path.startswith("file:"):
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of store {path}: {exc}") from exc
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER)"
            )
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open store {path}: {exc} (is it an SQLite file alerter may write?)"
            ) from exc
        return conn

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; later calls raise StoreError. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block as one atomic unit: committed on success, rolled back on any exception.

        Nested blocks (also the ones inside ``save_alerts`` and friends) become savepoints of the
        outer transaction, so a caller can make alert states and its own rows commit together.
        Other threads wait until the block ends: keep blocks short and free of network calls.
        """
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:
                yield from self._savepoint(conn)
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _savepoint(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._savepoints -= 1
        conn.execute(f"RELEASE {name}")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"store {self.path} is closed")
        return self._conn

    # -- schemas --------------------------------------------------------------------------------

    def schema_version(self, component: str) -> int:
        """The schema version of ``component`` in this database; 0 when it has no tables yet."""
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT version FROM schema_versions WHERE component = ?", (component,))
                .fetchone()
            )
        return int(row[0]) if row else 0

    def ensure_schema(self, component: str, version: int, statements: Sequence[str]) -> None:
        """Bring ``component``'s tables to ``version`` by running ``statements``.

        Call once per version, in ascending order, at start-up: version 1 creates the tables,
        version N migrates from N-1. A version the database already has is skipped, so the calls
        are idempotent; the statements and the version bump commit together or not at all.
        """
        if not isinstance(component, str) or not _COMPONENT.match(component) or component == CORE:
            raise ValueError(
                f"component must be a lowercase identifier other than {CORE!r}, e.g. 'outbox', got {component!r}"
            )
        self._migrate(component, version, statements)

    def _migrate(self, component: str, version: int, statements: Sequence[str]) -> bool:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"schema version must be an integer >= 1, got {version!r}")
        if not statements or not all(isinstance(s, str) and s.strip() for s in statements):
            raise ValueError(f"schema {component} v{version} needs at least one non-empty SQL statement")
        with self.transaction() as db:
            current = self.schema_version(component)
            if current >= version:
                return False
            if current != version - 1:
                raise StoreError(
                    f"schema {component} is at v{current}; apply v{current + 1}..v{version - 1} before v{version}"
                )
            try:
                for statement in statements:
                    db.execute(statement)
            except sqlite3.Error as exc:
                raise StoreError(f"migrating {component} to v{version} failed: {exc}") from exc
            db.execute("INSERT OR REPLACE INTO schema_versions VALUES (?, ?)", (component, version))
        return True

    # -- alerts ---------------------------------------------------------------------------------

    def save_alerts(self, alerts: Iterable[Alert], *, drop: Iterable[str] = ()) -> None:
        """Store the given alert states and delete the alerts with fingerprints in ``drop``, atomically.

        Call once per tick with every alert that changed; once it returns, they survive a crash.
        """
        rows = [_alert_row(alert) for alert in alerts]
        gone = [(_text(fp, "fingerprint"),) for fp in drop]
        with self.transaction() as db:
            db.executemany(
                f"INSERT OR REPLACE INTO alerts ({_ALERT_COLUMNS}) VALUES ({_marks(len(_ALERT_FIELDS) + 1)})",
                rows,
            )
            db.executemany("DELETE FROM alerts WHERE fingerprint = ?", gone)

    def load_alerts(self, *, group: str | None = None, rule: str | None = None) -> list[Alert]:
        """Stored alerts, optionally of one group and/or rule, ordered by group, rule and fingerprint."""
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE (?1 IS NULL OR grp = ?1) AND (?2 IS NULL OR rule = ?2)"
        with self._lock:
            rows = (
                self._connection().execute(sql + " ORDER BY grp, rule, fingerprint", (group, rule)).fetchall()
            )
        return [_alert_from_row(row) for row in rows]

    def delete_alerts(self, fingerprints: Iterable[str]) -> int:
        """Delete alerts by fingerprint; returns how many existed."""
        keys = [(_text(fp, "fingerprint"),) for fp in fingerprints]
        with self.transaction() as db:
            before = db.total_changes
            db.executemany("DELETE FROM alerts WHERE fingerprint = ?", keys)
            return db.total_changes - before

    def count_alerts(self) -> dict[AlertState, int]:
        """Number of stored alerts per state (every state present, zeros included), for /metrics."""
        with self._lock:
            rows = self._connection().execute("SELECT state, COUNT(*) FROM alerts GROUP BY state").fetchall()
        counts = dict.fromkeys(AlertState, 0)
        counts.update({AlertState(state): int(n) for state, n in rows})
        return counts

    # -- baselines ------------------------------------------------------------------------------

    def save_baseline(
        self, rule_key: str, fingerprint: str, fitted_at: float, blob: bytes | bytearray | memoryview
    ) -> None:
        """Store (or replace) the fitted state of one series' baseline, as opaque bytes."""
        if not isinstance(blob, bytes | bytearray | memoryview):
            raise TypeError(f"baseline blob must be bytes, got {type(blob).__name__}")
        row = (_text(rule_key, "rule_key"), _text(fingerprint, "fingerprint"), _time(fitted_at), bytes(blob))
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO baselines VALUES (?, ?, ?, ?)", row)

    def load_baseline(self, rule_key: str, fingerprint: str) -> tuple[float, bytes] | None:
        """The fitted-at time and bytes of one series' baseline, or None."""
        sql = "SELECT fitted_at, blob FROM baselines WHERE rule_key = ? AND fingerprint = ?"
        with self._lock:
            row = self._connection().execute(sql, (rule_key, fingerprint)).fetchone()
        return (float(row[0]), bytes(row[1])) if row else None

    def load_baselines(self, rule_key: str) -> dict[str, tuple[float, bytes]]:
        """Every stored baseline of a rule: fingerprint -> (fitted_at, blob)."""
        sql = "SELECT fingerprint, fitted_at, blob FROM baselines WHERE rule_key = ?"
        with self._lock:
            rows = self._connection().execute(sql, (rule_key,)).fetchall()
        return {fp: (float(at), bytes(blob)) for fp, at, blob in rows}

    def delete_baselines(self, rule_key: str, fingerprints: Iterable[str] | None = None) -> int:
        """Delete a rule's baselines (all of them, or those of the given series); returns how many."""
        with self.transaction() as db:
            before = db.total_changes
            if fingerprints is None:
                db.execute("DELETE FROM baselines WHERE rule_key = ?", (rule_key,))
            else:
                keys = [(rule_key, _text(fp, "fingerprint")) for fp in fingerprints]
                db.executemany("DELETE FROM baselines WHERE rule_key = ? AND fingerprint = ?", keys)
            return db.total_changes - before

    # -- rule health ----------------------------------------------------------------------------

    def save_rule_health(self, healths: Iterable[RuleHealth]) -> None:
        """Store the latest health of each given rule (replacing what was there), atomically."""
        rows = [_health_row(h) for h in healths]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO rule_health VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def load_rule_health(self) -> dict[RuleKey, RuleHealth]:
        """Health of every rule evaluated so far, keyed by (group, rule)."""
        with self._lock:
            rows = self._connection().execute("SELECT * FROM rule_health ORDER BY grp, rule").fetchall()
        return {(row[0], row[1]): RuleHealth(*row) for row in rows}

    def delete_rule_health(self, keys: Iterable[RuleKey]) -> int:
        """Forget removed rules; returns how many were stored."""
        pairs = [(_text(g, "group"), _text(r, "rule")) for g, r in keys]
        with self.transaction() as db:
            before = db.total_changes
            db.executemany("DELETE FROM rule_health WHERE grp = ? AND rule = ?", pairs)
            return db.total_changes - before


# -- rows -------------------------------------------------------------------------------------------


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _time(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"time must be a finite unix time in seconds, got {value!r}")
    return float(value)


def _optional_time(value: float | None) -> float | None:
    return None if value is None else _time(value)


def _real(value: float) -> float | None:
    """NaN is stored as NULL (SQLite has no NaN) and read back as NaN."""
    return None if math.isnan(value) else float(value)


def _json(mapping: Mapping[str, str]) -> str:
    return json.dumps(dict(mapping), sort_keys=True)


def _alert_row(alert: Alert) -> tuple[Any, ...]:
    """The alert's column values in ``_ALERT_COLUMNS`` order: plain values, NaN as NULL."""
    if not isinstance(alert, Alert):
        raise TypeError(f"save_alerts takes alerter.core.model.Alert values, got {type(alert).__name__}")
    plain = codec.to_plain(alert)
    return (alert.fingerprint, *(_column_value(name, plain[name]) for name in _ALERT_FIELDS))


def _column_value(name: str, value: Any) -> Any:
    if name in _TIMES:
        return _optional_time(value)
    if name == "transitions":
        return json.dumps([_time(t) for t in value])
    if isinstance(value, Mapping):
        return _json(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return _real(value)
    return value


def _alert_from_row(row: Sequence[Any]) -> Alert:
    plain = dict(zip(_ALERT_FIELDS, row[1:], strict=True))
    for name in ("labels", "annotations", "transitions"):
        plain[name] = json.loads(plain[name])
    return codec.from_plain(plain)


def _health_row(health: RuleHealth) -> tuple[Any, ...]:
    if not isinstance(health, RuleHealth):
        raise TypeError(f"save_rule_health takes RuleHealth values, got {type(health).__name__}")
    duration = health.duration
    if not isinstance(duration, int | float) or not math.isfinite(duration) or duration < 0:
        raise ValueError(f"RuleHealth.duration must be a finite number of seconds >= 0, got {duration!r}")
    return (
        _text(health.group, "group"),
        _text(health.rule, "rule"),
        _optional_time(health.last_eval),
        float(duration),
        health.last_error,
        _optional_time(health.last_error_at),
        health.digest,
    )
