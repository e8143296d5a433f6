"""A replica's share of the groups over real member Leases on the stand-in, time passed in.

Each replica runs its round every renew period (5 s) at its own phase; between rounds the test
asks every replica at every second which groups it owns, and checks that no group ever has two
owners at one moment, which is the point of the settle time, the handover wait and the renew
deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from alerter.cluster.membership import Membership
from alerter.cluster.ownership import assign, balance
from alerter.cluster.sharding import Sharding
from alerter.testing.kubernetes import Cluster

NOW = 1_800_000_000.0
DURATION = 15.0
PERIOD = 5.0
GROUPS = [f"group-{i:02d}" for i in range(60)]
LOADS = {g: 60 * (1 + (i * 7) % 11) for i, g in enumerate(GROUPS)}
"""Uneven loads (evaluations an hour), as the app passes them."""


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
    replicas: dict[str, Sharding],
    start: float,
    end: float,
    *,
    stopped: Iterable[str] = (),
    loads: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, list[str]]:
    """Every second from ``start`` to ``end``: due rounds (replica i at phase i), then a double-owner
    check. ``loads`` gives a replica other loads than ``LOADS`` (a reload that reached it alone)."""
    down = set(stopped)
    seen: dict[str, list[str]] = {}
    for second in range(int(start), int(end) + 1):
        now = NOW + second
        for i, (name, r) in enumerate(sorted(replicas.items())):
            if name not in down and (second - i) % PERIOD == 0:
                r.round((loads or {}).get(name, LOADS), now)
        seen = owners([r for n, r in replicas.items() if n not in down], now)
        doubled = {g: o for g, o in seen.items() if len(o) > 1}
        assert not doubled, f"two owners at +{second}: {doubled}"
    return seen


def test_a_replica_claims_groups_only_after_the_settle_time(api_client: Any) -> None:
    alone = replica(api_client, "alerter-0")
    assert alone.round(LOADS, NOW).owned == frozenset()
    assert alone.round(LOADS, NOW + 10).owned == frozenset()
    first = alone.round(LOADS, NOW + 15)
    assert first.owned == first.gained == frozenset(GROUPS)
    assert alone.owns("group-00", NOW + 16)
    assert not alone.owns("no-such-group", NOW + 16)


def shares(seen: Mapping[str, list[str]]) -> dict[str, int]:
    """Each owner's load in ``seen``."""
    out: dict[str, int] = {}
    for group, owners_ in seen.items():
        for o in owners_:
            out[o] = out.get(o, 0) + LOADS[group]
    return out


def test_three_replicas_split_the_groups_by_load_then_one_stops_and_its_groups_move(api_client: Any) -> None:
    replicas = {f"alerter-{i}": replica(api_client, f"alerter-{i}") for i in range(3)}
    seen = run(replicas, 0, 30)
    expected = balance(LOADS, replicas)
    assert {g: o[0] for g, o in seen.items()} == expected, "every group owned, by its balanced owner"
    assert max(shares(seen).values()) <= 1.05 * sum(LOADS.values()) / 3
    assert all(r.round(LOADS, NOW + 31).balanced for r in replicas.values())
    gone = {g for g, o in expected.items() if o == "alerter-2"}
    assert gone
    # alerter-2 is killed after its round at +32 (phase 2); the others last saw it change then.
    run(replicas, 32, 32)
    seen = run(replicas, 33, 32 + DURATION - 1, stopped=["alerter-2"])
    assert all(seen[g] == [] for g in gone), "not taken before its Lease can have expired"
    after = balance(LOADS, ["alerter-0", "alerter-1"])
    seen = run(replicas, 32 + DURATION, 32 + DURATION + PERIOD, stopped=["alerter-2"])
    assert all(seen[g] == [after[g]] for g in gone), "its groups are taken at once: their owner is gone"
    between = {g for g in GROUPS if g not in gone and after[g] != expected[g]}
    assert between, "the balanced split also moves a few groups between the two that stay"
    assert all(seen[g] in ([], [expected[g]]) for g in between), "a handover waits the settle time"
    seen = run(replicas, 33 + DURATION + PERIOD, 32 + 2 * DURATION + 2 * PERIOD, stopped=["alerter-2"])
    assert {g: o[0] for g, o in seen.items()} == after
    assert max(shares(seen).values()) <= 1.05 * sum(LOADS.values()) / 2


def test_a_fourth_replica_takes_a_quarter_of_the_load_without_overlap(api_client: Any) -> None:
    replicas = {f"alerter-{i}": replica(api_client, f"alerter-{i}") for i in range(3)}
    run(replicas, 0, 30)
    replicas["alerter-3"] = replica(api_client, "alerter-3")
    seen = run(replicas, 31, 31 + 2 * DURATION + 2 * PERIOD)
    expected = balance(LOADS, replicas)
    assert {g: o[0] for g, o in seen.items()} == expected
    share = shares(seen)
    assert 0.9 * sum(LOADS.values()) / 4 <= share["alerter-3"] <= 1.05 * sum(LOADS.values()) / 4


