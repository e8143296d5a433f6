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
        if duration <= 0:
            raise ValueError(f"lease duration must be > 0, got {duration}")
        if not identity:
            raise ValueError("lease identity must not be empty")
        deadline = duration * 2 / 3 if renew_deadline is None else renew_deadline  # client-go: 10 s of 15
        if not 0 < deadline < duration:
            raise ValueError(
                f"lease renew deadline must be > 0 and shorter than the duration {duration}, got {deadline}"
            )
        self._api = coordination_api(api_client, timeouts)
        self.namespace, self.name, self.identity, self.duration = namespace, name, identity, duration
        self.renew_deadline = deadline
        self._recent: dict[str, list[float]] = {}
        self._open: dict[str, dict[str, Any]] = {}
        self._observed: Record | None = None
        self._observed_at = float("-inf")
        """When (on this replica's clock) the record was last seen to change: client-go's observedTime."""
        self._renewed_at: float | None = None
        """When this replica last wrote the Lease as its holder; None once it saw another holder."""

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
        record = self._observe(lease, now)
        if record.holder == self.identity:
            return self._write(lease, now, transitions=record.transitions, acquired=record.acquired)
        self._renewed_at = None
        if record.holder and now < self._observed_at + record.duration:
            return False  # seen renewed within its duration, by our clock
        return self._write(lease, now, transitions=record.transitions + 1)

    def holds(self, now: float) -> bool:
        """Whether this replica renewed the Lease less than ``renew_deadline`` before ``now``.

        A step that outlasts this must renew (``acquire``) before it writes again: past the
        deadline another replica may be about to see the Lease expire.
        """
        return self._renewed_at is not None and now - self._renewed_at < self.renew_deadline

    def _observe(self, lease: Any, now: float) -> Record:
        """Note the record as read; ``_observed_at`` moves only when it differs from the last one."""
        record = Record.of(lease.spec)
        if record != self._observed:
            self._observed, self._observed_at = record, now
        return record

    def _write(self, lease: Any, now: float, *, transitions: int, acquired: datetime | None = None) -> bool:
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "annotations": {
                    RECENT_ACTIONS: json.dumps(self._recent, sort_keys=True),
                    OPEN_ACTIONS: json.dumps(self._open, sort_keys=True),
                },
            },
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self.duration)),
                "acquireTime": acquired.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if acquired else microtime(now),
                "renewTime": microtime(now),
                "leaseTransitions": transitions,
            },
        }
        try:
            with translate(f"write lease {self.namespace}/{self.name}"):
                if lease is None:
                    written = self._api.create_namespaced_lease(self.namespace, body)
                else:
                    body["metadata"]["resourceVersion"] = lease.metadata.resource_version
                    written = self._api.replace_namespaced_lease(self.name, self.namespace, body)
        except ActionError as exc:
            if exc.reason == "conflict":  # another replica won the race (409: Conflict or AlreadyExists)
                self._renewed_at = None
                return False
            raise
        self._observe(written, now)  # client-go's setObservedRecord after its own update
        self._renewed_at = now
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
            if self._observe(lease, now).holder != self.identity:
                self._renewed_at = None
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
