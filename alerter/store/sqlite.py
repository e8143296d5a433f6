"""The store: alerts, baselines and rule health, and the database every other owner's tables share.

The engine saves each tick's alert states in one transaction and loads them at start-up, the
baseline cache persists fitted detectors so a restart does not retrain for hours, and the status
API reads rule health. Other components (the notification outbox, the remediation audit log) own
their tables through two hooks, so every table lives in one database with one migration mechanism::

    store = Store("/var/lib/alerter/state.db")          # ":memory:" in tests
    store = Store(PostgresDatabase(...))                 # several replicas (``store.postgres``)
    store = Store.from_config(cfg.storage, relative_to=config_dir)
    store.ensure_schema("outbox", 1, ["CREATE TABLE outbox (...)"])
    with store.transaction() as db:                      # one atomic unit, nestable
        store.save_alerts(alerts, drop=[a.fingerprint for a in gone])
        db.execute("INSERT INTO outbox ...")

The database is SQLite by default (``db.SQLiteDatabase``: one file, one replica) or PostgreSQL
(``postgres.PostgresDatabase``: shared by replicas); the SQL here and in every owner is written
once for both (see ``alerter.store.db``). The module keeps its name from the days it was SQLite's alone.

Public API (all methods are safe to call from any thread)::

    Store(path | database, *, synchronous="FULL"); Store.from_config(storage, relative_to=dir)
    close(); usable as a context manager; dialect
    transaction() -> ContextManager[db.Transaction]
    ensure_schema(component, version, statements); schema_version(component) -> int
    save_alerts(alerts, *, drop=()); load_alerts(*, group=None, rule=None) -> list[Alert]
    delete_alerts(fingerprints) -> int; count_alerts() -> dict[AlertState, int]
    save_baseline(rule_key, fingerprint, fitted_at, blob); load_baseline(rule_key, fingerprint)
    load_baselines(rule_key) -> dict[fingerprint, (fitted_at, blob)]
    delete_baselines(rule_key, fingerprints=None) -> int
    save_rule_health(healths); load_rule_health() -> dict[(group, rule), RuleHealth]
    delete_rule_health(keys) -> int

Crash safety: every write is a transaction that either committed before the call returned or
left no trace. On SQLite the file is in WAL mode; with ``synchronous=FULL`` (the default) a commit
is also on disk before the call returns, so neither ``kill -9`` nor a power cut loses a fired alert
that was saved; ``NORMAL`` survives ``kill -9`` but may lose the last commits on power loss. On
PostgreSQL a commit is as durable as the server's ``synchronous_commit`` makes it (on by default).

Concurrency: the store's own writes are single statements (upserts, deletes by key), atomic on
both engines; two replicas saving the same alert during a handover leave the later write.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerter.core import codec
from alerter.core.alerts import RuleKey
from alerter.core.model import Alert, AlertState
from alerter.store.db import Database, Dialect, SQLiteDatabase, StoreError, Transaction, upsert

if TYPE_CHECKING:
    from alerter.config.engine import StorageConfig

__all__ = ["CORE", "RuleHealth", "Store", "StoreError"]

CORE = "store"
"""The component name of the store's own tables; reserved."""

