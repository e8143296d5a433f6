"""Leadership among engine replicas through a ``coordination.k8s.io/v1`` Lease.

With several replicas of the engine, all evaluate and notify but only the Lease holder acts;
``remediate.runner`` asks ``LeaseLock.acquire(now)`` before every action. Time is passed in, so
expiry and takeover are tested without waiting. API calls go through ``remediate.kubernetes``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from alerter.core.errors import ActionError
from alerter.remediate.kubernetes import Timeouts, coordination_api, microtime, translate

RECENT_ACTIONS = "alerter.io/recent-actions"
"""Lease annotation: JSON {target: [unix times of actions]}, so a new leader keeps cooldowns."""
OPEN_ACTIONS = "alerter.io/open-actions"
"""Lease annotation: JSON {key: action} of applied actions a later leader may have to revert."""
RETENTION = 86400.0
KEEP_PER_TARGET = 20


class LeaseLock:
    """Leadership through a ``coordination.k8s.io/v1`` Lease: only its holder acts.

    ``acquire(now)`` creates the Lease, renews it when held, or takes it over when the holder
    has not renewed within the lease duration. Writes carry the resourceVersion read, so when
    two replicas race the API server accepts one and answers 409 to the other, which then
    simply is not the leader this round.

    Each replica keeps its own audit log, so the Lease also carries the times of recent actions
    per target (``record_action`` / ``recent_actions``): a replica that takes over still honours
    the cooldowns and rate limits of actions its predecessor took. Applied actions that are to
    be reverted when their alert resolves travel the same way (``share_open`` /
    ``open_actions``), so a leader change, e.g. a rolling upgrade, does not strand a scaled-up
    Deployment or a flipped route.
    """

    def __init__(self, api_client: Any, *, namespace: str, name: str, identity: str, duration: float,
                 timeouts: Timeouts | None = None) -> None:  # fmt: skip
        if duration <= 0:
            raise ValueError(f"lease duration must be > 0, got {duration}")
        if not identity:
            raise ValueError("lease identity must not be empty")
        self._api = coordination_api(api_client, timeouts)
        self.namespace, self.name, self.identity, self.duration = namespace, name, identity, duration
        self._recent: dict[str, list[float]] = {}
        self._open: dict[str, dict[str, Any]] = {}

    def acquire(self, now: float) -> bool:
        """True when this replica holds the Lease until ``now + duration``."""
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
        spec = lease.spec
        if spec.holder_identity == self.identity:
            return self._write(
                lease, now, transitions=int(spec.lease_transitions or 0), acquired=spec.acquire_time
            )
        renewed = spec.renew_time.timestamp() if spec.renew_time is not None else float("-inf")
        if spec.holder_identity and renewed + float(spec.lease_duration_seconds or 0) > now:
            return False
        return self._write(lease, now, transitions=int(spec.lease_transitions or 0) + 1)

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
                    self._api.create_namespaced_lease(self.namespace, body)
                else:
                    body["metadata"]["resourceVersion"] = lease.metadata.resource_version
                    self._api.replace_namespaced_lease(self.name, self.namespace, body)
        except ActionError as exc:
            if exc.reason == "conflict":  # another replica won the race
                return False
            raise
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
            if lease.spec.holder_identity != self.identity:
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
