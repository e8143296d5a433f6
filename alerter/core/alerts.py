"""The alert lifecycle as pure functions: one step per (rule, series) per evaluation tick.

The evaluator calls :func:`step` for every series of a rule at every tick (series it knows from
earlier ticks but the query no longer returned get :meth:`Observation.absent`); the notification
stage asks :func:`needs_sending` and records the send with :func:`mark_sent`; hot reload and
start-up call :func:`carry_over`. Nothing here reads the clock or does I/O: ``now`` is an
argument and all state lives in the returned value, so the engine, backtests and table-driven
tests run the same code.

States (docs/architecture.md, "One rule, from its file to Slack and Kubernetes", step 4)::

    inactive ─anomalous─▶ pending ─anomalous for `for_`─▶ firing ─normal for `keep_firing_for`─▶ resolved
        ▲ ◀─────normal──────┘                                                                   │
        └──────────────────────────────── after `resolved_retention` ───────────────────────────┘

A resolved alert whose series turns anomalous again starts a new episode (pending, then firing).

- ``error`` (the query failed): a firing, pending or resolved alert keeps its state and records
  the reason; only an alert with nothing going on becomes ``error``. An outage never resolves.
- ``nodata`` (the series exists but has no usable value, e.g. a quantile over no traffic): not
  recovery. A firing alert stays firing (reason ``no data``); a pending one is abandoned.
- absent (the query no longer returns the series): a firing alert resolves once it has been
  gone, or not anomalous, for ``max(keep_firing_for, vanish_grace)``; pending ones are dropped.
- flapping: an alert that changed between firing and not firing ``flap_max_transitions`` times
  within ``flap_window`` is held firing instead of resolving again, marked ``flapping``, until the
  old changes age out of the window.

Public API::

    Lifecycle(for_=0, keep_firing_for=0, resolved_retention=900, vanish_grace=300,
              flap_window=3600, flap_max_transitions=6)
    Lifecycle.for_rule(*, interval, for_=0, keep_firing_for=0, **other_fields) -> Lifecycle
    Observation.from_verdict(verdict, trigger_fraction, *, guard=True) -> Observation
    Observation(Signal.ANOMALOUS | Signal.NORMAL, value=..., expected=..., ...)
    Observation.nodata(reason="", tier="") / Observation.error(reason) / Observation.absent()
    step(prev, obs, now, life, *, rule, group, labels) -> Alert
    needs_sending(alert, now, resend_delay) -> Decision
    mark_sent(alert, now) -> alert with last_sent_at=now
    is_forgettable(alert) -> bool        # True: the caller may delete it from the store
    carry_over(alerts, old, new, now) -> CarryOver(kept, ended, dropped)

Every function takes and returns :class:`alerter.core.model.Alert` values, flap history
(``transitions``, ``flapping``) included.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from alerter.core import codec
from alerter.core.durations import format_duration
from alerter.core.model import Alert, AlertState, Decision, Labels, Verdict

RuleKey = tuple[str, str]
"""Identity of a rule across reloads: (group name, alert name)."""

_FLOAT_TOLERANCE = 1e-9
_A = TypeVar("_A", bound=Alert)


@dataclass(frozen=True)
class Lifecycle:
    """Per-rule timing of the lifecycle, all in seconds.

    Built by the evaluator from the rule (``for``, ``keep_firing_for``) and the group interval;
    the other fields have defaults that suit rules evaluated every 30 s to 5 min.
    """

    for_: float = 0.0
    """How long a series must be anomalous, tick after tick, before the alert fires."""
    keep_firing_for: float = 0.0
    """How long a firing alert stays firing after the series stops being anomalous."""
    resolved_retention: float = 900.0
    """How long a resolved alert is kept (and re-sent) so every receiver learns it ended."""
    vanish_grace: float = 300.0
    """How long a firing alert survives its series disappearing (scrape gaps, restarts)."""
    flap_window: float = 3600.0
    """The window in which changes between firing and not firing are counted."""
    flap_max_transitions: int = 6
    """Changes within ``flap_window`` from which an alert counts as flapping; 0 disables damping."""

    def __post_init__(self) -> None:
        for name in ("for_", "keep_firing_for", "resolved_retention", "vanish_grace", "flap_window"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"Lifecycle.{name} must be a finite number of seconds >= 0, got {value!r}")
        count = self.flap_max_transitions
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"Lifecycle.flap_max_transitions must be an integer >= 0, got {count!r}")
        if count and self.flap_window <= 0:
            raise ValueError("Lifecycle.flap_window must be > 0 while flap damping is enabled")

    @classmethod
    def for_rule(
        cls, *, interval: float, for_: float = 0.0, keep_firing_for: float = 0.0, **other: Any
    ) -> Lifecycle:
        """The lifecycle of a rule in a group evaluated every ``interval`` seconds.

        A vanished series is given at least two evaluations to come back (and at least 5 min),
        so one missed scrape of a slow group does not resolve an alert.
        """
        if not math.isfinite(interval) or interval <= 0:
            raise ValueError(f"interval must be a finite number of seconds > 0, got {interval!r}")
        other.setdefault("vanish_grace", max(300.0, 2 * interval))
        return cls(for_=for_, keep_firing_for=keep_firing_for, **other)

    @property
    def damps_flapping(self) -> bool:
        return self.flap_max_transitions > 0


class Signal(enum.StrEnum):
    """What one evaluation said about one series."""

    ANOMALOUS = "anomalous"
    NORMAL = "normal"
    NODATA = "nodata"
    ERROR = "error"
    ABSENT = "absent"


@dataclass(frozen=True)
class Observation:
    """One series at one tick, with the numbers an alert carries into its messages.

    ``reason`` becomes the alert's ``reason``: why there is no data, what failed, or a detector's
    remark (e.g. saturation); it is required for errors.
    """

    signal: Signal
    value: float = math.nan
    expected: float = math.nan
    lower: float = math.nan
    upper: float = math.nan
    score: float = 0.0
    fraction: float = 0.0
    tier: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.signal, Signal):
            raise ValueError(f"Observation.signal must be a Signal, got {self.signal!r}")
        if self.signal is Signal.ERROR and not self.reason:
            raise ValueError("an error observation needs a reason (what failed)")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"Observation.fraction must be in [0, 1], got {self.fraction!r}")

    @property
    def anomalous(self) -> bool:
        return self.signal is Signal.ANOMALOUS

    @classmethod
    def from_verdict(cls, verdict: Verdict, trigger_fraction: float, *, guard: bool = True) -> Observation:
        """Judge a detector verdict: anomalous when ``trigger_fraction`` of the window is out of band.

        ``guard`` is the rule's static guard (``when:``) evaluated on the latest value; a verdict
        whose window holds no usable value at all is ``nodata``, not normal.
        """
        if not 0.0 < trigger_fraction <= 1.0:
            raise ValueError(f"trigger_fraction must be in (0, 1], got {trigger_fraction!r}")
        numbers: dict[str, Any] = {
            "value": verdict.value,
            "expected": verdict.expected_value,
            "lower": verdict.lower_value,
            "upper": verdict.upper_value,
            "score": verdict.score,
            "fraction": verdict.fraction,
            "tier": verdict.tier,
        }
        if math.isnan(verdict.value):
            reason = verdict.reason or ("no samples in window" if len(verdict) == 0 else "no usable value")
            return cls(Signal.NODATA, reason=reason, **numbers)
        out_of_band = verdict.fraction + _FLOAT_TOLERANCE >= trigger_fraction
        signal = Signal.ANOMALOUS if out_of_band and guard else Signal.NORMAL
        return cls(signal, reason=verdict.reason, **numbers)

    @classmethod
    def nodata(cls, reason: str = "", tier: str = "") -> Observation:
        return cls(Signal.NODATA, reason=reason or "no data", tier=tier)

    @classmethod
    def error(cls, reason: str) -> Observation:
        return cls(Signal.ERROR, reason=reason)

    @classmethod
    def absent(cls) -> Observation:
        return cls(Signal.ABSENT)


def step(
    prev: Alert | None,
    obs: Observation,
    now: float,
    life: Lifecycle,
    *,
    rule: str,
    group: str,
    labels: Labels,
) -> Alert:
    """Advance one series' alert by one evaluation at time ``now``.

    ``prev`` is what the previous step returned (``None`` for a series seen for the first time);
    the result is the new state, with ``last_eval=now``. Annotations are kept as they were: the
    evaluator renders templates after the step. A wall clock stepped backwards (NTP) is not an
    error: elapsed times come out negative, which only delays transitions.
    """
    current = _start(prev, now, life, rule=rule, group=group, labels=labels)
    after = _HANDLERS[obs.signal](current, obs, now, life)
    return replace(after, flapping=after.state is AlertState.FIRING and _is_flapping(after, life))


def needs_sending(alert: Alert, now: float, resend_delay: float) -> Decision:
    """Whether receivers must hear about ``alert`` now, and why.

    Pending alerts never go out; a newly firing or newly resolved alert always does; otherwise
    firing and retained resolved alerts are repeated every ``resend_delay`` so a receiver that
    lost a message (or restarted) catches up.
    """
    if not math.isfinite(resend_delay) or resend_delay < 0:
        raise ValueError(f"resend_delay must be a finite number of seconds >= 0, got {resend_delay!r}")
    last = alert.last_sent_at
    if alert.state is AlertState.FIRING:
        if last is None or (alert.fired_at is not None and last < alert.fired_at):
            return Decision(True, "newly firing")
    elif alert.state is AlertState.RESOLVED:
        if last is None:
            return Decision(False, "resolved before it was ever announced")
        if alert.resolved_at is not None and last < alert.resolved_at:
            return Decision(True, "newly resolved")
    else:
        return Decision(False, f"{alert.state.value} alerts are not sent")
    waited = now - last
    if waited >= resend_delay:
        return Decision(True, f"repeat after {format_duration(resend_delay)}")
    return Decision(
        False, f"sent {format_duration(waited)} ago; repeats every {format_duration(resend_delay)}"
    )


def mark_sent(alert: _A, now: float) -> _A:
    """The alert as it is once it has been handed to the notification outbox at ``now``."""
    return replace(alert, last_sent_at=now)


def is_forgettable(alert: Alert) -> bool:
    """True when nothing about the alert is worth keeping: inactive, with no flap history."""
    return alert.state is AlertState.INACTIVE and not alert.transitions


@dataclass(frozen=True)
class CarryOver:
    """The alerts after a reload, sorted by what the engine has to do with them."""

    kept: tuple[Alert, ...] = ()
    """Alerts of rules whose definition did not change: state carried as it was."""
    ended: tuple[Alert, ...] = ()
    """Resolved alerts of changed or removed rules: send them (a firing one was resolved at ``now``).

    For a changed rule they are also the previous state of its series; for a removed rule nothing
    will step them again, so delete them once sent.
    """
    dropped: tuple[Alert, ...] = ()
    """Everything else of changed or removed rules (pending, nodata, ...): delete them."""


def carry_over(
    alerts: Iterable[Alert], old: Mapping[RuleKey, str], new: Mapping[RuleKey, str], now: float
) -> CarryOver:
    """Sort alerts across a reload (or a restart) by whether their rule's definition changed.

    ``old`` and ``new`` map (group, alert name) to a digest of the rule's definition: ``old`` as
    the alerts were produced (persisted with rule health), ``new`` as now loaded. An alert whose
    rule has no ``old`` digest counts as changed: carrying state from an unknown definition could
    keep an alert firing that the new rule would never have raised.
    """
    kept: list[Alert] = []
    ended: list[Alert] = []
    dropped: list[Alert] = []
    for alert in alerts:
        record = alert
        key = (alert.group, alert.rule)
        digest = old.get(key)
        if key in new and digest is not None and digest == new[key]:
            kept.append(record)
        elif record.state is AlertState.FIRING:
            why = "rule changed" if key in new else "rule removed"
            ended.append(_resolve(replace(record, reason=why), now, record.transitions))
        elif record.state is AlertState.RESOLVED:
            ended.append(record)
        else:
            dropped.append(record)
    return CarryOver(tuple(kept), tuple(ended), tuple(dropped))


# -- transitions --------------------------------------------------------------------------------


def _start(
    prev: Alert | None, now: float, life: Lifecycle, *, rule: str, group: str, labels: Labels
) -> Alert:
    """Validate the step's inputs and return ``prev`` with ``last_eval`` and flap history updated."""
    if not isinstance(now, int | float) or not math.isfinite(now):
        raise ValueError(f"now must be a finite unix time in seconds, got {now!r}")
    if prev is None:
        current = Alert(rule=rule, group=group, labels=labels)
    else:
        if (prev.rule, prev.group, prev.labels) != (rule, group, labels):
            raise ValueError(
                f"previous alert belongs to {prev.group}/{prev.rule}{prev.labels!r}, "
                f"not {group}/{rule}{labels!r}"
            )
        current = prev
    recent = (
        tuple(t for t in current.transitions if t > now - life.flap_window) if life.damps_flapping else ()
    )
    return replace(current, last_eval=now, transitions=recent)


