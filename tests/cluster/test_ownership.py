"""Rendezvous hashing: every replica agrees, and a membership change moves only what it must."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections.abc import Iterable, Mapping
from fractions import Fraction

import pytest

from alerter.cluster.ownership import SLACK, assign, balance, digest, owner, weight
from alerter.cluster.ownership import handovers as ownership_handovers

GROUPS = [f"group-{i:03d}" for i in range(600)]
THREE = ["alerter-0", "alerter-1", "alerter-2"]


def owned(groups: Iterable[str], members: Iterable[str], me: str) -> frozenset[str]:
    """The groups ``me`` owns by rendezvous when ``members`` are the live replicas."""
    live = set(members)
    if me not in live:
        return frozenset()
    return frozenset(g for g, m in assign(groups, live).items() if m == me)


def test_weights_are_blake2b_and_stable_across_processes() -> None:
    """Python's own ``hash`` of a str is salted per process; the weight must not be."""
    code = "from alerter.cluster.ownership import weight; print(weight('vllm', 'alerter-0'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345"})  # fmt: skip
    assert int(other.stdout) == weight("vllm", "alerter-0")
    assert weight("ab", "c") != weight("a", "bc")


def test_every_group_has_one_owner_and_the_order_of_members_does_not_matter() -> None:
    forward = assign(GROUPS, THREE)
    backward = assign(GROUPS, list(reversed(THREE)))
    assert forward == backward
    assert set(forward) == set(GROUPS)
    assert set(forward.values()) == set(THREE)
    split = [sorted(owned(GROUPS, THREE, m)) for m in THREE]
    assert sorted(g for part in split for g in part) == sorted(GROUPS)


def test_groups_spread_roughly_evenly() -> None:
    counts = [len(owned(GROUPS, THREE, m)) for m in THREE]
    assert all(150 <= c <= 250 for c in counts), counts  # 200 each expected; binomial sd ~11.5


def test_adding_a_fourth_member_moves_about_a_quarter_all_to_it() -> None:
    before = assign(GROUPS, THREE)
    after = assign(GROUPS, [*THREE, "alerter-3"])
    moved = {g for g in GROUPS if before[g] != after[g]}
    assert {after[g] for g in moved} == {"alerter-3"}
    assert moved == owned(GROUPS, [*THREE, "alerter-3"], "alerter-3")
    assert 0.18 < len(moved) / len(GROUPS) < 0.32, len(moved)


def test_removing_a_member_moves_only_its_groups() -> None:
    before = assign(GROUPS, THREE)
    after = assign(GROUPS, ["alerter-0", "alerter-2"])
    moved = {g for g in GROUPS if before[g] != after[g]}
    assert moved == {g for g in GROUPS if before[g] == "alerter-1"}
    assert {after[g] for g in moved} == {"alerter-0", "alerter-2"}


def test_no_members_own_nothing_and_a_stranger_owns_nothing() -> None:
    assert owner("vllm", []) is None
    assert assign(GROUPS, []) == {}
    assert owned(GROUPS, THREE, "alerter-9") == frozenset()


@pytest.mark.parametrize("members", [["a"], ["a", "b"], THREE])
def test_the_owner_is_the_member_of_highest_weight(members: list[str]) -> None:
    for group in GROUPS[:50]:
        assert owner(group, members) == max(members, key=lambda m: weight(group, m))


# -- balance: rendezvous with bounded loads ------------------------------------------------

POD = "bcdfghjklmnpqrstvwxz2456789"
BENCHMARK = [
    5, 2, 4, 3, 3, 4, 2, 3, 4, 4, 2, 16, 2, 3, 2, 3, 3, 2, 2, 3,
    3, 2, 5, 3, 2, 3, 8, 10, 2, 3, 2, 2, 3, 5, 2, 6, 7, 3, 4, 3,
]  # fmt: skip
"""The rules of each of the 40 groups of ``benchmarks/replicas.py`` (its ``layout(150, 40)``)."""


def pods(rng: random.Random, count: int) -> list[str]:
    """Pod names of one Deployment (as ``benchmarks/replicas.py`` makes them)."""
    return [f"alerter-6c9f7d8b5-{''.join(rng.choices(POD, k=5))}" for _ in range(count)]


def uneven(groups: int = 40, rng: random.Random | None = None) -> dict[str, int]:
    """Rule counts of uneven groups: 1 to 15 rules."""
    rng = rng or random.Random(7)
    return {f"team-{k:02d}": rng.randint(1, 15) for k in range(groups)}


def carried(owners: Mapping[str, str], loads: Mapping[str, int], members: list[str]) -> dict[str, int]:
    out = dict.fromkeys(members, 0)
    for group, member in owners.items():
        out[member] += loads[group]
    return out


def test_balance_is_the_same_whatever_the_order_of_members_and_groups() -> None:
    loads = uneven()
    shuffled = dict(sorted(loads.items(), key=lambda kv: kv[0][::-1]))
    forward = balance(loads, THREE)
    assert forward == balance(shuffled, list(reversed(THREE)))
    assert set(forward) == set(loads) and set(forward.values()) == set(THREE)


