"""A replica's share of the groups over real member Leases on the stand-in, time passed in.

Each replica runs its round every renew period (5 s) at its own phase; between rounds the test
asks every replica at every second which groups it owns, and checks that no group ever has two
owners at one moment, which is the point of the settle time and the renew deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from alerter.cluster.membership import Membership
from alerter.cluster.ownership import assign
from alerter.cluster.sharding import Sharding
from alerter.testing.kubernetes import Cluster

NOW = 1_800_000_000.0
DURATION = 15.0
PERIOD = 5.0
GROUPS = [f"group-{i:02d}" for i in range(60)]


def replica(api_client: Any, identity: str) -> Sharding:
    membership = Membership(api_client, namespace="alerter", identity=identity, duration=DURATION)
    return Sharding(membership, settle=DURATION)


def owners(replicas: Iterable[Sharding], now: float) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {g: [] for g in GROUPS}
    for r in replicas:
        for group in r.owned(now):
            out[group].append(r.identity)
    return out


def run(
    replicas: dict[str, Sharding], start: float, end: float, *, stopped: Iterable[str] = ()
) -> dict[str, list[str]]:
    """Every second from ``start`` to ``end``: due rounds (replica i at phase i), then a double-owner check."""
    down = set(stopped)
    seen: dict[str, list[str]] = {}
    for second in range(int(start), int(end) + 1):
        now = NOW + second
        for i, (name, r) in enumerate(sorted(replicas.items())):
            if name not in down and (second - i) % PERIOD == 0:
                r.round(GROUPS, now)
        seen = owners([r for n, r in replicas.items() if n not in down], now)
        doubled = {g: o for g, o in seen.items() if len(o) > 1}
        assert not doubled, f"two owners at +{second}: {doubled}"
    return seen


def test_a_replica_claims_groups_only_after_the_settle_time(api_client: Any) -> None:
    alone = replica(api_client, "alerter-0")
    assert alone.round(GROUPS, NOW).owned == frozenset()
    assert alone.round(GROUPS, NOW + 10).owned == frozenset()
    first = alone.round(GROUPS, NOW + 15)
    assert first.owned == first.gained == frozenset(GROUPS)
    assert alone.owns("group-00", NOW + 16)
    assert not alone.owns("no-such-group", NOW + 16)


def test_three_replicas_split_the_groups_then_one_stops_and_its_groups_move(api_client: Any) -> None:
    replicas = {f"alerter-{i}": replica(api_client, f"alerter-{i}") for i in range(3)}
    seen = run(replicas, 0, 30)
    expected = assign(GROUPS, replicas)
    assert {g: o[0] for g, o in seen.items()} == expected, "every group owned, by its rendezvous owner"
    gone = {g for g, o in expected.items() if o == "alerter-2"}
    assert gone
    # alerter-2 is killed after its round at +32 (phase 2); the others last saw it change then.
    run(replicas, 31, 32)
    seen = run(replicas, 33, 32 + DURATION - 1, stopped=["alerter-2"])
    assert all(seen[g] == [] for g in gone), "not taken before its Lease can have expired"
    seen = run(replicas, 32 + DURATION, 32 + DURATION + PERIOD, stopped=["alerter-2"])
    after = assign(GROUPS, ["alerter-0", "alerter-1"])
    assert {g: o[0] for g, o in seen.items()} == after
    assert all(after[g] == expected[g] for g in GROUPS if g not in gone), "only its groups moved"


def test_a_fourth_replica_takes_about_a_quarter_from_the_others_without_overlap(api_client: Any) -> None:
    replicas = {f"alerter-{i}": replica(api_client, f"alerter-{i}") for i in range(3)}
    run(replicas, 0, 30)
    replicas["alerter-3"] = replica(api_client, "alerter-3")
    seen = run(replicas, 31, 31 + DURATION + PERIOD)
    expected = assign(GROUPS, replicas)
    assert {g: o[0] for g, o in seen.items()} == expected
    moved = {g for g in GROUPS if assign(GROUPS, ["alerter-0", "alerter-1", "alerter-2"])[g] != expected[g]}
    assert {expected[g] for g in moved} == {"alerter-3"}
    assert 0.1 < len(moved) / len(GROUPS) < 0.4


def test_a_replica_that_cannot_renew_owns_nothing_at_its_deadline_without_another_round(
    cluster: Cluster, api_client: Any
) -> None:
    r = replica(api_client, "alerter-0")
    for t in (0.0, 5.0, 10.0, 15.0):
        r.round(GROUPS, NOW + t)
    assert r.owns("group-00", NOW + 16)
    cluster.forbidden.add(("leases", "update"))
    lapsed = r.round(GROUPS, NOW + 20)
    assert lapsed.owned == frozenset(GROUPS), "the renewal at +15 is still within its 10 s deadline"
    assert r.owns("group-00", NOW + 24.9)
    assert not r.owns("group-00", NOW + 25), "the deadline, not the next round, ends it"
    assert r.owned(NOW + 25) == frozenset()
    lost = r.round(GROUPS, NOW + 25)
    assert lost.owned == frozenset() and lost.lost == frozenset(GROUPS)
    cluster.forbidden.clear()
    assert r.round(GROUPS, NOW + 30).owned == frozenset(), "back: it waits the settle time again"
    for t in (35.0, 40.0):
        assert r.round(GROUPS, NOW + t).owned == frozenset()
    assert r.round(GROUPS, NOW + 45).gained == frozenset(GROUPS)


def test_settle_must_not_be_negative(api_client: Any) -> None:
    membership = Membership(api_client, namespace="alerter", identity="a", duration=DURATION)
    with pytest.raises(ValueError, match="settle"):
        Sharding(membership, settle=-1)


def test_any_other_key_has_one_owner_under_the_same_settle_time_and_deadline(
    cluster: Cluster, api_client: Any
) -> None:
    """Notification groups are owned as rule groups are: by rendezvous over the live members,
    nothing before the settle time, nothing past the renew deadline."""
    keys = [f"slack/0/{i:016x}" for i in range(40)]
    replicas = {f"alerter-{i}": replica(api_client, f"alerter-{i}") for i in range(3)}
    for second in range(0, 15):
        for i, (_, r) in enumerate(sorted(replicas.items())):
            if (second - i) % PERIOD == 0:
                r.round(GROUPS, NOW + second)
        assert not any(r.owns_key(k, NOW + second) for r in replicas.values() for k in keys), "not settled"
    run(replicas, 15, 30)
    owners_of = {k: [n for n, r in replicas.items() if r.owns_key(k, NOW + 30)] for k in keys}
    assert {k: o for k, o in owners_of.items()} == {k: [v] for k, v in assign(keys, replicas).items()}
    cluster.forbidden.add(("leases", "update"))
    for t in (35, 40):
        for r in replicas.values():
            r.round(GROUPS, NOW + t)
    assert not any(r.owns_key(k, NOW + 40) for r in replicas.values() for k in keys), "past the deadline"
    replicas["alerter-0"].leave(NOW + 40)
    assert not replicas["alerter-0"].owns_key(keys[0], NOW + 40)


def test_a_round_stuck_past_the_deadline_does_not_let_the_next_one_skip_the_settle_time(
    cluster: Cluster, api_client: Any
) -> None:
    """A partition that holds the renewal call open: the round that started at +20 returns
    judging by +20 (still within the deadline), and no round sees the lapse from +25 to +31.
    The next round renews; the others may have taken the groups meanwhile (its Lease unchanged
    since +15), so it settles again instead of owning them at once."""
    r = replica(api_client, "alerter-0")
    for t in (0.0, 5.0, 10.0, 15.0):
        r.round(GROUPS, NOW + t)
    cluster.forbidden.add(("leases", "update"))
    assert r.round(GROUPS, NOW + 20).owned == frozenset(GROUPS), "judged at +20, when the call began"
    assert r.owned(NOW + 30) == frozenset(), "owns() answers by the deadline meanwhile"
    cluster.forbidden.clear()
    back = r.round(GROUPS, NOW + 31)
    assert back.owned == frozenset() and back.lost == frozenset(GROUPS), "it settles again"
    assert r.round(GROUPS, NOW + 41).owned == frozenset()
    assert r.round(GROUPS, NOW + 46).gained == frozenset(GROUPS)
