"""The outbox's schema and its backoff bookkeeping, on a real store of each engine."""

from __future__ import annotations

import pytest
from harness.postgres import StoreFactory

from alerter.notify.base import Payload, PayloadKind
from alerter.notify.outbox import INFLIGHT, SCHEMA, SUPERSEDED, Outbox
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
    assert (entry.claimed_by, entry.claim_until) == ("", 0.0), "no claim: any replica may recover it"
    assert store.schema_version("notify") == 3


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


def _one_entry(store: Store) -> Outbox:
    outbox = Outbox(store)
    with store.transaction() as db:
        outbox.enqueue(db, "slack", "g", "first", Payload(PayloadKind.OPEN, {}), NOW)
    return outbox


def test_of_two_replicas_reading_a_pending_entry_exactly_one_claims_it(open_store: StoreFactory) -> None:
    a = _one_entry(open_store())
    b = Outbox(open_store())
    [seen_by_a] = a.open_entries()
    [seen_by_b] = b.open_entries()
    assert a.claim(seen_by_a, replica="alerter-a", now=NOW, until=NOW + 120)
    assert not b.claim(seen_by_b, replica="alerter-b", now=NOW, until=NOW + 120)
    [entry] = b.open_entries()
    assert (entry.state, entry.claimed_by, entry.claim_until) == (INFLIGHT, "alerter-a", NOW + 120)


def test_a_dead_replicas_claim_is_taken_over_once_it_expires(open_store: StoreFactory) -> None:
    a = _one_entry(open_store())
    b = Outbox(open_store())
    [pending] = a.open_entries()
    assert a.claim(pending, replica="alerter-a", now=NOW, until=NOW + 120)
    [inflight] = b.open_entries()
    assert not b.claim(inflight, replica="alerter-b", now=NOW + 119, until=NOW + 239)
    assert b.claim(inflight, replica="alerter-b", now=NOW + 120, until=NOW + 240)
    assert not a.claim(inflight, replica="alerter-c", now=NOW + 200, until=NOW + 320), "b holds it now"
    assert a.claim(inflight, replica="alerter-b", now=NOW + 130, until=NOW + 250), "b itself again, restarted"


def test_a_claim_on_an_entry_someone_attempted_since_it_was_read_fails(open_store: StoreFactory) -> None:
    """b read the entry pending; a then tried it and failed: b must not send it as if nobody had
    (a's attempt may have arrived), so its claim fails and a fresh read recovers first."""
    a = _one_entry(open_store())
    b = Outbox(open_store())
    [stale] = b.open_entries()
    [pending] = a.open_entries()
    assert a.claim(pending, replica="alerter-a", now=NOW, until=NOW + 120)
    a.retry(pending.id, error="timed out", next_attempt=NOW + 5)
    assert not b.claim(stale, replica="alerter-b", now=NOW + 5, until=NOW + 125)
    [fresh] = b.open_entries()
    assert (fresh.state, fresh.attempts, fresh.claim_until) == (INFLIGHT, 1, 0.0), (
        "the attempt ended its claim"
    )
    assert b.claim(fresh, replica="alerter-b", now=NOW + 5, until=NOW + 125)


def test_superseding_leaves_an_entry_another_replica_is_sending(open_store: StoreFactory) -> None:
    a = _one_entry(open_store())
    b = Outbox(open_store())
    [entry] = a.open_entries()
    assert a.claim(entry, replica="alerter-a", now=NOW, until=NOW + 120)
    b.mark(entry.id, SUPERSEDED, now=NOW + 1)
    assert [e.state for e in b.open_entries()] == [INFLIGHT]
    with pytest.raises(ValueError, match="claim"):
        b.mark(entry.id, INFLIGHT, now=NOW + 1)
