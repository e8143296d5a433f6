"""Which engine replicas are alive: one ``coordination.k8s.io/v1`` Lease per replica.

Each replica holds the Lease ``<name>-member-<replica id>`` in the engine's namespace, labelled
``alerter.io/member-of: <name>`` so one list call finds every member, and renews it every renew
period (``renew``: one list, one write). It judges the others exactly as ``remediate.lease``
judges a leader, with the same pieces (``Observed``, ``Renewal``): a member is gone once this
replica has not seen its Lease change for that Lease's ``leaseDurationSeconds``, measured on
this replica's own clock (client-go's ``observedTime``, kubernetes/kubernetes
``staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go``). With agreeing clocks
that is ``renewTime + leaseDurationSeconds < now``; with disagreeing ones a fast clock cannot
expel a healthy member, and a replica that has just started counts a Lease it has never seen
change as alive for one full duration, which errs on the safe side: believing too many
members alive makes each replica own fewer groups, never more.

A replica judges itself by its own renewals: it is a member while its last successful write is
less than the renew deadline old (``holds``), client-go's ``RenewDeadline``, shorter than the
duration. So a partitioned replica, which cannot write, stops counting itself a member before
anyone else can see its Lease expire. ``leave`` hands the Lease back as client-go's
``ReleaseOnCancel`` does (``release`` in the same file: no holder, a one-second duration), so
the others let the replica go at their next read instead of a duration later.

Each Lease also carries what its replica splits the rule groups by (``publish``; the annotation
``alerter.io/split``, a digest of the groups and their loads from ``cluster.ownership.digest``),
and ``splits`` reads the others': the balanced split is only safe while every live member
computes it from the same groups (``cluster.sharding``).

Time is passed in; API calls go through ``remediate.kubernetes`` (``coordination_api``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from alerter.core.errors import ActionError
from alerter.remediate.kubernetes import Timeouts, coordination_api, translate
from alerter.remediate.lease import Observed, Record, Renewal, lease_body, renew_deadline_for, write_lease

log = logging.getLogger(__name__)

MEMBER_LABEL = "alerter.io/member-of"
"""Label of every member Lease; its value is the cluster's name (``cluster.name``)."""
SPLIT_ANNOTATION = "alerter.io/split"
"""Annotation of a member Lease: the digest of the rule groups its replica splits (``publish``)."""
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
"""A DNS subdomain, which a Lease name must be (RFC 1123, lower case)."""


def lease_name(cluster: str, identity: str) -> str:
    """The member Lease of ``identity``: ``<cluster>-member-<identity>``."""
    return f"{cluster}-member-{identity}"


