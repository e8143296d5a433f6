"""Pure policy gates deciding whether a remediation may act now.

Called by ``remediate.runner`` for every firing alert that names a policy, before anything
touches the cluster. Every gate is a pure function of plain values (the policy, the alert, the
target's action history, ``now``) returning a ``Decision`` whose reason a human reads in Slack
and in the audit log, so a refusal always explains itself. ``evaluate`` runs them in a fixed
order, cheapest and most global first, and returns the first refusal.

Per-window limits (cooldown, rate limit) do not stop a ratchet: an alert that flaps every half
hour stays within every hourly limit and still scales a Deployment step by step to its maximum.
``budget`` looks across episodes: episodes of one alert less than ``chain_gap`` apart form one
incident chain, which gets at most ``max_per_chain`` automatic actions, and a target gets at most
``max_per_day`` in any 24 hours. A spent budget is not a refusal: the runner asks a human to
approve the action instead, saying which budget is spent and since when.

Remediation is deny-by-default: an empty allow-list allows nothing, and a policy without an
explicit mode only records what it would do (``dry-run``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from alerter.core.durations import format_duration
from alerter.core.model import Alert, AlertState, Decision

OPT_OUT_ANNOTATION = "alerter.io/remediation"
"""Annotation on a target object; the value ``disabled`` keeps every policy's hands off it."""


class Mode(enum.StrEnum):
    """How far a policy goes: nothing, tell, ask, or act."""

    OFF = "off"
    DRY_RUN = "dry-run"
    APPROVE = "approve"
    AUTO = "auto"


class Outcome(enum.StrEnum):
    """Where one action on a target stands; the gates read these from the audit history."""

    PENDING_APPROVAL = "pending-approval"
    APPROVED = "approved"  # a human approved; the Lease holder applies it next
    APPLIED = "applied"  # done, verification still open: the action is in flight
    EFFECTIVE = "effective"
    INEFFECTIVE = "ineffective"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WOULD_APPLY = "would-apply"  # dry-run: recorded what it would have done
    BREAKER_RESET = "breaker-reset"  # a human closed the circuit breaker again
    ELSEWHERE = "applied-elsewhere"  # taken by another replica while it led (known from the Lease)


IN_FLIGHT = frozenset({Outcome.PENDING_APPROVAL, Outcome.APPROVED, Outcome.APPLIED})
# Attempts that count against cooldown and rate limit: the cluster was (or was nearly) touched.
COUNTED = frozenset(
    {
        Outcome.APPLIED,
        Outcome.EFFECTIVE,
        Outcome.INEFFECTIVE,
        Outcome.FAILED,
        Outcome.PENDING_APPROVAL,
        Outcome.APPROVED,
        Outcome.ELSEWHERE,
    }
)
# Actions that changed (or may have changed) the target: what the budgets count. A failed attempt
# changed nothing; cooldown paces its retries.
CHANGED = frozenset({Outcome.APPLIED, Outcome.EFFECTIVE, Outcome.INEFFECTIVE, Outcome.ELSEWHERE})
DAY = 86400.0


@dataclass(frozen=True)
class Limits:
    """The gate parameters of one policy; durations in seconds.

    Field names follow the ``policies:`` entries of ``alerter.yaml``.
    """

    name: str
    mode: Mode = Mode.DRY_RUN
    min_firing: float = 0.0
    """The alert must have been firing this long, so a blip never triggers an action."""
    cooldown: float = 600.0
    """Quiet time per target after an action, so the effect can show before the next one."""
    max_actions: int = 3
    """At most this many actions per target within ``per`` seconds (a flapping alert cannot loop)."""
    per: float = 3600.0
    verify_within: float = 600.0
    """The alert must be back in band this long after an action, or the action was ineffective."""
    after_ineffective: int = 2
    """Consecutive ineffective actions on a target that open its circuit breaker."""
    revert_on_resolve: bool = False
    approval_expiry: float = 3600.0
    """A pending approval older than this is void: the situation it was asked for has moved on."""
    chain_gap: float = 3600.0
    """Episodes of one alert whose quiet gap (resolution to next firing) is shorter than this form
    one incident chain: a flapping alert is one incident, not a new one every half hour."""
    max_per_chain: int | None = None
    """Automatic actions per incident chain; then each further action needs a human's approval.
    None: no such budget (``alerter.yaml`` always sets one: ``budget.max_per_chain``, default 2)."""
    max_per_day: int | None = None
    """Automatic actions on the target in any 24 hours; then each further action needs approval.
    None: no such budget (``alerter.yaml`` always sets one: ``budget.max_per_day``, default 4)."""

    def __post_init__(self) -> None:
        for name in ("min_firing", "cooldown", "per", "verify_within", "approval_expiry"):
            if getattr(self, name) < 0:
                raise ValueError(f"policy {self.name!r}: {name} must be >= 0, got {getattr(self, name)}")
        if not self.chain_gap > 0:
            raise ValueError(f"policy {self.name!r}: budget.chain_gap must be > 0, got {self.chain_gap}")
        for name in ("max_per_chain", "max_per_day"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"policy {self.name!r}: budget.{name} must be >= 1, got {value}")
        if self.max_actions < 1:
            raise ValueError(f"policy {self.name!r}: max_actions.count must be >= 1, got {self.max_actions}")
        if self.after_ineffective < 1:
            raise ValueError(
                f"policy {self.name!r}: circuit_breaker.after_ineffective must be >= 1, "
                f"got {self.after_ineffective}"
            )


