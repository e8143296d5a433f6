"""The store on both engines (SQLite, PostgreSQL): round trips, atomicity, migrations, threads; the
SQLite file itself (WAL, durability) and a real kill -9."""

from __future__ import annotations

import math
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from harness.postgres import StoreFactory

from alerter.core.model import Alert, AlertState, Labels
from alerter.store.sqlite import RuleHealth, Store, StoreError

FIRING = AlertState.FIRING


def alert(series: str = "a", **kw: object) -> Alert:
    fields: dict[str, object] = {"state": FIRING, "active_at": 100.0, "fired_at": 160.0, "last_eval": 220.0}
    fields.update(kw)
    return Alert("TTFTAnomaly", "latency", Labels(model_name=series), **fields)  # type: ignore[arg-type]


def same(a: Alert, b: Alert) -> bool:
    """Field-by-field equality where NaN equals NaN (SQLite has no NaN; the store maps it to NULL)."""
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return type(a) is type(b)


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    return open_store()


# -- alerts -------------------------------------------------------------------------------------


def test_alerts_round_trip_every_field(open_store: StoreFactory) -> None:
    full = alert(
        "llama3",
        state=AlertState.RESOLVED,
        resolved_at=400.0,
        keep_firing_since=340.0,
        last_sent_at=400.0,
        value=0.93,
        expected=0.31,
        lower=0.1,
        upper=math.inf,
        score=0.99,
        fraction=0.8,
        tier="stl",
        reason="flapping: 6 changes within 1h; held firing",
        annotations={"summary": "p99 TTFT is 930ms", "runbook": "https://runbooks/ttft"},
        transitions=(160.0, 400.0),
        flapping=True,
        last_eval=1_767_225_600.123456,
    )
    sparse = alert("mistral", state=AlertState.NODATA, active_at=None, fired_at=None, reason="no data")
    with open_store() as s:
        s.save_alerts([full, sparse])
    with open_store() as s:
        loaded = {a.labels["model_name"]: a for a in s.load_alerts()}
    assert same(loaded["llama3"], full)
    assert same(loaded["mistral"], sparse)
    assert math.isnan(loaded["mistral"].value)


def test_a_plain_alert_is_stored_as_a_record_without_flap_history(store: Store) -> None:
    plain = Alert("R", "g", Labels(a="1"), state=FIRING, fired_at=5.0)
    store.save_alerts([plain])
    (loaded,) = store.load_alerts()
    assert isinstance(loaded, Alert)
    assert (loaded.fingerprint, loaded.transitions, loaded.flapping) == (plain.fingerprint, (), False)


def test_save_replaces_by_fingerprint_and_drops_atomically(store: Store) -> None:
    a, b, c = alert("a"), alert("b"), alert("c")
    store.save_alerts([a, b, c])
    store.save_alerts([alert("a", state=AlertState.RESOLVED, resolved_at=300.0)], drop=[b.fingerprint])
    loaded = {x.labels["model_name"]: x.state for x in store.load_alerts()}
    assert loaded == {"a": AlertState.RESOLVED, "c": FIRING}
    assert store.delete_alerts([c.fingerprint, "0000000000000000"]) == 1
    assert [x.labels["model_name"] for x in store.load_alerts()] == ["a"]


def test_load_alerts_filters_by_group_and_rule(store: Store) -> None:
    store.save_alerts(
        [
            Alert("R1", "g1", Labels(s="1")),
            Alert("R2", "g1", Labels(s="1")),
            Alert("R1", "g2", Labels(s="1")),
        ]
    )
    assert [(a.group, a.rule) for a in store.load_alerts()] == [("g1", "R1"), ("g1", "R2"), ("g2", "R1")]
    assert [(a.group, a.rule) for a in store.load_alerts(group="g1")] == [("g1", "R1"), ("g1", "R2")]
    assert [(a.group, a.rule) for a in store.load_alerts(rule="R1")] == [("g1", "R1"), ("g2", "R1")]
    assert [(a.group, a.rule) for a in store.load_alerts(group="g2", rule="R2")] == []


def test_count_alerts_lists_every_state(store: Store) -> None:
    store.save_alerts([alert("a"), alert("b"), alert("c", state=AlertState.PENDING)])
    counts = store.count_alerts()
    assert counts[FIRING] == 2
    assert counts[AlertState.PENDING] == 1
    assert counts[AlertState.ERROR] == 0
    assert set(counts) == set(AlertState)