def _with_numbers(alert: Alert, obs: Observation, reason: str) -> Alert:
    numbers = {name: getattr(obs, name) for name in codec.NUMBERS}
    return replace(alert, **numbers, tier=obs.tier or alert.tier, reason=reason)


def _quiet(alert: Alert, state: AlertState, reason: str) -> Alert:
    """No episode in progress: clear the episode's timestamps."""
    return replace(
        alert,
        state=state,
        active_at=None,
        fired_at=None,
        resolved_at=None,
        keep_firing_since=None,
        flapping=False,
        reason=reason,
    )


def _is_flapping(alert: Alert, life: Lifecycle) -> bool:
    return life.damps_flapping and len(alert.transitions) >= life.flap_max_transitions


def _with_transition(alert: Alert, now: float, life: Lifecycle) -> tuple[float, ...]:
    return (*alert.transitions, now) if life.damps_flapping else ()


def _fire(alert: Alert, now: float, life: Lifecycle) -> Alert:
    return replace(
        alert,
        state=AlertState.FIRING,
        fired_at=now,
        keep_firing_since=None,
        transitions=_with_transition(alert, now, life),
    )


def _resolve(alert: Alert, now: float, transitions: tuple[float, ...]) -> Alert:
    return replace(
        alert,
        state=AlertState.RESOLVED,
        resolved_at=now,
        keep_firing_since=None,
        flapping=False,
        transitions=transitions,
    )


