"""Leadership among engine replicas through a ``coordination.k8s.io/v1`` Lease.

With several replicas of the engine, all evaluate and notify but only the Lease holder acts;
``remediate.runner`` asks ``LeaseLock.acquire(now)`` at the start of every step and
``LeaseLock.holds(now)`` before every write. Time is passed in, so expiry and takeover are tested
without waiting. API calls go through ``remediate.kubernetes``.

Expiry is judged as client-go's leader election judges it (kubernetes/kubernetes
``staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go``: ``observedRecord``,
``observedTime``, ``isLeaseValid``): the times in the Lease were written by the holder's clock
and only their change counts. A candidate notes on its own clock when it last saw the record
change and takes the Lease only once it has seen no change for the holder's
``leaseDurationSeconds``; so a replica whose clock runs ahead cannot take the Lease from a
healthy leader, one whose clock lags cannot keep it after dying, and a replica that has just
started waits a full duration before it takes over a Lease it has never seen renewed. The leader
in turn stops writing once ``renew_deadline`` has passed since its last renewal, as
client-go's ``RenewDeadline``, which stays shorter than the duration: the margin covers the
clocks' rates, not their offsets.

The pieces of that judgement (``Observed`` for a watched Lease, ``Renewal`` for one's own,
``renew_deadline_for``, ``lease_body``, ``write_lease``) are shared with ``cluster.membership``,
where each replica holds a Lease of its own and watches everyone else's the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from alerter.core.errors import ActionError
from alerter.remediate.kubernetes import Timeouts, coordination_api, microtime, translate

RECENT_ACTIONS = "alerter.io/recent-actions"
"""Lease annotation: JSON {target: [unix times of actions]}, so a new leader keeps cooldowns."""
OPEN_ACTIONS = "alerter.io/open-actions"
"""Lease annotation: JSON {key: action} of applied actions a later leader may have to revert."""
RETENTION = 86400.0
KEEP_PER_TARGET = 20


class Record(NamedTuple):
    """client-go's ``LeaderElectionRecord``: the Lease spec fields whose change is a renewal."""

    holder: str
    duration: float
    acquired: datetime | None
    renewed: datetime | None
    transitions: int

    @classmethod
    def of(cls, spec: Any) -> Record:
        return cls(str(spec.holder_identity or ""), float(spec.lease_duration_seconds or 0), spec.acquire_time,
                   spec.renew_time, int(spec.lease_transitions or 0))  # fmt: skip


def renew_deadline_for(duration: float, deadline: float | None = None) -> float:
    """The holder's renew deadline for a Lease of ``duration``: client-go's 10 s of 15 by default.

    It must stay shorter than the duration, so a holder stops acting before anyone else can
    see its Lease expire. ValueError names the bad value.
    """
    if duration <= 0:
        raise ValueError(f"lease duration must be > 0, got {duration}")
    chosen = duration * 2 / 3 if deadline is None else deadline
    if not 0 < chosen < duration:
        raise ValueError(
            f"lease renew deadline must be > 0 and shorter than the duration {duration}, got {chosen}"
        )
    return chosen


class Observed:
    """One Lease as another replica watches it: client-go's ``observedRecord`` and ``observedTime``.

    ``at`` moves (on the watcher's clock) only when the record differs from the last one seen,
    so the holder's clock never decides expiry: only whether its record keeps changing does.
    """

    def __init__(self) -> None:
        self.record: Record | None = None
        self.at = float("-inf")

    def see(self, spec: Any, now: float) -> Record:
        record = Record.of(spec)
        if record != self.record:
            self.record, self.at = record, now
        return record

    def valid(self, now: float) -> bool:
        """Held, and seen to change less than the holder's lease duration ago (``isLeaseValid``)."""
        return self.record is not None and bool(self.record.holder) and now < self.at + self.record.duration


