"""Silences (persisted create/list/expire) and the muter that combines them with maintenance windows."""

from __future__ import annotations

import pytest
from harness.postgres import StoreFactory

from alerter.core.model import Labels
from alerter.notify.mute import Muter, SilenceError, Silences, Window, maintenance_exclusions
from alerter.store.sqlite import Store

T0 = 1_767_225_600.0  # Thursday 2026-01-01 00:00 UTC
LLAMA = Labels(alertname="TTFTAnomaly", model_name="llama3-70b", namespace="inference")


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    return open_store()


def test_add_list_expire_round_trip_and_persist(store: Store, open_store: StoreFactory) -> None:
    silences = Silences(store)
    made = silences.add(
        ['model_name=~"llama.*"', "namespace!=dev"], ends_at=T0 + 3600, now=T0, comment="deploy"
    )
    assert [s.id for s in silences.list(T0)] == [made.id]
    assert [str(m) for m in made.matchers] == ['model_name=~"llama.*"', 'namespace!="dev"']
    assert made.state(T0) == "active" and made.mutes(LLAMA, T0)
    expired = silences.expire(made.id, T0 + 60)
    assert expired.state(T0 + 60) == "expired" and not expired.mutes(LLAMA, T0 + 60)
    assert silences.list(T0 + 60) == []
    assert [s.id for s in silences.list(T0 + 60, include_expired=True)] == [made.id]
    store.close()
    with open_store() as reopened:
        again = Silences(reopened).get(made.id)
    assert again.comment == "deploy" and again.ends_at == T0 + 60


def test_future_silence_is_pending_until_it_starts(store: Store) -> None:
    silence = Silences(store).add(["model_name=x"], starts_at=T0 + 600, ends_at=T0 + 1200, now=T0)
    assert silence.state(T0) == "pending" and not silence.active(T0)
    assert silence.active(T0 + 600) and not silence.active(T0 + 1200)


@pytest.mark.parametrize(
    ("matchers", "ends_at", "message"),
    [
        ([], T0 + 60, "at least one matcher"),
        (['model_name=~".*"'], T0 + 60, "also match alerts without"),
        (["model name=x"], T0 + 60, "invalid matcher"),
        (['x=~"("'], T0 + 60, "invalid matcher"),
        (["model_name=x"], T0, "end after it starts"),
    ],
)
def test_bad_silences_are_refused(store: Store, matchers: list[str], ends_at: float, message: str) -> None:
    with pytest.raises(SilenceError, match=message):
        Silences(store).add(matchers, ends_at=ends_at, now=T0)


def test_expire_unknown_or_expired_is_an_error(store: Store) -> None:
    silences = Silences(store)
    with pytest.raises(SilenceError, match="no silence with id"):
        silences.expire("nope", T0)
    made = silences.add(["model_name=x"], ends_at=T0 + 60, now=T0)
    with pytest.raises(SilenceError, match="already expired"):
        silences.expire(made.id, T0 + 60)


def test_muter_names_what_mutes(store: Store) -> None:
    silence = Silences(store).add(['model_name="mistral-7b"'], ends_at=T0 + 60, now=T0)
    window = Window.build("deploys", "0 0 * * THU", 1800, ['namespace="inference"'])
    muter = Muter([silence], [window], T0 + 10)
    assert muter.reason(LLAMA) == "maintenance deploys"
    assert muter.reason(LLAMA.with_(model_name="mistral-7b")) == f"silence {silence.id}"
    assert muter.reason(LLAMA.with_(namespace="batch")) is None
    assert Muter([silence], [window], T0 + 1800).reason(LLAMA) is None


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="duration"):
        Window.build("w", "0 0 * * *", 0, [])
    with pytest.raises(ValueError, match="timezone"):
        Window.build("w", "0 0 * * *", 60, [], "Nowhere/Land")


def test_silence_as_json_for_the_api(store: Store) -> None:
    made = Silences(store).add(['model_name="x"'], ends_at=T0 + 60, now=T0, created_by="ann", comment="c")
    assert made.as_json(T0 + 61) == {
        "id": made.id,
        "matchers": ['model_name="x"'],
        "startsAt": T0,
        "endsAt": T0 + 60,
        "state": "expired",
        "createdBy": "ann",
        "comment": "c",
        "createdAt": T0,
    }


def test_maintenance_exclusions_for_baseline_training() -> None:
    weekly = Window.build("deploys", "0 2 * * SUN", 7200, ['namespace="inference"'])
    nightly = Window.build("backup", "30 23 * * *", 1800, [])
    periods = maintenance_exclusions([weekly, nightly])
    start, end = T0, T0 + 7 * 86400  # Thursday 2026-01-01 .. Thursday 2026-01-08
    sunday = T0 + 3 * 86400 + 7200
    got = periods(LLAMA, start, end)
    assert (sunday, sunday + 7200) in got
    assert len([p for p in got if p[1] - p[0] == 1800]) == 7
    assert (sunday, sunday + 7200) not in periods(LLAMA.with_(namespace="batch"), start, end)


def test_silences_of_schema_v1_read_on_after_the_migration(store: Store) -> None:
    """Rows written before ``ends_with`` existed held matchers as ``name="value"`` strings."""
    from alerter.notify.mute import SCHEMA

    store.ensure_schema("silences", 1, SCHEMA)
    with store.transaction() as db:
        db.execute(
            "INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("old1", '["model_name=\\"llama3-70b\\""]', T0, T0 + 3600, "ann", "before", T0),
        )
    silences = Silences(store)  # migrates to v2
    (old,) = silences.list(T0)
    assert (old.id, old.ends_with, [str(m) for m in old.matchers]) == (
        "old1",
        "",
        ['model_name="llama3-70b"'],
    )
    assert old.mutes(LLAMA, T0) and "endsWithAlert" not in old.as_json(T0)


def test_values_with_quotes_and_backslashes_survive_the_store(store: Store) -> None:
    from alerter.config.types import Matcher

    odd = Matcher(name="path", op="=", value='C:\\dir "x"')
    made = Silences(store).add([odd], ends_at=T0 + 60, now=T0)
    (again,) = Silences(store).list(T0)
    assert again.matchers == made.matchers == (odd,)
    assert again.mutes({"path": 'C:\\dir "x"'}, T0)


def test_same_extend_and_end_with(store: Store) -> None:
    silences = Silences(store)
    tied = silences.add(["a=1", "b=2"], ends_at=T0 + 600, now=T0, ends_with="f" * 16)
    other = silences.add(["a=1"], ends_at=T0 + 900, now=T0)
    assert [s.id for s in silences.same(['b="2"', 'a="1"'], T0)] == [tied.id]
    assert tied.as_json(T0)["endsWithAlert"] == "f" * 16
    longer = silences.extend(other.id, T0 + 1800, T0)
    assert longer.ends_at == T0 + 1800
    with pytest.raises(SilenceError, match="already lasts until"):
        silences.extend(other.id, T0 + 60, T0)
    assert silences.end_with(["0" * 16], T0 + 10) == []
    (ended,) = silences.end_with(["f" * 16], T0 + 10)
    assert ended.id == tied.id and ended.ends_at == T0 + 10 and not ended.active(T0 + 10)
    assert silences.get(other.id).active(T0 + 10)
    with pytest.raises(SilenceError, match="not active"):
        silences.extend(tied.id, T0 + 9999, T0 + 20)