@dataclass(frozen=True)
class Switches:
    """Engine-wide settings that every policy obeys."""

    paused: bool = False
    """The kill switch: config ``remediation.paused`` or ``alerter remediation pause``."""
    max_concurrent: int = 1
    """Actions in flight at once across all targets."""
    allow: tuple[str, ...] = ()
    """Namespaces (``inference``) or targets (``inference/vllm``) remediation may touch; empty: none."""


@dataclass(frozen=True)
class Attempt:
    """One earlier action on the same target, as far as the gates care."""

    at: float
    outcome: Outcome
    dry_run: bool = False
    alert: str = ""
    """The rule of the alert the action was for (named in refusals)."""
    fingerprint: str = ""
    """The alert's fingerprint: which incident chain the action belongs to."""
    auto: bool = False
    """Taken without a human (auto mode, or a dry-run record standing for one): what budgets count."""


@dataclass(frozen=True)
class Episode:
    """An earlier, ended firing episode of the alert (unix seconds)."""

    fired_at: float
    resolved_at: float


@dataclass(frozen=True)
class Situation:
    """Everything the gates look at for one decision."""

    limits: Limits
    switches: Switches
    alert: Alert
    namespace: str
    name: str
    history: Sequence[Attempt] = ()
    annotations: Mapping[str, str] | None = None
    in_flight_total: int = 0
    now: float = 0.0
    episodes: Sequence[Episode] = ()
    """The alert's ended episodes, in any order: the incident chain is read from them."""


def _allow(reason: str) -> Decision:
    return Decision(True, reason)


def _deny(reason: str) -> Decision:
    return Decision(False, reason)


def kill_switch(s: Situation) -> Decision:
    if s.switches.paused:
        return _deny("remediation is paused (kill switch); `alerter remediation resume` re-enables it")
    return _allow("remediation is not paused")


def mode(s: Situation) -> Decision:
    if s.limits.mode is Mode.OFF:
        return _deny(f"policy {s.limits.name!r} is off")
    return _allow(f"policy {s.limits.name!r} is in {s.limits.mode} mode")


def allow_list(s: Situation) -> Decision:
    target = f"{s.namespace}/{s.name}"
    if s.namespace in s.switches.allow or target in s.switches.allow:
        return _allow(f"{target} is allowed")
    if not s.switches.allow:
        return _deny(f"{target} is not allowed: remediation.allow_namespaces is empty")
    return _deny(f"{target} is not in remediation.allow_namespaces {list(s.switches.allow)}")


def opt_out(s: Situation) -> Decision:
    value = (s.annotations or {}).get(OPT_OUT_ANNOTATION, "")
    if value.strip().lower() == "disabled":
        return _deny(f"{s.namespace}/{s.name} opted out with annotation {OPT_OUT_ANNOTATION}: disabled")
    return _allow("target has not opted out")


def firing_long_enough(s: Situation) -> Decision:
    alert = s.alert
    if alert.state is not AlertState.FIRING or alert.fired_at is None:
        return _deny(f"alert {alert.rule} is {alert.state}, not firing")
    firing_for = s.now - alert.fired_at
    if firing_for < s.limits.min_firing:
        return _deny(
            f"alert has been firing for {format_duration(firing_for)}, "
            f"policy needs {format_duration(s.limits.min_firing)}"
        )
    return _allow(f"alert firing for {format_duration(firing_for)}")