class Renewal:
    """The holder's side: when it last wrote its Lease, and whether that is recent enough to act on."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.at: float | None = None
        """When this replica last wrote the Lease as its holder; None once it lost it."""

    def renewed(self, now: float) -> None:
        self.at = now

    def lost(self) -> None:
        self.at = None

    def holds(self, now: float) -> bool:
        """Renewed less than ``deadline`` before ``now`` (client-go's ``RenewDeadline``)."""
        return self.at is not None and now - self.at < self.deadline


def lease_body(
    namespace: str,
    name: str,
    *,
    holder: str,
    duration: float,
    now: float,
    transitions: int = 0,
    acquired: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ``coordination.k8s.io/v1`` Lease held by ``holder`` and renewed at ``now``."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": max(1, round(duration)),
            "acquireTime": acquired.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if acquired else microtime(now),
            "renewTime": microtime(now),
            "leaseTransitions": transitions,
        },
    }


def write_lease(api: Any, lease: Any, body: dict[str, Any]) -> Any | None:
    """Create the Lease (``lease`` None) or replace ``lease`` at the resourceVersion read.

    The written Lease, or None when another writer got there first: the API server answers 409
    (Conflict, or AlreadyExists for a create) to all but one of several racing writers.
    """
    meta = body["metadata"]
    try:
        with translate(f"write lease {meta['namespace']}/{meta['name']}"):
            if lease is None:
                return api.create_namespaced_lease(meta["namespace"], body)
            body = {**body, "metadata": {**meta, "resourceVersion": lease.metadata.resource_version}}
            return api.replace_namespaced_lease(meta["name"], meta["namespace"], body)
    except ActionError as exc:
        if exc.reason == "conflict":
            return None
        raise


