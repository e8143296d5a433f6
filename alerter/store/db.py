"""The database seam: what each owner of tables needs from a database, and the SQLite engine.

Every table has one owning module that writes its own SQL (see docs/architecture.md, "Where
state lives"). That SQL is written once, in the subset SQLite and PostgreSQL share, and runs on
either engine through a ``Database``:

- parameters are ``?`` (the PostgreSQL adapter turns them into its own ``%s``); no ``?1``;
- an upsert is ``INSERT ... ON CONFLICT (key) DO UPDATE SET c = excluded.c`` (``upsert`` writes
  it) or ``ON CONFLICT DO NOTHING``, never ``INSERT OR REPLACE`` / ``INSERT OR IGNORE``;
- a new row's id comes from ``INSERT ... RETURNING id`` (SQLite 3.35 or later), not ``lastrowid``;
- functions both have (``COUNT``, ``CASE``), not SQLite's two-argument ``MIN``/``MAX``; a
  subquery in ``FROM`` has an alias;
- DDL is written as SQLite spells it, type names in capitals (``TEXT``, ``INTEGER``, ``REAL``,
  ``BLOB``, ``INTEGER PRIMARY KEY AUTOINCREMENT``): each engine's ``ddl`` maps them to its own
  types, the one place where the dialects differ (SQLite runs them unchanged, so existing
  database files keep exactly the schema they have).

A ``transaction()`` is one atomic unit; blocks nest as savepoints. SQLite's ``BEGIN IMMEDIATE``
takes the database's only write lock for the whole block, so every read-modify-write inside one
is serialised; PostgreSQL runs READ COMMITTED, where two replicas' blocks interleave. An owner
whose block reads and then writes on what it read (the notification groups, the schema
versions) calls ``Transaction.lock(name)`` first: an advisory lock held to the end of the
transaction on PostgreSQL, nothing on SQLite, which holds its write lock already. Single
statements (an upsert, ``ON CONFLICT DO NOTHING``, a conditional ``UPDATE``) are atomic on both
and need no lock.

Errors of the engine's driver (``Database.errors``) reach the caller as they are, so code that
retries or reports them sees what it saw before; opening and migrating raise ``StoreError``.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

from alerter.core.errors import AlerterError

Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]
"""One result row: column values as the driver returns them (str, int, float, bytes, None)."""

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
SQLITE_MINIMUM = (3, 35, 0)
"""``RETURNING`` (3.35) and ``ON CONFLICT ... DO UPDATE`` (3.24)."""

_LOCK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SCHEMA_VERSIONS = "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER)"
SCHEMA_LOCK = "schema_versions"
"""The lock a migration holds, so replicas starting together migrate once, one after the other."""


class StoreError(AlerterError):
    """The database cannot be opened, migrated or used (closed, newer schema, not a database)."""


class Rows(Protocol):
    """The result of one statement: a DB-API cursor of either driver."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> list[Row]: ...

    def __iter__(self) -> Iterator[Row]: ...


class Transaction(Protocol):
    """What ``Database.transaction()`` and ``read()`` yield: statements in the common subset."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        """Run ``sql`` once per parameter row; returns the rows changed in all."""
        ...

    def lock(self, name: str) -> None:
        """Serialise this block with every other block that locks ``name``, until it commits."""
        ...


class Database(Protocol):
    """One database, SQLite or PostgreSQL, shared by every thread of the process."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def name(self) -> str:
        """Where the database is, for messages (a path, or host:port/dbname; never a password)."""
        ...

    def transaction(self) -> AbstractContextManager[Transaction]:
        """One atomic unit, committed on success and rolled back on any exception; nestable."""
        ...

    def read(self) -> AbstractContextManager[Transaction]:
        """Statements outside a write transaction (each sees what was committed when it ran), or
        inside the caller's open transaction. No write lock: readers never wait for the engine."""
        ...

    def schema_version(self, component: str) -> int: ...

    def migrate(self, component: str, version: int, statements: Sequence[str]) -> bool:
        """Run ``statements`` and record ``version`` for ``component`` in one transaction, unless
        the database is there already; returns whether it ran."""
        ...

    def close(self) -> None: ...


def upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """``INSERT`` of every column (``?`` each) that replaces the other columns of a row whose ``key``
    exists: what ``INSERT OR REPLACE`` did, in the syntax both engines accept."""
    others = [c for c in columns if c not in key]
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    if not others:
        return f"{head} ON CONFLICT ({', '.join(key)}) DO NOTHING"
    sets = ", ".join(f"{c} = excluded.{c}" for c in others)
    return f"{head} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"


def check_lock_name(name: str) -> str:
    if not isinstance(name, str) or not _LOCK_NAME.match(name):
        raise ValueError(f"a lock name is a lowercase identifier such as 'notify', got {name!r}")
    return name


class BaseDatabase(ABC):
    """Schema versions, the same on every engine, over an engine's ``transaction`` and ``ddl``."""

    dialect: Dialect
    name: str
    errors: tuple[type[Exception], ...]
    """The driver's base error class(es)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]: ...

    @abstractmethod
    def read(self) -> AbstractContextManager[Transaction]: ...

    @abstractmethod
    def close(self) -> None: ...

    def ddl(self, statement: str) -> str:
        """``statement`` (SQLite's spelling of a schema change) in this engine's types."""
        return statement

    def schema_version(self, component: str) -> int:
        with self.read() as tx:
            row = tx.execute(
                "SELECT version FROM schema_versions WHERE component = ?", (component,)
            ).fetchone()
        return int(row[0]) if row else 0

    def migrate(self, component: str, version: int, statements: Sequence[str]) -> bool:
        with self.transaction() as tx:
            tx.lock(SCHEMA_LOCK)
            current = self.schema_version(component)
            if current >= version:
                return False
            if current != version - 1:
                raise StoreError(
                    f"schema {component} is at v{current}; apply v{current + 1}..v{version - 1} before v{version}"
                )
            try:
                for statement in statements:
                    tx.execute(self.ddl(statement))
            except self.errors as exc:
                raise StoreError(f"migrating {component} to v{version} failed: {exc}") from exc
            tx.execute(
                upsert("schema_versions", ("component", "version"), ("component",)), (component, version)
            )
        return True


class _SQLiteTransaction:
    """The statements of one SQLite connection, as they always ran: no translation."""

    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> Rows:
        cursor: Rows = self._conn.execute(sql, params)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        return max(self._conn.executemany(sql, rows).rowcount, 0)

    def lock(self, name: str) -> None:
        # BEGIN IMMEDIATE took the database's single write lock for the whole transaction.
        check_lock_name(name)


class SQLiteDatabase(BaseDatabase):
    """One SQLite file (or ``:memory:``): WAL, ``synchronous`` as asked (FULL by default).

    Threads share one connection behind a re-entrant lock: SQLite serialises writers anyway, the
    reads are small, and one connection is the only way ``:memory:`` databases can be shared.
    With ``synchronous=FULL`` a commit is on disk before ``transaction()`` returns, so neither
    ``kill -9`` nor a power cut loses it; ``NORMAL`` survives ``kill -9`` but may lose the last
    commits on power loss.
    """

    dialect: Literal["sqlite"] = "sqlite"
    errors = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, got {synchronous!r}")
        if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old: the store needs {'.'.join(map(str, SQLITE_MINIMUM))} "
                "or later (Python's sqlite3 module is built against the system's libsqlite3)"
            )
        self.name = str(path)
        self._lock = threading.RLock()
        self._savepoints = 0
        self._conn: sqlite3.Connection | None = self._open(self.name, synchronous.upper())
        self._tx = _SQLiteTransaction(self._conn)

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
            conn.execute(_SCHEMA_VERSIONS)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open store {path}: {exc} (is it an SQLite file alerter may write?)"
            ) from exc
        return conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"store {self.name} is closed")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """``BEGIN IMMEDIATE``: the write lock is taken at the start, so the block never fails
        halfway for another writer (it waits up to 10 s instead). Nested blocks are savepoints."""
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:
                yield from self._savepoint(conn)
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._tx
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _savepoint(self, conn: sqlite3.Connection) -> Iterator[Transaction]:
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield self._tx
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._savepoints -= 1
        conn.execute(f"RELEASE {name}")

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        with self._lock:
            self._connection()
            yield self._tx
