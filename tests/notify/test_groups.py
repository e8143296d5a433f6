"""The notification groups' tables: what the pipeline's decisions rely on of them."""

from __future__ import annotations

import pytest
from harness.postgres import StoreFactory

from alerter.notify import groups
from alerter.notify.outbox import Outbox
from alerter.store.sqlite import Store

NOW = 1_795_010_400.0


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    s = open_store()
    Outbox(s)  # creates the notify schema, groups included
    return s


def test_a_group_opens_once_and_keeps_its_first_flush(store: Store) -> None:
    with store.transaction() as db:
        groups.place(db, "g", "oncall", "0", {"model": "a"}, "fp1", '{"n": 1}', NOW, NOW + 30)
        groups.place(db, "g", "oncall", "0", {"model": "a"}, "fp2", '{"n": 2}', NOW + 10, NOW + 40)
        assert groups.due(db, NOW + 29) == []
        assert groups.due(db, NOW + 30) == [groups.Group("g", "oncall", "0", {"model": "a"}, NOW + 30)]
        assert groups.alerts(db, "g") == ['{"n": 1}', '{"n": 2}']


def test_a_resolution_reaches_every_group_holding_the_alert(store: Store) -> None:
    with store.transaction() as db:
        groups.place(db, "g1", "oncall", "0", {}, "fp", "firing", NOW, NOW)
        groups.place(db, "g2", "tickets", "1", {}, "fp", "firing", NOW, NOW)
        assert groups.resolve(db, "fp", "resolved") == 2
        assert groups.alerts(db, "g1") == groups.alerts(db, "g2") == ["resolved"]


def test_an_announced_resolution_is_forgotten_unless_the_alert_changed_since(store: Store) -> None:
    with store.transaction() as db:
        groups.place(db, "g", "oncall", "0", {}, "fp", "fired-again", NOW, NOW)
        groups.forget_resolved(db, "g", "fp", "resolved")
        assert groups.close_if_empty(db, "g", NOW + 60) is False
        assert groups.schedule(db) == [("g", NOW + 60)]
        groups.forget_resolved(db, "g", "fp", "fired-again")
        assert groups.close_if_empty(db, "g", NOW + 120) is True
        assert groups.schedule(db) == []


def test_the_log_and_held_notes_belong_to_the_group(store: Store) -> None:
    with store.transaction() as db:
        groups.place(db, "g", "oncall", "0", {}, "fp", "a", NOW, NOW)
        assert groups.holders(db, "fp") == [groups.Holder("g", "oncall", False)]
        groups.keep_note(db, "g", {"text": "first"}, NOW)
        groups.keep_note(db, "g", {"text": "second"}, NOW + 1)
        groups.record_notification(db, "g", ["fp"], [], NOW + 2)
        assert groups.holders(db, "fp") == [groups.Holder("g", "oncall", True)]
        last = groups.last_notification(db, "g")
        assert last is not None and last.firing == frozenset({"fp"}) and last.sent_at == NOW + 2
        assert groups.take_notes(db, "g") == [{"text": "first"}, {"text": "second"}]
        assert groups.take_notes(db, "g") == []