class LeaseLock:
    """Leadership through a ``coordination.k8s.io/v1`` Lease: only its holder acts.

    ``acquire(now)`` creates the Lease, renews it when held, or takes it over when this replica
    has not seen it change for the holder's lease duration (measured on this replica's clock,
    see the module docstring). Writes carry the resourceVersion read, so when two replicas race
    the API server accepts one and answers 409 to the other, which then simply is not the leader
    this round. ``holds(now)``: whether the last renewal is recent enough to write on.

    Each replica keeps its own audit log, so the Lease also carries the times of recent actions
    per target (``record_action`` / ``recent_actions``): a replica that takes over still honours
    the cooldowns and rate limits of actions its predecessor took. Applied actions that are to
    be reverted when their alert resolves travel the same way (``share_open`` /
    ``open_actions``), so a leader change, e.g. a rolling upgrade, does not strand a scaled-up
    Deployment or a flipped route.
    """

    def __init__(self, api_client: Any, *, namespace: str, name: str, identity: str, duration: float,
                 renew_deadline: float | None = None, timeouts: Timeouts | None = None) -> None:  # fmt: skip
        deadline = renew_deadline_for(duration, renew_deadline)
        if not identity:
            raise ValueError("lease identity must not be empty")
        self._api = coordination_api(api_client, timeouts)
        self.namespace, self.name, self.identity, self.duration = namespace, name, identity, duration
        self.renew_deadline = deadline
        self._recent: dict[str, list[float]] = {}
        self._open: dict[str, dict[str, Any]] = {}
        self._observed = Observed()
        self._renewal = Renewal(deadline)

    def acquire(self, now: float) -> bool:
        """True when this replica holds the Lease now: it created, renewed or took it over."""
        try:
            with translate(f"read lease {self.namespace}/{self.name}"):
                lease = self._api.read_namespaced_lease(self.name, self.namespace)
        except ActionError as exc:
            if exc.reason != "not-found":
                raise
            self._recent, self._open = {}, {}
            return self._write(None, now, transitions=0)
        self._recent = _parse(lease.metadata.annotations, now)
        self._open = _parse_open(lease.metadata.annotations)
        record = self._observed.see(lease.spec, now)
        if record.holder == self.identity:
            return self._write(lease, now, transitions=record.transitions, acquired=record.acquired)
        self._renewal.lost()
        if self._observed.valid(now):
            return False  # seen renewed within its duration, by our clock
        return self._write(lease, now, transitions=record.transitions + 1)

    def holds(self, now: float) -> bool:
        """Whether this replica renewed the Lease less than ``renew_deadline`` before ``now``.

        A step that outlasts this must renew (``acquire``) before it writes again: past the
        deadline another replica may be about to see the Lease expire.
        """
        return self._renewal.holds(now)

    def _write(self, lease: Any, now: float, *, transitions: int, acquired: datetime | None = None) -> bool:
        annotations = {
            RECENT_ACTIONS: json.dumps(self._recent, sort_keys=True),
            OPEN_ACTIONS: json.dumps(self._open, sort_keys=True),
        }
        body = lease_body(self.namespace, self.name, holder=self.identity, duration=self.duration, now=now,
                          transitions=transitions, acquired=acquired, annotations=annotations)  # fmt: skip
        written = write_lease(self._api, lease, body)
        if written is None:  # another replica won the race
            self._renewal.lost()
            return False
        self._observed.see(written.spec, now)  # client-go's setObservedRecord after its own update
        self._renewal.renewed(now)
        return True

    def recent_actions(self) -> Mapping[str, tuple[float, ...]]:
        """Action times per target as of the last ``acquire``, from every replica that led."""
        return {target: tuple(times) for target, times in self._recent.items()}

    def open_actions(self) -> Mapping[str, Mapping[str, Any]]:
        """Applied actions still to be reverted, as of the last ``acquire``, keyed as shared."""
        return dict(self._open)

    def record_action(self, target: str, at: float) -> bool:
        """Add an action on ``target`` to the Lease; False if this replica no longer holds it."""

        def add(recent: dict[str, list[float]], _: dict[str, dict[str, Any]]) -> None:
            recent[target] = [*recent.get(target, []), at][-KEEP_PER_TARGET:]

        return self._modify(at, add)

    def share_open(self, key: str, action: Mapping[str, Any] | None, now: float) -> bool:
        """Publish (or with None, withdraw) an applied action a successor would have to revert."""

        def put(_: dict[str, list[float]], open_: dict[str, dict[str, Any]]) -> None:
            if action is None:
                open_.pop(key, None)
            else:
                open_[key] = dict(action)

        return self._modify(now, put)

    def _modify(
        self, now: float, change: Callable[[dict[str, list[float]], dict[str, dict[str, Any]]], None]
    ) -> bool:
        for _ in range(3):
            with translate(f"read lease {self.namespace}/{self.name}"):
                lease = self._api.read_namespaced_lease(self.name, self.namespace)
            if self._observed.see(lease.spec, now).holder != self.identity:
                self._renewal.lost()
                return False
            self._recent = _parse(lease.metadata.annotations, now)
            self._open = _parse_open(lease.metadata.annotations)
            change(self._recent, self._open)
            if self._write(lease, now, transitions=int(lease.spec.lease_transitions or 0),
                           acquired=lease.spec.acquire_time):  # fmt: skip
                return True
        return False


def _parse_open(annotations: Mapping[str, str] | None) -> dict[str, dict[str, Any]]:
    try:
        raw = json.loads((annotations or {}).get(OPEN_ACTIONS, "{}"))
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, dict)}


def _parse(annotations: Mapping[str, str] | None, now: float) -> dict[str, list[float]]:
    """The recent actions annotation, without entries older than ``RETENTION``; garbage is dropped."""
    try:
        raw = json.loads((annotations or {}).get(RECENT_ACTIONS, "{}"))
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, list[float]] = {}
    for target, times in raw.items():
        if isinstance(times, list):
            kept = sorted(float(t) for t in times if isinstance(t, int | float) and now - t < RETENTION)
            if kept:
                out[str(target)] = kept[-KEEP_PER_TARGET:]
    return out
