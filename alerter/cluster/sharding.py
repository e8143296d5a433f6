"""This replica's share of the rule groups, re-read every renew period.

The app calls ``Sharding.round(loads, now)`` every ``cluster.renew_period`` with each rule
group's load (evaluations an hour: rules times ticks, from the configuration every replica
reads alike): it renews the member Lease, computes the groups this replica owns over the live
members (``cluster.ownership``) and says which it gained and which it lost, so the app can start and stop
their ticks and load their alerts. Between rounds, ``owns(group, now)`` answers for each tick,
notification flush and remediation step, and answers no for everything once the member Lease
has gone unrenewed for its renew deadline, without waiting for the next round (whose API call
may be the very thing that hangs): a partitioned replica stops acting at once.

The split is ``ownership.balance`` (rendezvous with bounded loads: every replica within 5 % of
the mean load) while every live member publishes the same digest of the loads in its Lease
(``Membership.publish``), and plain rendezvous (``ownership.assign``) while they do not: a
reload that has reached some replicas and not others, or a replica of an older version. Either
way every replica computes the same owners from the same members.

No two replicas act on one group at the same time. Two replicas that both count each other
alive compute the same owner for it, so a double owner needs one of them not to see the other
(or, with the balanced split, to see a different membership or different loads than the other
for a while). Under rendezvous that means: either the other has stopped renewing for a whole lease duration
(and so, its renew deadline being shorter, has already stopped acting), or it joined too
recently to be seen. For the second case a replica claims groups only once it has held its
membership for ``settle`` seconds (one lease duration by default): by then every other replica
has either read its Lease and let its groups go, or failed to renew for longer than its renew
deadline and stopped acting. Coming back counts as joining: after a round that failed to renew
past the deadline, or a whole lease duration without a renewal (a round stuck in its API call
sees no lapse, judging by the time it began), the settle time starts again. The price is a gap: a group moving to a replica that has just
joined or come back goes unevaluated for up to one lease duration.

The balanced split also moves groups between two replicas that both stay (a membership or
load change shifts the others' shares, see ``ownership``), and while the old owner has not yet
seen the change it still acts on the group. So a group whose last owner (as this replica
computed it at its last round) is still a live member is claimed only after it has been
computed this replica's for ``settle`` seconds in a row (``Round.waiting``): every other
replica's view catches up within two renew periods (one to list the change, one for an expiry
it observes later on its own clock), well within the lease duration, and the old owner lets
the group go at its next round after that. A group whose last owner is gone is claimed at once,
as under rendezvous. The gap is the same as for a joining replica: up to one settle time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from alerter.cluster import ownership

log = logging.getLogger(__name__)


class Members(Protocol):
    """What sharding needs of membership (``cluster.membership.Membership``)."""

    identity: str
    duration: float

    def renew(self, now: float) -> bool: ...

    def holds(self, now: float) -> bool: ...

    def members(self, now: float) -> frozenset[str]: ...

    def splits(self, now: float) -> Mapping[str, str | None]: ...

    def publish(self, split: str | None) -> None: ...

    def leave(self, now: float) -> None: ...


@dataclass(frozen=True)
class Round:
    """One re-read of ownership: what this replica owns now, and what changed."""

    owned: frozenset[str]
    gained: frozenset[str]
    lost: frozenset[str]
    members: frozenset[str]
    balanced: bool = False
    """Split by load (every live member publishes the same loads), not by rendezvous alone."""
    waiting: frozenset[str] = frozenset()
    """This replica's by the split, not yet claimed: their last owner is live (a handover)."""