def _relevant(s: Situation) -> list[Attempt]:
    # A dry-run policy paces its "would do" records like real actions, so Slack is not told the
    # same thing every tick; real actions never count dry-run records and vice versa.
    dry = s.limits.mode is Mode.DRY_RUN
    return [a for a in s.history if a.dry_run == dry]


def one_in_flight(s: Situation) -> Decision:
    for attempt in s.history:
        if attempt.outcome in IN_FLIGHT:
            what = {
                Outcome.PENDING_APPROVAL: "awaits approval",
                Outcome.APPROVED: "is approved and about to be applied",
            }.get(attempt.outcome, "is being verified")
            owner = f" (alert {attempt.alert})" if attempt.alert else ""
            return _deny(f"another action on {s.namespace}/{s.name}{owner} {what}")
    return _allow("no action in flight on the target")


def cooldown(s: Situation) -> Decision:
    dry = s.limits.mode is Mode.DRY_RUN
    counted = COUNTED | ({Outcome.WOULD_APPLY} if dry else set())
    times = [a.at for a in _relevant(s) if a.outcome in counted]
    if times:
        since = s.now - max(times)
        if since < s.limits.cooldown:
            return _deny(
                f"cooldown: last action {format_duration(since)} ago, "
                f"cooldown {format_duration(s.limits.cooldown)}"
            )
    return _allow("cooldown elapsed")


def rate_limit(s: Situation) -> Decision:
    dry = s.limits.mode is Mode.DRY_RUN
    counted = COUNTED | ({Outcome.WOULD_APPLY} if dry else set())
    recent = [a for a in _relevant(s) if a.outcome in counted and s.now - a.at < s.limits.per]
    if len(recent) >= s.limits.max_actions:
        return _deny(
            f"rate limit: {len(recent)} actions on {s.namespace}/{s.name} in the last "
            f"{format_duration(s.limits.per)} (max {s.limits.max_actions})"
        )
    return _allow(f"{len(recent)} of {s.limits.max_actions} actions used")


def circuit_breaker(s: Situation) -> Decision:
    streak = 0
    for attempt in sorted(s.history, key=lambda a: a.at, reverse=True):
        if attempt.dry_run:
            continue
        if attempt.outcome is Outcome.INEFFECTIVE:
            streak += 1
        elif attempt.outcome in (Outcome.EFFECTIVE, Outcome.BREAKER_RESET):
            break
    if streak >= s.limits.after_ineffective:
        return _deny(
            f"circuit breaker open: the last {streak} actions on {s.namespace}/{s.name} were ineffective "
            f"(limit {s.limits.after_ineffective}); a human must look, then reset it"
        )
    return _allow(f"{streak} consecutive ineffective actions")


def concurrency(s: Situation) -> Decision:
    if s.limits.mode is Mode.DRY_RUN:
        return _allow("dry-run takes no concurrency slot")
    if s.in_flight_total >= s.switches.max_concurrent:
        return _deny(
            f"concurrency: {s.in_flight_total} actions in flight (remediation.max_concurrent "
            f"{s.switches.max_concurrent})"
        )
    return _allow(f"{s.in_flight_total} of {s.switches.max_concurrent} concurrent actions in flight")


Gate = Callable[[Situation], Decision]

GATES: tuple[Gate, ...] = (
    kill_switch,
    mode,
    allow_list,
    opt_out,
    firing_long_enough,
    one_in_flight,
    circuit_breaker,
    cooldown,
    rate_limit,
    concurrency,
)
"""In order: global switches first, then the target, then its history, then capacity."""


def evaluate(s: Situation) -> Decision:
    """The first refusal of ``GATES``, or an allowing decision saying the mode it will act in."""
    return refusal(s)[1]


def refusal(s: Situation) -> tuple[str, Decision]:
    """Like ``evaluate``, also naming the gate that refused (``""`` when all passed).

    The gate name is a stable key: the runner records a refusal again only when a different
    gate refuses, since reasons carry times that change every tick.
    """
    for gate in GATES:
        decision = gate(s)
        if not decision.allowed:
            return gate.__name__, decision
    return "", _allow(f"all gates passed; policy {s.limits.name!r} in {s.limits.mode} mode")


# ---- budgets across episodes: a spent budget hands over to a human ---------------------------