def _recover(alert: Alert, now: float, life: Lifecycle, hold: float, waiting: str) -> Alert:
    """A firing alert whose condition no longer holds: keep firing for ``hold``, then resolve."""
    since = alert.keep_firing_since if alert.keep_firing_since is not None else now
    alert = replace(alert, keep_firing_since=since)
    if now - since < hold:
        return replace(alert, reason=waiting)
    if _is_flapping(alert, life):
        changes = len(alert.transitions)
        window = format_duration(life.flap_window)
        return replace(alert, reason=f"flapping: {changes} changes within {window}; held firing")
    return _resolve(alert, now, _with_transition(alert, now, life))


def _age_resolved(alert: Alert, now: float, life: Lifecycle, then: AlertState) -> Alert:
    """A resolved alert stays (and is re-sent) for ``resolved_retention``, then becomes ``then``."""
    if alert.resolved_at is not None and now - alert.resolved_at < life.resolved_retention:
        return alert
    return _quiet(alert, then, alert.reason if then is not AlertState.INACTIVE else "")


def _on_anomalous(alert: Alert, obs: Observation, now: float, life: Lifecycle) -> Alert:
    alert = _with_numbers(alert, obs, reason=obs.reason)
    if alert.state is AlertState.FIRING:
        return replace(alert, keep_firing_since=None)
    active_at = alert.active_at
    if alert.state is not AlertState.PENDING or active_at is None:
        alert = replace(_quiet(alert, AlertState.PENDING, alert.reason), active_at=now)
        active_at = now
    if now - active_at + _FLOAT_TOLERANCE >= life.for_:
        return _fire(alert, now, life)
    return alert


