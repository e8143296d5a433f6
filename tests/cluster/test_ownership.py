"""Rendezvous hashing: every replica agrees, and a membership change moves only what it must."""

from __future__ import annotations

import subprocess
import sys

import pytest

from alerter.cluster.ownership import assign, owned, owner, weight

GROUPS = [f"group-{i:03d}" for i in range(600)]
THREE = ["alerter-0", "alerter-1", "alerter-2"]


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