def test_a_group_handed_over_between_two_live_replicas_waits_the_settle_time(api_client: Any) -> None:
    """The new owner computes the handover at once but claims it one settle time later; the old
    owner lets it go at its first round after the change, so nobody holds it twice."""
    replicas = {f"alerter-{i}": replica(api_client, f"alerter-{i}") for i in range(2)}
    run(replicas, 0, 30)
    replicas["alerter-2"] = replica(api_client, "alerter-2")
    run(replicas, 31, 34)  # alerter-2's first round at +32: its Lease is listed from +35 on
    before = balance(LOADS, ["alerter-0", "alerter-1"])
    after = balance(LOADS, replicas)
    handed = {g: (before[g], after[g]) for g in GROUPS if before[g] != after[g] and after[g] != "alerter-2"}
    assert handed, "a third member shifts some load between the first two"
    to_zero = {g for g, (_, new) in handed.items() if new == "alerter-0"}
    first = replicas["alerter-0"].round(LOADS, NOW + 35)
    assert first.balanced and to_zero and to_zero <= first.waiting
    assert not to_zero & first.owned
    for t in (40, 45):
        assert to_zero <= replicas["alerter-0"].round(LOADS, NOW + t).waiting
    assert to_zero <= replicas["alerter-0"].round(LOADS, NOW + 50).gained, "15 s after it was first computed"


def test_replicas_that_read_different_groups_split_by_rendezvous_until_they_agree(api_client: Any) -> None:
    """A reload that reached one replica first: its digest differs, so every replica falls back to
    the split that does not depend on the loads, and goes back once all of them read the same."""
    replicas = {f"alerter-{i}": replica(api_client, f"alerter-{i}") for i in range(3)}
    run(replicas, 0, 30)
    reloaded = {**LOADS, "group-00": LOADS["group-00"] * 4}
    seen = run(replicas, 31, 31 + 2 * DURATION + 2 * PERIOD, loads={"alerter-1": reloaded})
    assert {g: o[0] for g, o in seen.items()} == assign(GROUPS, replicas)
    assert not any(r.round(LOADS, NOW + 70).balanced for n, r in replicas.items() if n != "alerter-1")
    seen = run(replicas, 71, 71 + 2 * DURATION + 2 * PERIOD, loads={n: reloaded for n in replicas})
    assert {g: o[0] for g, o in seen.items()} == balance(reloaded, replicas)


def test_a_member_that_publishes_no_split_keeps_everyone_on_rendezvous(api_client: Any) -> None:
    """A replica of a version that splits by rendezvous only: its Lease carries no annotation."""
    old = Membership(api_client, namespace="alerter", identity="alerter-old", duration=DURATION)
    replicas = {f"alerter-{i}": replica(api_client, f"alerter-{i}") for i in range(2)}
    for second in range(0, 31, int(PERIOD)):
        old.renew(NOW + second)
        change = {n: r.round(LOADS, NOW + second) for n, r in replicas.items()}
    members = ["alerter-0", "alerter-1", "alerter-old"]
    assert not any(c.balanced for c in change.values())
    expected = assign(GROUPS, members)
    assert all(c.owned == {g for g, o in expected.items() if o == n} for n, c in change.items())


def test_a_replica_that_cannot_renew_owns_nothing_at_its_deadline_without_another_round(
    cluster: Cluster, api_client: Any
) -> None:
    r = replica(api_client, "alerter-0")
    for t in (0.0, 5.0, 10.0, 15.0):
        r.round(LOADS, NOW + t)
    assert r.owns("group-00", NOW + 16)
    cluster.forbidden.add(("leases", "update"))
    lapsed = r.round(LOADS, NOW + 20)
    assert lapsed.owned == frozenset(GROUPS), "the renewal at +15 is still within its 10 s deadline"
    assert r.owns("group-00", NOW + 24.9)
    assert not r.owns("group-00", NOW + 25), "the deadline, not the next round, ends it"
    assert r.owned(NOW + 25) == frozenset()
    lost = r.round(LOADS, NOW + 25)
    assert lost.owned == frozenset() and lost.lost == frozenset(GROUPS)
    cluster.forbidden.clear()
    assert r.round(LOADS, NOW + 30).owned == frozenset(), "back: it waits the settle time again"
    for t in (35.0, 40.0):
        assert r.round(LOADS, NOW + t).owned == frozenset()
    assert r.round(LOADS, NOW + 45).gained == frozenset(GROUPS)


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
                r.round(LOADS, NOW + second)
        assert not any(r.owns_key(k, NOW + second) for r in replicas.values() for k in keys), "not settled"
    run(replicas, 15, 30)
    owners_of = {k: [n for n, r in replicas.items() if r.owns_key(k, NOW + 30)] for k in keys}
    assert {k: o for k, o in owners_of.items()} == {k: [v] for k, v in assign(keys, replicas).items()}
    cluster.forbidden.add(("leases", "update"))
    for t in (35, 40):
        for r in replicas.values():
            r.round(LOADS, NOW + t)
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
        r.round(LOADS, NOW + t)
    cluster.forbidden.add(("leases", "update"))
    assert r.round(LOADS, NOW + 20).owned == frozenset(GROUPS), "judged at +20, when the call began"
    assert r.owned(NOW + 30) == frozenset(), "owns() answers by the deadline meanwhile"
    cluster.forbidden.clear()
    back = r.round(LOADS, NOW + 31)
    assert back.owned == frozenset() and back.lost == frozenset(GROUPS), "it settles again"
    assert r.round(LOADS, NOW + 41).owned == frozenset()
    assert r.round(LOADS, NOW + 46).gained == frozenset(GROUPS)