def _on_normal(alert: Alert, obs: Observation, now: float, life: Lifecycle) -> Alert:
    alert = _with_numbers(alert, obs, reason=obs.reason)
    if alert.state is AlertState.FIRING:
        return _recover(alert, now, life, life.keep_firing_for, waiting=alert.reason)
    if alert.state is AlertState.RESOLVED:
        return _age_resolved(alert, now, life, then=AlertState.INACTIVE)
    return _quiet(alert, AlertState.INACTIVE, alert.reason)


def _on_nodata(alert: Alert, obs: Observation, now: float, life: Lifecycle) -> Alert:
    alert = _with_numbers(alert, obs, reason=obs.reason or "no data")
    if alert.state is AlertState.FIRING:
        return alert
    if alert.state is AlertState.RESOLVED:
        return _age_resolved(alert, now, life, then=AlertState.NODATA)
    return _quiet(alert, AlertState.NODATA, alert.reason)


def _on_error(alert: Alert, obs: Observation, now: float, life: Lifecycle) -> Alert:
    alert = replace(alert, reason=obs.reason)
    if alert.state in (AlertState.FIRING, AlertState.PENDING):
        return alert
    if alert.state is AlertState.RESOLVED:
        return _age_resolved(alert, now, life, then=AlertState.ERROR)
    return _quiet(alert, AlertState.ERROR, obs.reason)


def _on_absent(alert: Alert, obs: Observation, now: float, life: Lifecycle) -> Alert:
    if alert.state is AlertState.FIRING:
        hold = max(life.keep_firing_for, life.vanish_grace)
        return _recover(alert, now, life, hold, waiting="series absent")
    if alert.state is AlertState.RESOLVED:
        return _age_resolved(replace(alert, reason=""), now, life, then=AlertState.INACTIVE)
    return _quiet(alert, AlertState.INACTIVE, "")


_HANDLERS: dict[Signal, Callable[[Alert, Observation, float, Lifecycle], Alert]] = {
    Signal.ANOMALOUS: _on_anomalous,
    Signal.NORMAL: _on_normal,
    Signal.NODATA: _on_nodata,
    Signal.ERROR: _on_error,
    Signal.ABSENT: _on_absent,
}
