"""The values and Protocols around ``remediate.runner``: what it needs and what it returns.

The composition root hands the runner a ``Policy`` per ``policies:`` entry, an ``Actuator``
(``remediate.kubernetes.KubeActuator`` live, ``remediate.recording.RecordingActuator`` in
backtests) and a ``Leader`` (``remediate.lease.LeaseLock``). Each decision comes back as an
``Event``; the notifier posts its ``Message`` in the alert's Slack thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from alerter.remediate.actions import ActionSpec, Change
from alerter.remediate.policy import Limits


@dataclass(frozen=True)
class Policy:
    """A named remediation: its gate limits and the action it takes."""

    limits: Limits
    action: ActionSpec

    @property
    def name(self) -> str:
        return self.limits.name


@dataclass(frozen=True)
class Message:
    """A line for the alert's Slack thread (``alert`` is the alert fingerprint keying the thread).

    ``buttons`` asks the notifier for Approve / Reject buttons whose value is ``action_id``.
    """

    alert: str
    rule: str
    text: str
    action_id: int | None = None
    buttons: bool = False


@dataclass(frozen=True)
class Event:
    """One decision: taken, skipped, failed, proposed, approved, verified, reverted..."""

    at: float
    decision: str
    policy: str
    target: str
    alert: str
    rule: str
    reason: str
    gate: str = ""
    action_id: int | None = None
    message: Message | None = None


class Actuator(Protocol):
    """What the runner needs from ``remediate.kubernetes.KubeActuator`` (or a recording double)."""

    def annotations(self, spec: ActionSpec) -> Mapping[str, str]: ...

    def plan(self, spec: ActionSpec) -> Change: ...

    def apply(self, change: Change, now: float) -> Change: ...

    def revert(self, change: Change, now: float) -> tuple[bool, str]: ...


class Leader(Protocol):
    """``remediate.lease.LeaseLock``: ``acquire`` leads (creates, renews or takes over the Lease),
    ``holds`` says whether the last renewal still covers a write at ``now``."""

    def acquire(self, now: float) -> bool: ...

    def holds(self, now: float) -> bool: ...


@runtime_checkable
class SharedHistory(Protocol):
    """A leader that also hands action history to its successor (``remediate.lease.LeaseLock``)."""

    def recent_actions(self) -> Mapping[str, Sequence[float]]: ...

    def record_action(self, target: str, at: float) -> bool: ...

    def open_actions(self) -> Mapping[str, Mapping[str, Any]]: ...

    def share_open(self, key: str, action: Mapping[str, Any] | None, now: float) -> bool: ...