def test_balance_is_the_same_in_another_process() -> None:
    code = (
        "from alerter.cluster.ownership import balance; "
        "print(sorted(balance({f'g{i}': i % 7 for i in range(30)}, ['a', 'b', 'c']).items()))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "999"})  # fmt: skip
    assert other.stdout.strip() == str(
        sorted(balance({f"g{i}": i % 7 for i in range(30)}, ["a", "b", "c"]).items())
    )


@pytest.mark.parametrize("groups", [1, 2, 7, 40, 41, 600])
@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_equal_groups_with_no_slack_give_no_member_more_than_its_ceiling(groups: int, count: int) -> None:
    loads = dict.fromkeys((f"group-{i:03d}" for i in range(groups)), 1)
    rng = random.Random(groups * 10 + count)
    for _ in range(20):
        members = pods(rng, count)
        counts = carried(balance(loads, members, slack=Fraction(0)), loads, members)
        assert max(counts.values()) == math.ceil(groups / count), counts
        assert min(counts.values()) == groups // count, counts


@pytest.mark.parametrize("count", [2, 3, 5])
def test_no_member_carries_more_than_the_bound_of_bounded_loads(count: int) -> None:
    """The greater of (1 + slack) x the mean and the mean plus (1 - 1/N) x the heaviest group."""
    rng = random.Random(count)
    for trial in range(200):
        loads = uneven(rng.randint(1, 60), rng)
        members = pods(rng, count)
        for slack in (Fraction(0), SLACK, Fraction(1, 4)):
            mean = Fraction(sum(loads.values()), count)
            bound = max((1 + slack) * mean, mean + Fraction(count - 1, count) * max(loads.values()))
            got = carried(balance(loads, members, slack=slack), loads, members)
            assert max(got.values()) <= bound, (trial, slack, got, bound)


@pytest.mark.parametrize("count", [2, 3, 5])
def test_the_replicas_benchmark_layout_stays_within_the_slack_for_every_set_of_names(count: int) -> None:
    """40 groups of 2-15 rules (``benchmarks/replicas.py``): what rendezvous splits up to 2x the
    mean, ``balance`` keeps within 1/20 of it, here for 300 sets of pod names."""
    loads = {f"team-{k:02d}": rules for k, rules in enumerate(BENCHMARK)}
    mean = Fraction(150, count)
    rng = random.Random(11)
    worst_rendezvous = Fraction(0)
    for _ in range(300):
        members = pods(rng, count)
        got = carried(balance(loads, members), loads, members)
        assert max(got.values()) <= (1 + SLACK) * mean, got
        plain = carried(assign(loads, members), loads, members)
        worst_rendezvous = max(worst_rendezvous, max(plain.values()) / mean)
    assert worst_rendezvous > 1 + 4 * SLACK, "the layout is one rendezvous splits unevenly"


def test_a_member_leaving_moves_its_groups_and_few_others_between_the_rest() -> None:
    loads = uneven()
    rng = random.Random(3)
    moved_total = between_total = theirs_total = 0
    for _ in range(200):
        members = pods(rng, 3)
        before = balance(loads, members)
        gone = members[0]
        survivors = members[1:]
        after = balance(loads, survivors)
        moved = {g for g in loads if before[g] != after[g]}
        theirs = {g for g in loads if before[g] == gone}
        assert theirs <= moved, "every group of the member that left moves"
        assert ownership_handovers(before, after, survivors) == moved - theirs
        moved_total += len(moved)
        between_total += len(moved - theirs)
        theirs_total += len(theirs)
    assert moved_total <= 1.25 * theirs_total, (moved_total, theirs_total)
    assert between_total > 0, "balance does move groups between members that stay (hence handovers)"


def test_a_member_joining_takes_about_its_share_and_moves_few_others() -> None:
    loads = dict.fromkeys((f"group-{i:03d}" for i in range(60)), 1)
    rng = random.Random(4)
    moved_total = between_total = 0
    for _ in range(200):
        members = pods(rng, 4)
        before = balance(loads, members[:3])
        after = balance(loads, members)
        moved = {g for g in loads if before[g] != after[g]}
        assert sum(after[g] == members[3] for g in loads) == 15
        between = ownership_handovers(before, after, members[:3])
        assert {after[g] for g in moved - between} == {members[3]}
        moved_total += len(moved)
        between_total += len(between)
    assert 15 * 200 <= moved_total <= 1.3 * 15 * 200, moved_total


def test_rendezvous_never_hands_a_group_between_two_members_that_stay() -> None:
    """The property the sharding's settle time relies on, which ``balance`` gives up."""
    loads = uneven()
    rng = random.Random(5)
    for _ in range(100):
        members = pods(rng, 4)
        for view in (members[:3], members[1:]):
            assert ownership_handovers(assign(loads, members), assign(loads, view), view) == frozenset()


def test_handovers_are_groups_moved_between_two_live_members() -> None:
    before = {"a": "x", "b": "y", "c": "z", "d": "x"}
    after = {"a": "y", "b": "y", "c": "x", "d": "w", "e": "x"}
    assert ownership_handovers(before, after, ["x", "y"]) == frozenset({"a"})  # z left, w joined
    assert ownership_handovers(before, after, ["x", "y", "w"]) == frozenset({"a", "d"})


def test_balance_owns_nothing_without_members_and_refuses_bad_loads() -> None:
    assert balance({"a": 1}, []) == {}
    assert balance({"a": 0, "b": 3}, ["x"]) == {"a": "x", "b": "x"}
    with pytest.raises(ValueError, match="load must be >= 0: b"):
        balance({"a": 1, "b": -1}, ["x"])
    with pytest.raises(ValueError, match="slack"):
        balance({"a": 1}, ["x"], slack=Fraction(-1, 2))


def test_the_digest_names_the_groups_and_their_loads_whatever_their_order() -> None:
    loads = uneven()
    assert digest(loads) == digest(dict(reversed(list(loads.items()))))
    assert digest(loads) != digest({**loads, "team-00": loads["team-00"] + 1}), "another load"
    assert digest(loads) != digest({**loads, "team-new": 1}), "another group"
    assert digest({"a": 12}) != digest({"a1": 2}), "the separator keeps names and loads apart"
    assert len(digest(loads)) == 32 and int(digest(loads), 16) >= 0
