"""A real PostgreSQL for the store's tests, and the fixture that opens a store on either engine.

- ``PostgresServer``: Debian's ``postgresql`` server (``make debs`` installs it) in a throwaway
  data directory under /tmp, on 127.0.0.1 and a free port, its unix socket in that directory,
  durability off (``fsync``, ``synchronous_commit``: nothing here outlives the session). The
  server refuses to run as root, so as root it runs as the ``postgres`` user the package adds.
  ``create_schema()`` makes a fresh, empty schema in the session's database (a few ms, where a
  fresh database takes 50-500 ms) and returns a connection string whose ``search_path`` is it,
  so each test sees empty tables of its own.
- ``postgres_server`` (session): one server for the whole run, started on first use, stopped at
  the end of the session.
- ``open_store`` (parametrised ``sqlite`` / ``postgres``): a function opening the test's store,
  the same database on every call (a second call is a restart or a second replica); every store
  it opened is closed after the test. Tests that take it run once on each engine, which pins
  the two engines' semantics as the same.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import psycopg
import pytest

from alerter.store.postgres import PostgresDatabase
from alerter.store.sqlite import Store

from .processes import free_port

__all__ = ["BACKENDS", "PostgresServer", "StoreFactory", "open_store", "postgres_bindir", "postgres_server"]

BACKENDS = ("sqlite", "postgres")
StoreFactory = Callable[[], Store]
SUPERUSER = "alerter"
TEST_DATABASE = "alerter_tests"


def postgres_bindir() -> Path:
    """Where ``initdb``, ``pg_ctl`` and ``postgres`` are: on PATH, or Debian's newest
    ``/usr/lib/postgresql/<major>/bin``."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
        reverse=True,
    )
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed: run `make debs` (Debian's postgresql)")
    return Path(found[0]).parent


class PostgresServer:
    """One throwaway PostgreSQL cluster; ``start`` then ``create_database`` per test, ``stop``."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.workdir = Path(tempfile.mkdtemp(prefix="alerter-pg-"))
        self.data = self.workdir / "data"
        self.log = self.workdir / "server.log"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.workdir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._numbers = count(1)
        self._admin: psycopg.Connection[tuple[object, ...]] | None = None
        self._tests: psycopg.Connection[tuple[object, ...]] | None = None

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stderr}\n{log[-3000:]}"
            )

    def start(self) -> PostgresServer:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")  # fmt: skip
        self._admin = psycopg.connect(self.conninfo("postgres"), autocommit=True)
        self._admin.execute(f"CREATE DATABASE {TEST_DATABASE}")
        self._tests = psycopg.connect(self.conninfo(TEST_DATABASE), autocommit=True)
        return self

    def conninfo(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}"

    def create_schema(self) -> str:
        """A fresh, empty schema; a connection string that works in it."""
        assert self._tests is not None, "start() first"
        name = f"t{next(self._numbers)}"
        self._tests.execute(f"CREATE SCHEMA {name}")
        return f"{self.conninfo(TEST_DATABASE)} options='-c search_path={name}'"

    def create_database(self, *, options: str = "") -> str:
        """A fresh, empty database (``options`` as ``CREATE DATABASE`` takes them); its connection string."""
        assert self._admin is not None, "start() first"
        name = f"d{next(self._numbers)}"
        self._admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 {options}")
        return self.conninfo(name)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """The superuser's connection to ``postgres``, for what a test does behind the store's back."""
        assert self._admin is not None, "start() first"
        return self._admin

    def stop(self) -> None:
        for conn in (self._tests, self._admin):
            if conn is not None:
                conn.close()
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens the test's store: SQLite in ``tmp_path``, or a fresh schema of the session's PostgreSQL."""
    opened: list[Store] = []
    if request.param == "sqlite":
        path = tmp_path / "state.db"

        def make() -> Store:
            return Store(path)
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        dsn = server.create_schema()

        def make() -> Store:
            return Store(PostgresDatabase(dsn))

    def factory() -> Store:
        store = make()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()