_COMPONENT = re.compile(r"^[a-z][a-z0-9_]*$")

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
_ALERT_NAMES = ("fingerprint", *(_COLUMN_OF.get(f, f) for f in _ALERT_FIELDS))
_ALERT_COLUMNS = ", ".join(_ALERT_NAMES)
_SAVE_ALERT = upsert("alerts", _ALERT_NAMES, ("fingerprint",))
_HEALTH_COLUMNS = ("grp", "rule", "last_eval", "duration", "last_error", "last_error_at", "digest")
_SAVE_HEALTH = upsert("rule_health", _HEALTH_COLUMNS, ("grp", "rule"))
_SAVE_BASELINE = upsert(
    "baselines", ("rule_key", "fingerprint", "fitted_at", "blob"), ("rule_key", "fingerprint")
)
_SETTING = {"sqlite": "storage.path", "postgres": "storage.postgres"}
"""The config key that chose the database, for the message about a newer schema."""


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
    """One database, SQLite or PostgreSQL; see the module docstring for the API and guarantees."""

    def __init__(self, target: str | Path | Database, *, synchronous: str = "FULL") -> None:
        """``target``: an SQLite path (``:memory:`` in tests), opened with ``synchronous``, or an
        open ``Database`` (PostgreSQL), which the store then owns and closes."""
        self._db: Database | None = (
            SQLiteDatabase(target, synchronous=synchronous) if isinstance(target, str | Path) else target
        )
        self.path = self._db.name
        self.dialect: Dialect = self._db.dialect
        try:
            for version, statements in enumerate(_MIGRATIONS, start=1):
                self._migrate(CORE, version, statements)
            found = self.schema_version(CORE)
            if found > len(_MIGRATIONS):
                raise StoreError(
                    f"{self.path} was written by a newer alerter (store schema v{found}, this build "
                    f"knows up to v{len(_MIGRATIONS)}); upgrade alerter or point {_SETTING[self.dialect]} elsewhere"
                )
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_config(cls, storage: StorageConfig, *, relative_to: Path) -> Store:
        """The database ``storage:`` names: PostgreSQL when ``storage.postgres`` is set, else the
        SQLite file at ``storage.path`` (relative to ``relative_to``, the config file's directory)."""
        if storage.postgres is not None:
            from alerter.store import postgres  # psycopg is loaded only when PostgreSQL is configured

            return cls(postgres.PostgresDatabase.from_config(storage.postgres))
        path = Path(storage.path)
        return cls(path if path.is_absolute() else relative_to / path)

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database; later calls raise StoreError. Closing twice is harmless."""
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _database(self) -> Database:
        if self._db is None:
            raise StoreError(f"store {self.path} is closed")
        return self._db

    def transaction(self) -> AbstractContextManager[Transaction]:
        """Run the block as one atomic unit: committed on success, rolled back on any exception.

        Nested blocks (also the ones inside ``save_alerts`` and friends) become savepoints of the
        outer transaction, so a caller can make alert states and its own rows commit together.
        Other threads wait until the block ends: keep blocks short and free of network calls.
        """
        return self._database().transaction()

    def _read(self) -> AbstractContextManager[Transaction]:
        return self._database().read()

    # -- schemas --------------------------------------------------------------------------------

    def schema_version(self, component: str) -> int:
        """The schema version of ``component`` in this database; 0 when it has no tables yet."""
        return self._database().schema_version(component)

    def ensure_schema(self, component: str, version: int, statements: Sequence[str]) -> None:
        """Bring ``component``'s tables to ``version`` by running ``statements``.

        Call once per version, in ascending order, at start-up: version 1 creates the tables,
        version N migrates from N-1. A version the database already has is skipped, so the calls
        are idempotent; the statements and the version bump commit together or not at all.
        Write the statements as SQLite spells them (see ``alerter.store.db``); PostgreSQL gets
        its own types. Replicas starting together migrate one after the other, once.
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
        return self._database().migrate(component, version, statements)

    # -- alerts ---------------------------------------------------------------------------------

    def save_alerts(self, alerts: Iterable[Alert], *, drop: Iterable[str] = ()) -> None:
        """Store the given alert states and delete the alerts with fingerprints in ``drop``, atomically.

        Call once per tick with every alert that changed; once it returns, they survive a crash.
        """
        rows = [_alert_row(alert) for alert in alerts]
        gone = [(_text(fp, "fingerprint"),) for fp in drop]
        with self.transaction() as db:
            db.executemany(_SAVE_ALERT, rows)
            db.executemany("DELETE FROM alerts WHERE fingerprint = ?", gone)

    def load_alerts(self, *, group: str | None = None, rule: str | None = None) -> list[Alert]:
        """Stored alerts, optionally of one group and/or rule, ordered by group, rule and fingerprint."""
        where: list[str] = []
        args: list[str] = []
        for column, value in (("grp", group), ("rule", rule)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts" + (f" WHERE {' AND '.join(where)}" if where else "")
        with self._read() as db:
            rows = db.execute(sql + " ORDER BY grp, rule, fingerprint", args).fetchall()
        return [_alert_from_row(row) for row in rows]

    def delete_alerts(self, fingerprints: Iterable[str]) -> int:
        """Delete alerts by fingerprint; returns how many existed."""
        keys = [(_text(fp, "fingerprint"),) for fp in fingerprints]
        with self.transaction() as db:
            return db.executemany("DELETE FROM alerts WHERE fingerprint = ?", keys)

    def count_alerts(self) -> dict[AlertState, int]:
        """Number of stored alerts per state (every state present, zeros included), for /metrics."""
        with self._read() as db:
            rows = db.execute("SELECT state, COUNT(*) FROM alerts GROUP BY state").fetchall()
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
            db.execute(_SAVE_BASELINE, row)

    def load_baseline(self, rule_key: str, fingerprint: str) -> tuple[float, bytes] | None:
        """The fitted-at time and bytes of one series' baseline, or None."""
        sql = "SELECT fitted_at, blob FROM baselines WHERE rule_key = ? AND fingerprint = ?"
        with self._read() as db:
            row = db.execute(sql, (rule_key, fingerprint)).fetchone()
        return (float(row[0]), bytes(row[1])) if row else None

    def load_baselines(self, rule_key: str) -> dict[str, tuple[float, bytes]]:
        """Every stored baseline of a rule: fingerprint -> (fitted_at, blob)."""
        sql = "SELECT fingerprint, fitted_at, blob FROM baselines WHERE rule_key = ?"
        with self._read() as db:
            rows = db.execute(sql, (rule_key,)).fetchall()
        return {fp: (float(at), bytes(blob)) for fp, at, blob in rows}

    def delete_baselines(self, rule_key: str, fingerprints: Iterable[str] | None = None) -> int:
        """Delete a rule's baselines (all of them, or those of the given series); returns how many."""
        with self.transaction() as db:
            if fingerprints is None:
                return db.execute("DELETE FROM baselines WHERE rule_key = ?", (rule_key,)).rowcount
            keys = [(rule_key, _text(fp, "fingerprint")) for fp in fingerprints]
            return db.executemany("DELETE FROM baselines WHERE rule_key = ? AND fingerprint = ?", keys)

    # -- rule health ----------------------------------------------------------------------------

    def save_rule_health(self, healths: Iterable[RuleHealth]) -> None:
        """Store the latest health of each given rule (replacing what was there), atomically."""
        rows = [_health_row(h) for h in healths]
        with self.transaction() as db:
            db.executemany(_SAVE_HEALTH, rows)

    def load_rule_health(self) -> dict[RuleKey, RuleHealth]:
        """Health of every rule evaluated so far, keyed by (group, rule)."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT {', '.join(_HEALTH_COLUMNS)} FROM rule_health ORDER BY grp, rule"
            ).fetchall()
        return {(row[0], row[1]): RuleHealth(*row) for row in rows}

    def delete_rule_health(self, keys: Iterable[RuleKey]) -> int:
        """Forget removed rules; returns how many were stored."""
        pairs = [(_text(g, "group"), _text(r, "rule")) for g, r in keys]
        with self.transaction() as db:
            return db.executemany("DELETE FROM rule_health WHERE grp = ? AND rule = ?", pairs)


# -- rows -------------------------------------------------------------------------------------------


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