class Membership:
    """This replica's member Lease and what it has seen of everyone else's.

    ``renew(now)`` lists the member Leases and writes this replica's own; ``members(now)`` is the
    live replica ids as of the last list (this one included while ``holds(now)``).
    """

    def __init__(self, api_client: Any, *, namespace: str, identity: str, duration: float, cluster: str = "alerter",
                 renew_deadline: float | None = None, timeouts: Timeouts | None = None) -> None:  # fmt: skip
        self.renew_deadline = renew_deadline_for(duration, renew_deadline)
        name = lease_name(cluster, identity)
        if not identity or len(name) > 253 or not _NAME.match(name):
            raise ValueError(
                f"replica id {identity!r} cannot name a Lease ({name!r} is not a lower-case DNS name "
                "of at most 253 characters); use the pod name"
            )
        self._api = coordination_api(api_client, timeouts)
        self.namespace, self.cluster, self.identity, self.duration = namespace, cluster, identity, duration
        self.lease_name = name
        self._renewal = Renewal(self.renew_deadline)
        self._others: dict[str, Observed] = {}
        """Every other member Lease listed, by Lease name."""
        self._their_splits: dict[str, str] = {}
        """The split annotation of every other member Lease listed that has one, by Lease name."""
        self._split: str | None = None
        """What this replica publishes in its own Lease (``publish``)."""
        self._mine: Observed = Observed()
        self._last: Any = None
        """This replica's Lease as last written (its resourceVersion is what ``leave`` replaces)."""

    def renew(self, now: float) -> bool:
        """List the member Leases and renew this replica's own; False when either failed.

        A failure is logged and leaves the last list's observations in place: ``holds`` runs
        out on its own once no renewal has succeeded for the renew deadline.
        """
        try:
            listed = self._list()
        except ActionError as exc:
            log.warning("cannot list the member Leases: %s", exc, extra={"replica": self.identity})
            return False
        mine: Any = None
        seen: dict[str, Observed] = {}
        splits: dict[str, str] = {}
        for lease in listed:
            name = str(lease.metadata.name)
            if name == self.lease_name:
                mine = lease
                continue
            seen[name] = self._others.get(name) or Observed()
            seen[name].see(lease.spec, now)
            split = (lease.metadata.annotations or {}).get(SPLIT_ANNOTATION)
            if isinstance(split, str):
                splits[name] = split
        self._others, self._their_splits = seen, splits
        return self._write(mine, now)

    def publish(self, split: str | None) -> None:
        """Write ``split`` into this replica's Lease from the next renewal on (None: no annotation,
        as a replica that does not split by load)."""
        self._split = split

    def _list(self) -> list[Any]:
        """The member Leases of this cluster in the namespace.

        The label selector is also checked here: a server that ignored it (or a Lease relabelled
        by hand) must not make a stranger's Lease a member.
        """
        with translate(f"list member leases in {self.namespace}"):
            answer = self._api.list_namespaced_lease(
                self.namespace, label_selector=f"{MEMBER_LABEL}={self.cluster}"
            )
        return [
            lease
            for lease in answer.items or []
            if (lease.metadata.labels or {}).get(MEMBER_LABEL) == self.cluster
            and str(lease.metadata.name).startswith(f"{self.cluster}-member-")
        ]

    def _write(self, lease: Any, now: float) -> bool:
        record = Record.of(lease.spec) if lease is not None else None
        acquired = record.acquired if record is not None and record.holder == self.identity else None
        annotations = {SPLIT_ANNOTATION: self._split} if self._split is not None else None
        body = lease_body(self.namespace, self.lease_name, holder=self.identity, duration=self.duration,
                          now=now, acquired=acquired, labels={MEMBER_LABEL: self.cluster},
                          annotations=annotations)  # fmt: skip
        try:
            written = write_lease(self._api, lease, body)
        except ActionError as exc:
            log.warning("cannot renew the member Lease: %s", exc, extra={"replica": self.identity})
            return False
        if written is None:
            # Only this replica writes its Lease: a conflict means another process renews it too,
            # i.e. two replicas share one id. Neither may count itself a member on that Lease.
            log.error(
                "the member Lease %s/%s was written by someone else: is replica id %r used twice?",
                self.namespace,
                self.lease_name,
                self.identity,
            )
            self._renewal.lost()
            return False
        self._mine.see(written.spec, now)
        self._last = written
        self._renewal.renewed(now)
        return True

    def holds(self, now: float) -> bool:
        """Whether this replica renewed its Lease less than the renew deadline before ``now``."""
        return self._renewal.holds(now)

    def members(self, now: float) -> frozenset[str]:
        """The live replica ids: every other Lease seen changing within its duration, and this
        replica while it holds its own (the members ``splits`` answers for)."""
        return frozenset(self.splits(now))

    def splits(self, now: float) -> dict[str, str | None]:
        """What every live member published as of the last list: None for one whose Lease has no
        split annotation (a replica of a version that splits by rendezvous only). This replica is
        judged by its own renewals only, never by a Lease that names it."""
        out: dict[str, str | None] = {}
        for name, observed in self._others.items():
            if (
                observed.record is not None
                and observed.valid(now)
                and observed.record.holder != self.identity
            ):
                out[observed.record.holder] = self._their_splits.get(name)
        if self.holds(now):
            out[self.identity] = self._split
        return out

    def leave(self, now: float) -> None:
        """Hand the Lease back (no holder, one second), so the others let this replica go at once."""
        self._renewal.lost()
        lease, self._last = self._last, None
        if lease is None:
            return  # never written, or already handed back
        body = lease_body(self.namespace, self.lease_name, holder="", duration=1, now=now,
                          labels={MEMBER_LABEL: self.cluster})  # fmt: skip
        try:
            write_lease(self._api, lease, body)  # over the last write: nobody else writes it
        except ActionError as exc:
            log.warning(
                "cannot hand back the member Lease; the others will wait for it to expire: %s",
                exc,
                extra={"replica": self.identity},
            )
