"""The outbox's schema and its backoff bookkeeping, on a real store of each engine."""

from __future__ import annotations

import pytest
from harness.postgres import StoreFactory

from alerter.notify.base import Payload, PayloadKind
from alerter.notify.outbox import SCHEMA, Outbox
from alerter.store.sqlite import Store

NOW = 1_767_225_600.0


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    return open_store()


def test_entries_written_before_the_backoff_column_keep_their_backoff(store: Store) -> None:
    store.ensure_schema("notify", 1, SCHEMA)
    with store.transaction() as db:
        db.execute(
            "INSERT INTO notify_outbox (key, receiver, group_key, reason, kind, payload, created, state, "
            "attempts, next_attempt) VALUES ('k', 'am', 'g', 'first', 'open', '{\"body\": {}}', ?, 'inflight', 3, ?)",
            (NOW, NOW + 40),
        )
    [entry] = Outbox(store).open_entries()
    assert (entry.attempts, entry.backoff) == (3, 3)
    assert store.schema_version("notify") == 2


def test_release_makes_a_receivers_waiting_entries_due_and_restarts_their_backoff(store: Store) -> None:
    outbox = Outbox(store)
    with store.transaction() as db:
        for receiver, group in (("am", "g1"), ("am", "g2"), ("slack", "g3")):
            outbox.enqueue(db, receiver, group, "first", Payload(PayloadKind.OPEN, {}), NOW)
    g1, _, g3 = outbox.open_entries()
    outbox.retry(g1.id, error="down", next_attempt=NOW + 300)
    outbox.retry(g3.id, error="down", next_attempt=NOW + 300)
    assert outbox.release("am", NOW + 10) == 1
    entries = {e.group_key: e for e in outbox.open_entries()}
    assert (entries["g1"].next_attempt, entries["g1"].backoff, entries["g1"].attempts) == (NOW + 10, 0, 1)
    assert entries["g2"].next_attempt == NOW, "an entry already due stays as it was"
    assert (entries["g3"].next_attempt, entries["g3"].backoff) == (NOW + 300, 1), "another receiver waits"