class Sharding:
    """The groups this replica owns, from its membership and everyone else's."""

    def __init__(self, membership: Members, *, settle: float) -> None:
        if settle < 0:
            raise ValueError(f"settle must be >= 0, got {settle}")
        self.membership = membership
        self.settle = settle
        self._lock = threading.Lock()
        self._owned: frozenset[str] = frozenset()
        self._renewed: float | None = None
        """When the last successful renewal began (rounds run one at a time: no lock)."""
        self._since: float | None = None
        """When this replica's current unbroken membership began (its first renewal after none)."""
        self._members: frozenset[str] = frozenset()
        """The live members of the last round once settled (empty before): what ``owns_key`` hashes over."""
        self._split: dict[str, str] = {}
        """Every group's owner as the last settled round computed it (empty before): the handovers' from."""
        self._waiting: dict[str, float] = {}
        """Handed-over groups not yet claimed, by the time they were first computed this replica's."""
        self._balanced: bool | None = None

    @property
    def identity(self) -> str:
        return self.membership.identity

    def round(self, loads: Mapping[str, int], now: float) -> Round:
        """Renew, then recompute the owned groups among ``loads`` (each group's load) at ``now``.

        A membership that went a whole Lease duration without a renewal is broken even when no
        round saw it lapse: a round stuck in its API call (a partition) returns judging by the
        time it started, still within the renew deadline, and the next one renews again. By then
        the others may have seen the Lease expire and taken this replica's groups, so it settles
        again rather than own them at once (its groups' alerts are reloaded when it takes them).
        A shorter gap (a late round) cannot have let anyone take them.
        """
        split = ownership.digest(loads)
        self.membership.publish(split)
        lapsed = self._renewed is not None and now - self._renewed >= self.membership.duration
        if self.membership.renew(now):
            self._renewed = now
        holding = self.membership.holds(now)
        members = self.membership.members(now)
        published = self.membership.splits(now)
        balanced = bool(members) and all(published.get(m) == split for m in members)
        owners = ownership.balance(loads, members) if balanced else dict(ownership.assign(loads, members))
        with self._lock:
            if (lapsed or not holding) and self._since is not None:
                log.warning("membership lapsed: this replica owns no rule groups until it settles again")
                self._since = None
            if holding and self._since is None:
                self._since = now
            settled = self._since is not None and now - self._since >= self.settle
            owned, waiting = self._claim(owners, members, now) if settled else (frozenset(), {})
            before, self._owned, self._waiting = self._owned, owned, waiting
            self._split = owners if settled else {}
            self._members = members if settled else frozenset()
        if balanced != self._balanced and members:
            self._balanced = balanced
            if balanced:
                log.info("rule groups split by load: every member reads the same groups")
            else:
                log.warning(
                    "rule groups split by rendezvous, not by load: the members do not all read the same "
                    "groups (a reload that has not reached every replica, or a replica of an older version)",
                    extra={"members": sorted(members)},
                )
        change = Round(owned, owned - before, before - owned, members, balanced, frozenset(waiting))
        if change.gained or change.lost:
            log.info(
                "rule group ownership changed",
                extra={
                    "gained": sorted(change.gained),
                    "lost": sorted(change.lost),
                    "members": sorted(members),
                    "owned": len(owned),
                },
            )
        return change

    def _claim(
        self, owners: Mapping[str, str], members: frozenset[str], now: float
    ) -> tuple[frozenset[str], dict[str, float]]:
        """This replica's groups by ``owners``: those it may act on now, and the handovers it waits for.

        A group it already owns stays; one whose last owner is gone is claimed at once; one whose
        last owner is a live member waits ``settle`` seconds from when it was first computed this
        replica's (a flip back and forth starts the wait again).
        """
        owned: set[str] = set()
        waiting: dict[str, float] = {}
        handed = ownership.handovers(self._split, owners, members)
        for group, member in owners.items():
            if member != self.identity:
                continue
            since = self._waiting.get(group)
            if group in self._owned or (since is None and group not in handed):
                owned.add(group)
                continue
            since = now if since is None else since
            if now - since >= self.settle:
                owned.add(group)
            else:
                waiting[group] = since
        return frozenset(owned), waiting

    def leave(self, now: float) -> None:
        """Own nothing from now on and hand the member Lease back (the app is stopping)."""
        with self._lock:
            self._owned, self._since, self._members = frozenset(), None, frozenset()
            self._split, self._waiting = {}, {}
        self.membership.leave(now)

    def owns(self, group: str, now: float) -> bool:
        """Whether this replica may act for ``group`` now: assigned at the last round, and still
        within the renew deadline of its last renewal."""
        with self._lock:
            assigned = group in self._owned
        return assigned and self.membership.holds(now)

    def owns_key(self, key: str, now: float) -> bool:
        """Whether this replica is the owner of any other key shared the same way (a notification
        group's): rendezvous over the members of the last round, under the same settle time and
        renew deadline as the rule groups, so the same argument keeps two replicas from owning it."""
        with self._lock:
            members = self._members
        return (
            self.identity in members
            and ownership.owner(key, members) == self.identity
            and self.membership.holds(now)
        )

    def holds(self, now: float) -> bool:
        """Whether this replica is a member now (its Lease renewed within the renew deadline)."""
        return self.membership.holds(now)

    def acquire(self, now: float) -> bool:
        """As the remediation runner's leader (``remediate.contracts.Leader``): acting needs a held
        membership. It renews nothing: renewing is the membership round's job, every renew period."""
        return self.membership.holds(now)

    def owned(self, now: float) -> frozenset[str]:
        """Every group ``owns`` would answer yes for."""
        with self._lock:
            owned = self._owned
        return owned if self.membership.holds(now) else frozenset()