def chain_start(s: Situation) -> float:
    """When the alert's incident chain began: its first firing after a quiet gap of ``chain_gap``.

    The chain runs back from the current episode over every earlier episode that ended less than
    ``chain_gap`` before the chain's start. The alert's own actions and proposals count as moments
    it fired too, so a resolution this replica never saw (it was not leading) cannot split a chain.
    """
    start = s.alert.fired_at if s.alert.fired_at is not None else s.now
    fired = [(e.fired_at, e.resolved_at) for e in s.episodes]
    fired += [(a.at, a.at) for a in s.history if a.fingerprint and a.fingerprint == s.alert.fingerprint]
    for began, ended in sorted(fired, key=lambda span: span[1], reverse=True):
        if start - ended >= s.limits.chain_gap:
            break  # every remaining span ended earlier still
        start = min(start, began)
    return start


def _auto(s: Situation) -> list[Attempt]:
    """Earlier automatic actions that changed the target (in dry-run: the records standing for them)."""
    counted = {Outcome.WOULD_APPLY} if s.limits.mode is Mode.DRY_RUN else CHANGED
    return [a for a in _relevant(s) if a.outcome in counted and (a.auto or a.outcome is Outcome.ELSEWHERE)]


def _handover(s: Situation, spent: str) -> Decision:
    if s.limits.mode is Mode.DRY_RUN:
        return _deny(f"in auto mode this would need approval: {spent}")
    return _deny(f"auto-remediation paused: {spent}; approve to continue")


def chain_budget(s: Situation) -> Decision:
    if s.limits.max_per_chain is None:
        return _allow("no incident chain budget")
    since = chain_start(s)
    taken = [a for a in _auto(s) if a.fingerprint == s.alert.fingerprint and a.at >= since]
    if len(taken) >= s.limits.max_per_chain:
        what = "would have been taken" if s.limits.mode is Mode.DRY_RUN else "already taken"
        return _handover(
            s, f"{_actions(len(taken))} {what} in this incident chain (since {_clock(since, s.now)})"
        )
    return _allow(f"{len(taken)} of {s.limits.max_per_chain} actions of the incident chain used")


def daily_budget(s: Situation) -> Decision:
    if s.limits.max_per_day is None:
        return _allow("no daily budget")
    # Actions a predecessor took (``ELSEWHERE``) may have been automatic: they count.
    taken = [a for a in _auto(s) if s.now - a.at < DAY]
    if len(taken) >= s.limits.max_per_day:
        what = "would have been taken" if s.limits.mode is Mode.DRY_RUN else "already taken"
        return _handover(
            s,
            f"{_actions(len(taken))} {what} on {s.namespace}/{s.name} in the last 24h "
            f"(since {_clock(min(a.at for a in taken), s.now)}; max_per_day {s.limits.max_per_day})",
        )
    return _allow(f"{len(taken)} of {s.limits.max_per_day} actions of the day used")


BUDGETS: tuple[Gate, ...] = (chain_budget, daily_budget)


def budget(s: Situation) -> tuple[str, Decision]:
    """Whether an auto (or dry-run) policy may still act alone, naming the budget that is spent.

    Run after ``refusal`` passed. A refusal here means: do not act, ask a human (``approve`` mode
    asks for every action anyway, so its actions are never budgeted).
    """
    if s.limits.mode not in (Mode.AUTO, Mode.DRY_RUN):
        return "", _allow(f"policy {s.limits.name!r} asks a human for every action")
    for gate in BUDGETS:
        decision = gate(s)
        if not decision.allowed:
            return gate.__name__, decision
    return "", _allow("within the incident chain and daily budgets")


def _actions(count: int) -> str:
    return f"{count} action" if count == 1 else f"{count} actions"


def _clock(at: float, now: float) -> str:
    """``10:00 UTC`` on the day of ``now``, ``2026-11-17 10:00 UTC`` on another."""
    when, today = datetime.fromtimestamp(at, UTC), datetime.fromtimestamp(now, UTC)
    return when.strftime("%H:%M UTC" if when.date() == today.date() else "%Y-%m-%d %H:%M UTC")


def bounds(current: int, desired: int, low: int, high: int) -> Decision:
    """Whether moving from ``current`` to ``desired`` replicas changes anything within [low, high].

    Planning already clamps ``desired``; this gate says so in words when the clamp leaves
    nothing to do (already at the bound), so the audit shows why no action was taken.
    """
    if low > high:
        return _deny(f"bounds are inverted: min {low} > max {high}")
    if not low <= desired <= high:
        return _deny(f"target {desired} is outside the bounds [{low}, {high}]")
    if desired == current:
        return _deny(f"already at {current} (bounds [{low}, {high}]); nothing to change")
    return _allow(f"{current} -> {desired} within [{low}, {high}]")
