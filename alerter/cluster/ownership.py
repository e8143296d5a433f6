"""Which live replica owns each rule group: rendezvous hashing, and a balanced split by load.

Every replica computes the same answer from the same member list, without talking to the
others. ``assign`` is rendezvous (highest random weight) hashing: a group belongs to the
member whose ``weight(group, member)`` is highest. Adding a member moves to it exactly the
groups it now wins (about 1/N of them) and nothing else; removing one moves only its own groups, each to the member that came second for it. That is the
property the Thanos and Mimir rulers get from their hash rings, with no ring state and no
virtual nodes to tune, and the one the sharding's safety argument rests on: each group ranks
all names once, so over any two views of the membership a group's owner is either the same
member or one that only one of the views holds. Two replicas that read the member Leases at
different moments therefore never both own a group they both see.

Its price is the split. Whole groups land where their hashes fall, so 40 groups of uneven size
over three replicas leave one with 1.28 times the mean on the median set of pod names (worst
2.02 in 1,000 sets). ``balance`` is rendezvous with bounded loads (Mirrokni, Thorup and
Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018): groups are placed heaviest
first (ties by the group's own hash), each with the highest-ranked member that has room under
``(1 + slack)`` times the mean load, and with the least loaded member when none has. A group's
load comes from the configuration every replica reads alike (``cluster.sharding`` is given each
group's rule evaluations an hour, ``engine.GroupPlan.load``); measured by ``benchmarks/ownership_split.py`` over 1,000 random
pod-name sets, series max/mean, and groups moved on a membership change (of them, moved between
two members both still live):

    layout (40 groups)     N  scheme       median  p90   worst   leave (between)  join (between)
    uneven, 400-3,200      3  rendezvous    1.28   1.50  2.02    13.3  (0)        10.1  (0)
    series per group       3  balance       1.04   1.04  1.04    15.3  (2.0)      13.6  (3.5)
                           2  rendezvous    1.13   1.31  1.64    19.9  (0)        13.3  (0)
                           2  balance       1.04   1.04  1.04    20.0  (0)        15.3  (2.0)
                           5  rendezvous    1.50   1.87  2.57     8.0  (0)         6.7  (0)
                           5  balance       1.03   1.03  1.03    12.5  (4.6)      12.1  (5.4)
    equal, 750 each        3  rendezvous    1.20   1.43  1.80    13.3  (0)        10.0  (0)
                           3  balance       1.05   1.05  1.05    14.2  (0.8)      11.8  (1.8)

``slack`` 1/20 was chosen from 0, 1/20, 1/10 and 1/4: 0 gains 0.02 of imbalance for 15 % more
moves, 1/10 costs 0.06 for 20 % fewer. Loads by rule count fit series as far as a rule's
series count is alike across rules; where it varies (log-normal, sigma 0.8) the median at three
replicas is 1.14, still below rendezvous' 1.32.

What ``balance`` gives up is the property above: a change of membership also moves a few groups
between two members that both stay (the "between" columns), and a replica that has seen the
change may take such a group while its old owner has not yet seen it. And its answer depends on
every group's load, so two replicas must also agree on the groups (a reload that reached one
replica and not yet another). ``cluster.sharding`` therefore splits by ``balance`` only while
every live member publishes the same ``digest`` of the loads, by ``assign`` otherwise, and a
replica does not act on a group ``handovers`` names before the old owner has had time to let
it go (one settle time, as for a replica that joins).

The weight is blake2b of the member and the group, not Python's ``hash``, which is salted per
process (``PYTHONHASHSEED``): replicas must agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from fractions import Fraction

SLACK = Fraction(1, 20)
"""How far above the mean load ``balance`` lets a member go before the next member in a group's
ranking takes the group (the epsilon of bounded loads)."""


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
    """Every group's owner among ``members`` by rendezvous; empty when there are none."""
    live = sorted(set(members))
    if not live:
        return {}
    return {group: owner(group, live) or "" for group in groups}


SPLIT_VERSION = "balance-1"
"""Names the scheme (``balance`` and its ``SLACK``) in ``digest``: replicas that would split the
same loads differently never find their digests equal."""


def digest(loads: Mapping[str, int]) -> str:
    """What a replica publishes of the loads it splits: equal only when the groups, their loads
    and the scheme are (32 hex digits of blake2b; the order of ``loads`` does not matter)."""
    h = hashlib.blake2b(f"{SPLIT_VERSION}\0{SLACK}".encode(), digest_size=16)
    for group in sorted(loads):
        h.update(f"\0{group}\0{loads[group]}".encode())
    return h.hexdigest()


def ranking(group: str, members: Iterable[str]) -> list[str]:
    """``members`` from the group's owner by rendezvous down: highest weight first, ties to the greater name."""
    return sorted(members, key=lambda m: (weight(group, m), m), reverse=True)


def balance(loads: Mapping[str, int], members: Iterable[str], *, slack: Fraction = SLACK) -> dict[str, str]:
    """Every group's owner among ``members``, each member's load kept near the mean.

    ``loads`` maps each group to its load, a whole number of at least 0 (the rules it
    evaluates). The order of ``loads`` and of ``members`` does not matter. No member ends with
    more than the greater of ``(1 + slack)`` times the mean load and the mean plus
    ``(1 - 1/N)`` times the heaviest group: a group placed on the least loaded member found
    every member at more than the cap less its own load, and the least loaded carried at most
    the mean of what was placed before it. With equal loads and ``slack`` 0 that is at most
    ``ceil(G / N)`` groups a member.
    """
    if slack < 0:
        raise ValueError(f"slack must be >= 0, got {slack}")
    bad = sorted(g for g, load in loads.items() if load < 0)
    if bad:
        raise ValueError(f"a group's load must be >= 0: {', '.join(bad)}")
    live = sorted(set(members))
    if not live:
        return {}
    cap = (1 + slack) * sum(loads.values())  # a member has room while N x its load stays within
    n = len(live)
    carried = dict.fromkeys(live, 0)
    out: dict[str, str] = {}
    for group in sorted(loads, key=lambda g: (-loads[g], weight(g, ""), g)):
        ranked = ranking(group, live)
        load = loads[group]
        roomy = next((m for m in ranked if n * (carried[m] + load) <= cap), None)
        chosen = roomy if roomy is not None else min(ranked, key=lambda m: carried[m])
        out[group] = chosen
        carried[chosen] += load
    return out


def handovers(before: Mapping[str, str], after: Mapping[str, str], live: Iterable[str]) -> frozenset[str]:
    """The groups whose owner changed from one member to another that are both in ``live``.

    Under ``assign`` there are none. Under ``balance`` these are the groups the new owner must
    leave alone until the old owner, which may not have seen the change yet, can have let them go.
    """
    members = set(live)
    return frozenset(
        g
        for g, now in after.items()
        if (was := before.get(g)) is not None and was != now and was in members and now in members
    )