def test_a_bad_alert_in_a_batch_saves_nothing(store: Store) -> None:
    with pytest.raises(ValueError, match="finite unix time"):
        store.save_alerts([alert("a"), alert("b", fired_at=math.nan)])
    with pytest.raises(TypeError, match=r"takes alerter\.core\.model\.Alert"):
        store.save_alerts([alert("a"), {"rule": "R"}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="fingerprint must be a non-empty string"):
        store.save_alerts([alert("a")], drop=[""])
    assert store.load_alerts() == []


def test_a_batch_the_database_refuses_halfway_saves_nothing(store: Store) -> None:
    refused = alert("refused")
    with store.transaction() as db:
        if store.dialect == "sqlite":
            db.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON alerts WHEN NEW.fingerprint = '{refused.fingerprint}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
            )
        else:
            db.execute(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.fingerprint = '{refused.fingerprint}' THEN RAISE EXCEPTION 'refused by trigger'; "
                "END IF; RETURN NEW; END $$"
            )
            db.execute("CREATE TRIGGER refuse BEFORE INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION refuse()")
    store.save_alerts([alert("old")])
    refusal = sqlite3.IntegrityError if store.dialect == "sqlite" else psycopg.errors.RaiseException
    with pytest.raises(refusal, match="refused by trigger"):
        store.save_alerts([alert("first"), alert("second"), refused], drop=[alert("old").fingerprint])
    assert [a.labels["model_name"] for a in store.load_alerts()] == ["old"]


# -- baselines ------------------------------------------------------------------------------------


