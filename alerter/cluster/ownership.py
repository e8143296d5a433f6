"""Which live replica owns each rule group: rendezvous (highest random weight) hashing.

Every replica computes the same answer from the same member list, without talking to the
others: a group belongs to the member whose ``weight(group, member)`` is highest. Adding a member
moves to it exactly the groups it now wins (about 1/N of them) and nothing else; removing one moves
only its own groups, each to the member that came second for it. That is the property the Thanos
and Mimir rulers get from their hash rings, with no ring state and no virtual nodes to tune.

The weight is blake2b of the member and the group, not Python's ``hash``, which is salted per
process (``PYTHONHASHSEED``): replicas must agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping


def weight(group: str, member: str) -> int:
    """The member's weight for the group: 64 bits of blake2b over both names.

    The two names are separated by a NUL (which neither a group name nor a Kubernetes name
    contains), so ("ab", "c") and ("a", "bc") weigh differently.
    """
    digest = hashlib.blake2b(f"{member}\0{group}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(group: str, members: Iterable[str]) -> str | None:
    """The member that owns ``group``, or None when there are no members.

    Ties (as good as impossible in 64 bits) go to the greater name, so every replica still agrees.
    """
    best: tuple[int, str] | None = None
    for member in members:
        candidate = (weight(group, member), member)
        if best is None or candidate > best:
            best = candidate
    return best[1] if best is not None else None


def assign(groups: Iterable[str], members: Iterable[str]) -> Mapping[str, str]:
    """Every group's owner among ``members``; empty when there are none."""
    live = sorted(set(members))
    if not live:
        return {}
    return {group: owner(group, live) or "" for group in groups}


def owned(groups: Iterable[str], members: Iterable[str], me: str) -> frozenset[str]:
    """The groups ``me`` owns when ``members`` are the live replicas (nothing if ``me`` is not one)."""
    live = set(members)
    if me not in live:
        return frozenset()
    return frozenset(g for g, m in assign(groups, live).items() if m == me)