def test_baselines_round_trip_and_delete(store: Store) -> None:
    blob = bytes(range(256)) * 100
    store.save_baseline("latency/TTFTAnomaly", "fp1", 1000.0, blob)
    store.save_baseline("latency/TTFTAnomaly", "fp2", 1001.0, bytearray(b"\x00\x01"))
    store.save_baseline("other/Rule", "fp1", 5.0, b"x")
    assert store.load_baselines("latency/TTFTAnomaly") == {
        "fp1": (1000.0, blob),
        "fp2": (1001.0, b"\x00\x01"),
    }
    store.save_baseline("latency/TTFTAnomaly", "fp1", 2000.0, b"refit")
    assert store.load_baseline("latency/TTFTAnomaly", "fp1") == (2000.0, b"refit")
    assert store.load_baseline("latency/TTFTAnomaly", "nope") is None
    assert store.delete_baselines("latency/TTFTAnomaly", ["fp2", "nope"]) == 1
    assert store.delete_baselines("latency/TTFTAnomaly") == 1
    assert store.load_baselines("latency/TTFTAnomaly") == {}
    assert store.load_baselines("other/Rule") == {"fp1": (5.0, b"x")}


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("", "fp", 1.0, b"x"), ValueError, "rule_key must be a non-empty string"),
        (("r", "", 1.0, b"x"), ValueError, "fingerprint must be a non-empty string"),
        (("r", "fp", math.nan, b"x"), ValueError, "finite unix time"),
        (("r", "fp", 1.0, "text"), TypeError, "blob must be bytes"),
    ],
)
def test_save_baseline_rejects_bad_input(
    store: Store, args: tuple[object, ...], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        store.save_baseline(*args)  # type: ignore[arg-type]


# -- rule health --------------------------------------------------------------------------------


def test_rule_health_round_trip(store: Store) -> None:
    ok = RuleHealth("latency", "TTFTAnomaly", last_eval=600.0, duration=0.25, digest="d1")
    bad = RuleHealth("cost", "Spend", 600.0, 30.0, "timeout: query took longer than 30s", 600.0, "d2")
    store.save_rule_health([ok, bad])
    assert store.load_rule_health() == {("latency", "TTFTAnomaly"): ok, ("cost", "Spend"): bad}
    recovered = RuleHealth("cost", "Spend", 660.0, 1.0, "", 600.0, "d2")
    store.save_rule_health([recovered])
    assert store.load_rule_health()[("cost", "Spend")] == recovered
    assert store.delete_rule_health([("cost", "Spend"), ("x", "y")]) == 1
    assert list(store.load_rule_health()) == [("latency", "TTFTAnomaly")]


@pytest.mark.parametrize(
    ("health", "message"),
    [
        (RuleHealth("", "R"), "group must be"),
        (RuleHealth("g", "R", duration=-1), "duration must be"),
        (RuleHealth("g", "R", last_eval=math.inf), "finite unix time"),
    ],
)
def test_rule_health_rejects_bad_values(store: Store, health: RuleHealth, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store.save_rule_health([health])


# -- transactions and schemas -------------------------------------------------------------------


OUTBOX_V1 = ["CREATE TABLE outbox (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, body TEXT NOT NULL)"]
OUTBOX_V2 = ["ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"]


def test_a_failed_transaction_leaves_no_trace(store: Store) -> None:
    store.ensure_schema("outbox", 1, OUTBOX_V1)
    with pytest.raises(RuntimeError, match="receiver exploded"), store.transaction() as db:
        store.save_alerts([alert("a")])
        db.execute("INSERT INTO outbox (fingerprint, body) VALUES ('x', '{}')")
        raise RuntimeError("receiver exploded")
    assert store.load_alerts() == []
    with store.transaction() as db:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)


def test_alerts_and_component_rows_commit_together(store: Store) -> None:
    store.ensure_schema("outbox", 1, OUTBOX_V1)
    with store.transaction() as db:
        store.save_alerts([alert("a")])
        db.execute("INSERT INTO outbox (fingerprint, body) VALUES (?, '{}')", (alert("a").fingerprint,))
    assert len(store.load_alerts()) == 1
    with store.transaction() as db:
        assert db.execute("SELECT fingerprint FROM outbox").fetchall() == [(alert("a").fingerprint,)]


def test_a_failed_inner_block_rolls_back_only_itself(store: Store) -> None:
    with store.transaction():
        store.save_alerts([alert("kept")])
        with pytest.raises(ZeroDivisionError), store.transaction():
            store.save_alerts([alert("undone")])
            _ = 1 / 0
    assert [a.labels["model_name"] for a in store.load_alerts()] == ["kept"]


def test_ensure_schema_applies_each_version_once(open_store: StoreFactory) -> None:
    create_once = [*OUTBOX_V1, "INSERT INTO outbox (fingerprint, body) VALUES ('created', '{}')"]
    with open_store() as s:
        assert s.schema_version("outbox") == 0
        s.ensure_schema("outbox", 1, create_once)
        s.ensure_schema("outbox", 1, create_once)
        assert s.schema_version("outbox") == 1
        s.ensure_schema("outbox", 2, OUTBOX_V2)
    with open_store() as s:
        s.ensure_schema("outbox", 1, create_once)
        s.ensure_schema("outbox", 2, OUTBOX_V2)
        assert s.schema_version("outbox") == 2
        with s.transaction() as db:
            assert db.execute("SELECT fingerprint, attempts FROM outbox").fetchall() == [("created", 0)]


def test_ensure_schema_refuses_to_skip_a_version(store: Store) -> None:
    with pytest.raises(StoreError, match=r"outbox is at v0; apply v1..v1 before v2"):
        store.ensure_schema("outbox", 2, OUTBOX_V2)


def test_a_failed_migration_changes_nothing(store: Store) -> None:
    broken = ["CREATE TABLE audit (id INTEGER PRIMARY KEY)", "CREATE TABLE audit (id INTEGER PRIMARY KEY)"]
    exists = "table audit already exists" if store.dialect == "sqlite" else 'relation "audit" already exists'
    with pytest.raises(StoreError, match=f"migrating audit to v1 failed: {exists}"):
        store.ensure_schema("audit", 1, broken)
    assert store.schema_version("audit") == 0
    store.ensure_schema("audit", 1, broken[:1])
    assert store.schema_version("audit") == 1


@pytest.mark.parametrize(
    ("component", "version", "statements", "message"),
    [
        ("store", 1, ["SELECT 1"], "other than 'store'"),
        ("Outbox", 1, ["SELECT 1"], "lowercase identifier"),
        ("out box", 1, ["SELECT 1"], "lowercase identifier"),
        ("outbox", 0, ["SELECT 1"], "integer >= 1"),
        ("outbox", True, ["SELECT 1"], "integer >= 1"),
        ("outbox", 1, [], "at least one non-empty SQL statement"),
        ("outbox", 1, ["  "], "at least one non-empty SQL statement"),
    ],
)
def test_ensure_schema_rejects_bad_arguments(
    store: Store, component: str, version: int, statements: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.ensure_schema(component, version, statements)


# -- files ------------------------------------------------------------------------------------------


def test_a_file_store_uses_wal_and_the_requested_durability(tmp_path: Path) -> None:
    with Store(tmp_path / "deep" / "dir" / "state.db") as s, s.transaction() as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA synchronous").fetchone() == (2,)
    with Store(tmp_path / "fast.db", synchronous="normal") as s, s.transaction() as db:
        assert db.execute("PRAGMA synchronous").fetchone() == (1,)


def test_a_second_reader_sees_committed_state_while_a_write_is_open(open_store: StoreFactory) -> None:
    """WAL (or PostgreSQL's MVCC): the CLI or a second replica reads while the engine is inside a transaction."""
    with open_store() as engine, open_store() as cli:
        engine.save_alerts([alert("committed")])
        with engine.transaction():
            engine.save_alerts([alert("uncommitted")])
            assert [a.labels["model_name"] for a in cli.load_alerts()] == ["committed"]
        assert len(cli.load_alerts()) == 2


def test_a_database_from_a_newer_build_is_refused(open_store: StoreFactory) -> None:
    with open_store() as s, s.transaction() as db:
        db.execute("UPDATE schema_versions SET version = 99 WHERE component = 'store'")
    setting = "storage.path" if s.dialect == "sqlite" else "storage.postgres"
    with pytest.raises(StoreError, match=f"newer alerter .* point {setting} elsewhere"):
        open_store()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        Store(path)


def test_bad_store_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be one of"):
        Store(":memory:", synchronous="sometimes")
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot create the directory"):
        Store(tmp_path / "file" / "state.db")


def test_a_closed_store_says_so(open_store: StoreFactory) -> None:
    s = open_store()
    s.close()
    s.close()
    with pytest.raises(StoreError, match="is closed"):
        s.load_alerts()
    with pytest.raises(StoreError, match="is closed"), s.transaction():
        pass


# -- threads ----------------------------------------------------------------------------------------


def test_threads_share_the_store_safely(open_store: StoreFactory) -> None:
    """Groups run on scheduler threads; each saves its tick while others read and write."""
    errors: list[BaseException] = []
    with open_store() as s:
        s.ensure_schema("outbox", 1, OUTBOX_V1)

        def group(n: int) -> None:
            try:
                for tick in range(60):
                    alerts = [Alert("R", f"g{n}", Labels(s=str(i)), value=float(tick)) for i in range(10)]
                    with s.transaction() as db:
                        s.save_alerts(alerts)
                        db.execute(
                            "INSERT INTO outbox (fingerprint, body) VALUES (?, ?)", (f"g{n}", str(tick))
                        )
                    assert len(s.load_alerts(group=f"g{n}")) == 10
                    s.save_baseline(f"g{n}/R", "fp", float(tick), b"b" * 100)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=group, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(s.load_alerts()) == 40
        assert {a.value for a in s.load_alerts()} == {59.0}
        with s.transaction() as db:
            assert db.execute("SELECT COUNT(*) FROM outbox").fetchone() == (240,)
        assert all(s.load_baseline(f"g{n}/R", "fp") == (59.0, b"b" * 100) for n in range(4))


# -- crash safety -----------------------------------------------------------------------------------

WRITER = """
import sys
from alerter.core.model import Alert, AlertState, Labels
from alerter.store.sqlite import Store

store = Store(sys.argv[1])
tick = int(sys.argv[2])
while True:
    tick += 1
    series = [
        Alert("R", "g", Labels(series=str(i)), state=AlertState.FIRING, fired_at=0.0, value=float(tick))
        for i in range(50)
    ]
    new = Alert("R", "g", Labels(fired=str(tick)), state=AlertState.FIRING, fired_at=float(tick))
    store.save_alerts([*series, new])
    print(tick, flush=True)
"""


def write_until_killed(path: Path, start: int, acknowledged: int) -> tuple[int, int]:
    """Run a writer, SIGKILL it once it has confirmed ``acknowledged`` more saves.

    Returns (the last save confirmed when the kill was sent, the last save it confirmed at all):
    the writer goes on until the signal lands, so the second is read from what it printed before
    dying, however long the kill took on a busy machine.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    seen = start
    for line in proc.stdout:
        seen = int(line)
        if seen >= start + acknowledged:
            proc.send_signal(signal.SIGKILL)
            break
    printed = [int(line) for line in proc.stdout.read().split()]
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.stderr is not None
    errors = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, f"the writer must die by SIGKILL, mid-loop:\n{errors[-2000:]}"
    return seen, max([seen, *printed])


@pytest.mark.slow
def test_kill_9_loses_no_saved_alert_and_leaves_a_consistent_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    start = 0
    for _ in range(3):
        acknowledged, last_confirmed = write_until_killed(path, start, acknowledged=150)
        with Store(path) as s:
            with s.transaction() as db:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            alerts = s.load_alerts()
        fired = sorted(int(a.labels["fired"]) for a in alerts if "fired" in a.labels)
        values = {a.value for a in alerts if "series" in a.labels}
        assert len(values) == 1, f"one tick's 50 updates must commit together, found values {values}"
        (committed,) = values
        assert committed >= last_confirmed >= acknowledged, "every save that returned survives"
        assert committed <= last_confirmed + 1, (
            "at most the save in flight at the kill may also have committed"
        )
        assert fired == list(range(1, int(committed) + 1)), "no fired alert lost, none half-written"
        start = int(committed)
