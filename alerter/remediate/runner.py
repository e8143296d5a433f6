"""Plan -> gate -> act -> audit -> verify -> revert, for firing alerts whose rules name policies.

The composition root builds one ``Runner`` and calls ``step(alerts, now)`` after every
evaluation tick; the HTTP server calls ``approve`` / ``reject`` once it has verified a Slack
button's signature (the CLI's ``list_actions``, ``pause`` and ``resume`` live in ``audit``).
Only the holder of the Lease decides: other replicas return no events, so nothing is recorded or
posted twice. A step that runs past the Lease's renew deadline (slow API calls) renews it before
its next write, and writes nothing more if that fails: another replica may be taking over.
Within one process the scheduler's tick and the HTTP thread's button callbacks run one at a time
under ``Runner.lock``: an approval that interleaved with a tick would have both plan and apply
the same action.

With several replicas sharing the rule groups (``cluster``) there is no single leader: each
replica acts for the alerts of the groups it owns (``owns``), and its ``leader`` is its
membership (no writes once the member Lease is past its renew deadline). Every replica reads the
same audit log (the shared store), so cooldowns, rate limits, budgets and open approvals are the
cluster's, not the replica's; a new action is recorded only after its target's gates are read
again under the audit's lock (``AuditLog.serial``), so two replicas acting on one target for
alerts of different groups cannot both pass its cooldown. Approvals, rejections and expiries are
conditional updates (``AuditLog.update(..., expect=...)``): of two replicas taking the same Slack
press, or expiring the same proposal, exactly one decides, and the alert's owner applies it.

Every decision returns an ``Event`` (also written to the audit log and logged as a structured
line) and, where a human should hear of it, a ``Message`` for the alert's Slack thread; this
module does not talk to Slack. A refusal is recorded again only when a different gate refuses,
so a flapping alert leaves one line per change of reason, not one per tick.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from alerter.core.durations import format_duration
from alerter.core.errors import ActionError
from alerter.core.model import Alert, AlertState, Decision
from alerter.remediate import policy as gates
from alerter.remediate.actions import ActionSpec, Change, ConfigMapSpec, ScaleSpec, split_ref, target_key
from alerter.remediate.audit import ActionRecord, AuditLog
from alerter.remediate.contracts import Actuator, Event, Leader, Message, Policy, SharedHistory
from alerter.remediate.policy import Attempt, Mode, Outcome, Situation, Switches

__all__ = ["Actuator", "Event", "Leader", "Message", "Policy", "Runner", "SharedHistory", "back_in_band"]

log = logging.getLogger("alerter.remediate")


_REVERTIBLE = (Outcome.APPLIED, Outcome.EFFECTIVE, Outcome.INEFFECTIVE)


def back_in_band(alert: Alert) -> bool:
    """Whether the metric is inside its band again (or the alert is over)."""
    if alert.state in (AlertState.RESOLVED, AlertState.INACTIVE):
        return True
    value, lower, upper = alert.value, alert.lower, alert.upper
    if math.isnan(value) or math.isnan(lower) or math.isnan(upper):
        return False
    return lower <= value <= upper


class Runner:
    """Owns remediation decisions for one engine; all state lives in the audit log.

    Every entry point holds ``lock`` for its whole run, so a Slack approval arriving on the HTTP
    thread waits for the scheduler's tick (and the other way round) instead of interleaving with
    it between reading the audit log and writing to the cluster. A composition root that replaces
    the runner on reload may hand the old runner's lock to the new one.

    ``clock`` only measures how long a step has run (``now`` stays the step's start for every
    decision), so that the Lease's renew deadline is checked at the moment of each write.
    """

    def __init__(
        self,
        audit: AuditLog,
        actuator: Actuator,
        policies: Sequence[Policy],
        switches: Switches,
        leader: Leader | None = None,
        *,
        lock: AbstractContextManager[Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        owns: Callable[[str, str, float], bool] | None = None,
    ) -> None:
        """``owns(rule, alert fingerprint, now)``: whether this replica acts for that alert
        (None: for every alert, one replica or the Lease holder)."""
        self.audit = audit
        self.owns = owns
        self.actuator = actuator
        self.policies = {p.name: p for p in policies}
        self.switches = switches
        self.leader = leader
        self.lock: AbstractContextManager[Any] = lock if lock is not None else threading.Lock()
        self.clock = clock
        self._began = (0.0, 0.0)  # (the step's now, the clock then)
        self._deposed = False  # the renewal failed mid-step: no more writes in this step

    # ---- entry points ------------------------------------------------------------------------

    def step(self, alerts: Sequence[tuple[Alert, Sequence[str]]], now: float) -> list[Event]:
        """One pass over the current alerts, each with the policy names its rule lists."""
        with self.lock:
            return self._step(alerts, now)

    def approve(self, action_id: int, by: str, now: float) -> list[Event]:
        """A human approved a pending action; the leader applies it (now, if this is the leader)."""
        with self.lock:
            return self._approve(action_id, by, now)

    def reject(self, action_id: int, by: str, now: float) -> list[Event]:
        with self.lock:
            return self._reject(action_id, by, now)

    def reset_breaker(self, target: str, by: str, now: float) -> list[Event]:
        """Close a target's circuit breaker after a human looked at why actions did not help."""
        with self.lock:
            record = ActionRecord(0, now, now, "", target, "", "", "", Outcome.BREAKER_RESET, False, None,
                                  f"circuit breaker reset by {by}", decided_by=by)  # fmt: skip
            action_id = self.audit.add_action(record)
            return [self._event(replace(record, id=action_id), now, "breaker-reset", record.reason)]

    @property
    def paused(self) -> bool:
        return self.switches.paused or self.audit.paused()

    # ---- under the lock ----------------------------------------------------------------------

    def _step(self, alerts: Sequence[tuple[Alert, Sequence[str]]], now: float) -> list[Event]:
        self._begin(now)
        if self.leader is not None and not self.leader.acquire(now):
            log.debug("not the remediation leader; not acting")
            return []
        events = self._adopt(now) + self._expire(now) + self._apply_approved(now)
        seen = set()
        for alert, names in alerts:
            seen.add(alert.fingerprint)
            events += self._verify(alert, now)
            for name in names:
                events += self._handle(alert, name, now)
        events += self._verify_unseen(seen, now)
        return events

    def _approve(self, action_id: int, by: str, now: float) -> list[Event]:
        record = self._pending(action_id)
        if record.expires_at is not None and now >= record.expires_at:
            return self._expire(now)
        if not self.audit.update(
            action_id, now, expect=Outcome.PENDING_APPROVAL, outcome=Outcome.APPROVED, decided_by=by
        ):
            raise _decided_meanwhile(action_id)
        events = [self._event(record, now, "approved", f"approved by {by}", text=f"Approved by {by}.")]
        self._begin(now)
        if self.leader is None or self.leader.acquire(now):
            events += self._apply_approved(now)
        return events

    def _reject(self, action_id: int, by: str, now: float) -> list[Event]:
        record = self._pending(action_id)
        if not self.audit.update(
            action_id,
            now,
            expect=Outcome.PENDING_APPROVAL,
            outcome=Outcome.REJECTED,
            decided_by=by,
            reason=f"rejected by {by}",
        ):
            raise _decided_meanwhile(action_id)
        return [
            self._event(record, now, "rejected", f"rejected by {by}", text=f"Rejected by {by}; nothing done.")
        ]

    # ---- leading -----------------------------------------------------------------------------

    def _begin(self, now: float) -> None:
        self._began, self._deposed = (now, self.clock()), False

    def _may_write(self) -> bool:
        """Whether this replica still leads at this moment of the step (start + elapsed).

        Within the Lease's renew deadline it does; past it, it must renew first, as client-go's
        leader stops leading once ``RenewDeadline`` passes without a renewal. A failed renewal
        stops the writes for the rest of the step; the next step starts with ``acquire`` again.
        """
        if self.leader is None:
            return True
        if self._deposed:
            return False
        start, then = self._began
        now = start + (self.clock() - then)
        if self.leader.holds(now):
            return True
        try:
            renewed = self.leader.acquire(now)
        except ActionError as exc:
            log.warning("cannot renew the remediation Lease: %s", exc)
            renewed = False
        if not renewed:
            log.warning("the step ran %.1fs, past the Lease's renew deadline, and lost the Lease: "
                        "no writes until it leads again", now - start)  # fmt: skip
        self._deposed = not renewed
        return renewed

    def _held(self, record: ActionRecord | None, alert: Alert, policy: str, target: str, now: float,
              what: str) -> list[Event]:  # fmt: skip
        """A write not made because this replica may no longer lead; audited, not posted."""
        reason = f"{what} held: this replica's Lease lapsed during the step; the leader decides"
        return [self._emit(Event(now, "skipped", policy, target, alert.fingerprint, alert.rule, reason, "lease",
                                 record.id if record else None))]  # fmt: skip

    # ---- deciding ----------------------------------------------------------------------------

    def _handle(self, alert: Alert, name: str, now: float) -> list[Event]:
        policy = self.policies.get(name)
        if policy is None:
            return self._note(alert, name, "", now, "skipped", "config", f"policy {name!r} is not configured")
        if alert.state is AlertState.FIRING:
            # keep_firing_for holds an alert that is already back in band: nothing to fix.
            return [] if back_in_band(alert) else self._decide(alert, policy, now)
        if alert.state in (AlertState.RESOLVED, AlertState.INACTIVE):
            return self._on_resolved(alert, policy, now)
        return []

    def _decide(self, alert: Alert, policy: Policy, now: float) -> list[Event]:
        target = target_key(policy.action)
        namespace, name = policy.action.target
        situation = Situation(
            limits=policy.limits,
            switches=replace(self.switches, paused=self.paused),
            alert=alert,
            namespace=namespace,
            name=name,
            history=self._history(target),
            in_flight_total=len(self.audit.in_flight()),
            now=now,
            episodes=self.audit.episodes(alert.fingerprint),
        )
        gate, decision = gates.refusal(situation)
        if decision.allowed and isinstance(policy.action, ConfigMapSpec) and policy.action.restart:
            # the Deployment restarted after a ConfigMap change must be allowed as well
            namespace, name = split_ref(policy.action.restart, "configmap.restart")
            gate, decision = (
                "allow_list",
                gates.allow_list(replace(situation, namespace=namespace, name=name)),
            )
        if not decision.allowed:
            return self._note(alert, policy.name, target, now, "skipped", gate, decision.reason)
        try:
            decision = gates.opt_out(replace(situation, annotations=self.actuator.annotations(policy.action)))
            if not decision.allowed:
                return self._note(alert, policy.name, target, now, "skipped", "opt_out", decision.reason)
            change = self.actuator.plan(policy.action)
        except ActionError as exc:
            return self._note(alert, policy.name, target, now, "failed", "plan", f"cannot plan: {exc}")
        decision = _bounds(policy.action, change)
        if not decision.allowed:
            return self._note(alert, policy.name, target, now, "skipped", "bounds", decision.reason)
        gate, decision = gates.budget(situation)  # spent: a human decides, not the policy
        if decision.allowed:
            return self._start(alert, policy, target, change, now, situation)
        if policy.limits.mode is Mode.DRY_RUN:
            return self._note(alert, policy.name, target, now, "skipped", gate, decision.reason)
        return self._start(alert, policy, target, change, now, situation, handover=(gate, decision.reason))

    def _history(self, target: str) -> list[Attempt]:
        local = self.audit.history(target)
        if not isinstance(self.leader, SharedHistory):
            return local
        times = [a.at for a in local if not a.dry_run]
        shared = self.leader.recent_actions().get(target, ())
        # Actions this replica took are in its own log; the others were taken by a predecessor.
        return local + [
            Attempt(at=t, outcome=Outcome.ELSEWHERE) for t in shared if all(abs(t - u) > 1 for u in times)
        ]

    def _start(self, alert: Alert, policy: Policy, target: str, change: Change, now: float,
               situation: Situation, handover: tuple[str, str] | None = None) -> list[Event]:  # fmt: skip
        mode = Mode.APPROVE if handover else policy.limits.mode
        base = ActionRecord(0, now, now, policy.name, target, alert.fingerprint, alert.rule, str(mode),
                            Outcome.APPROVED, mode is Mode.DRY_RUN, change, change.summary, decided_by="auto")  # fmt: skip
        if mode is Mode.DRY_RUN:
            record = self._add(replace(base, outcome=Outcome.WOULD_APPLY, decided_by=""))
            text = f"Dry run ({policy.name}): would {change.summary}. Nothing was changed."
            return [self._event(record, now, "would-act", f"would {change.summary}", text=text)]
        if mode is Mode.APPROVE:
            gate, why = handover or ("", "")  # why: the budget that is spent, and since when
            reason = f"{why} (proposed: {change.summary})" if why else change.summary
            expires = now + policy.limits.approval_expiry
            proposed = self._add_gated(
                replace(
                    base, outcome=Outcome.PENDING_APPROVAL, expires_at=expires, decided_by="", reason=reason
                ),
                situation,
            )
            if isinstance(proposed, tuple):
                return self._note(alert, policy.name, target, now, "skipped", *proposed)
            record = proposed
            text = (f"{why[:1].upper()}{why[1:]}. " if why else "") + (
                    f"Proposed ({policy.name}): {change.summary}. Approve within "
                    f"{format_duration(policy.limits.approval_expiry)}.")  # fmt: skip
            return [self._event(record, now, "pending-approval", reason if why else f"proposed: {change.summary}",
                                gate=gate, text=text, buttons=True)]  # fmt: skip
        if not self._may_write():
            return self._held(None, alert, policy.name, target, now, change.summary)
        started = self._add_gated(base, situation)
        if isinstance(started, tuple):
            return self._note(alert, policy.name, target, now, "skipped", *started)
        return self._act(started, policy, change, now)

    def _add_gated(self, record: ActionRecord, situation: Situation) -> ActionRecord | tuple[str, str]:
        """Record a new action, or (gate, reason) when its target's gates refuse it now.

        Alone, the gates ``_decide`` read are still true (nothing else writes the audit log for
        this replica's alerts). Sharing the groups, another replica may have acted on the same
        target since, for an alert of one of its groups: the target's history is read again and
        the gates asked again under the audit's lock, in the transaction that records the action,
        so of two replicas only the first passes the cooldown.
        """
        if self.owns is None:
            return self._add(record)
        with self.audit.serial():
            fresh = replace(
                situation, history=self._history(record.target), in_flight_total=len(self.audit.in_flight())
            )
            gate, decision = gates.refusal(fresh)
            if not decision.allowed:
                return gate, decision.reason
            return self._add(record)

    def _act(self, record: ActionRecord, policy: Policy, change: Change, now: float) -> list[Event]:
        try:
            done = self.actuator.apply(change, now)
        except ActionError as exc:
            reason = f"failed to {change.summary}: {exc}"
            self.audit.update(record.id, now, outcome=Outcome.FAILED, reason=reason)
            hint = (
                " Retrying after the cooldown."
                if exc.retryable
                else " A human must fix this; not retrying soon."
            )
            return [
                self._event(
                    record, now, "failed", reason, gate=exc.reason, text=f"Remediation {reason}.{hint}"
                )
            ]
        verify_by = now + policy.limits.verify_within
        self.audit.update(record.id, now, outcome=Outcome.APPLIED, change=done, verify_by=verify_by)
        if isinstance(self.leader, SharedHistory):
            shared = {"policy": record.policy, "target": record.target, "alert": record.alert, "rule": record.rule,
                      "mode": record.mode, "at": record.created_at, "verify_by": verify_by, "change": done.to_json()}  # fmt: skip
            try:
                self.leader.record_action(record.target, now)
                if policy.limits.revert_on_resolve:
                    self.leader.share_open(_key(record), shared, now)
            except ActionError as exc:
                log.warning("could not share the action on %s through the Lease: %s", record.target, exc)
        notes = "".join(f" ({n})" for n in done.notes)
        text = (f"Remediation ({policy.name}): {done.summary}{notes}. Verifying that the metric is back in "
                f"its band within {format_duration(policy.limits.verify_within)}.")  # fmt: skip
        return [self._event(record, now, "taken", done.summary + notes, text=text)]

    def _apply_approved(self, now: float) -> list[Event]:
        events: list[Event] = []
        for record in self.audit.actions(where="outcome = ?", params=(str(Outcome.APPROVED),)):
            if not self._acts_for(record, now):
                continue  # the alert's owner applies it
            policy = self.policies.get(record.policy)
            if policy is None or self.paused:
                why = (
                    "remediation is paused (kill switch)"
                    if self.paused
                    else f"policy {record.policy!r} is gone"
                )
                self.audit.update(record.id, now, outcome=Outcome.FAILED, reason=f"not applied: {why}")
                events.append(
                    self._event(record, now, "failed", f"not applied: {why}", text=f"Not applied: {why}.")
                )
                continue
            try:  # plan again: absolute targets come from the values as they are now
                change = self.actuator.plan(policy.action)
            except ActionError as exc:
                self.audit.update(record.id, now, outcome=Outcome.FAILED, reason=f"cannot plan: {exc}")
                events.append(
                    self._event(record, now, "failed", f"cannot plan: {exc}", text=f"Failed: {exc}.")
                )
                continue
            if not self._may_write():  # stays approved: applied once this replica leads again
                log.warning("approved action %d held: the Lease lapsed during the step", record.id)
                break
            events += self._act(record, policy, change, now)
        return events

    # ---- after acting ------------------------------------------------------------------------

    def _verify(self, alert: Alert, now: float) -> list[Event]:
        events = []
        for record in self.audit.actions(
            where="alert = ? AND outcome = ? AND dry_run = 0",
            params=(alert.fingerprint, str(Outcome.APPLIED)),
        ):
            if back_in_band(alert):
                self.audit.update(record.id, now, outcome=Outcome.EFFECTIVE)
                text = f"Verified: the metric is back in its band after {format_duration(now - record.created_at)}."
                events.append(self._event(record, now, "effective", "back in band", text=text))
            elif record.verify_by is not None and now >= record.verify_by:
                events.append(
                    self._ineffective(record, now, "still out of band at the verification deadline")
                )
        return events

    def _verify_unseen(self, seen: set[str], now: float) -> list[Event]:
        # An alert that vanished cannot be verified; its action must not stay in flight forever.
        events = []
        for record in self.audit.actions(
            where="outcome = ? AND verify_by <= ?", params=(str(Outcome.APPLIED), now)
        ):
            if record.alert not in seen and self._acts_for(record, now):
                events.append(self._ineffective(record, now, "the alert was not evaluated by the deadline"))
        return events

    def _adopt(self, now: float) -> list[Event]:
        """Take over the open actions a previous leader published, so their reverts still happen."""
        if not isinstance(self.leader, SharedHistory):
            return []
        events = []
        for key, entry in self.leader.open_actions().items():
            try:
                at, target = float(entry["at"]), str(entry["target"])
                if self.audit.actions(where="target = ? AND created_at = ?", params=(target, at), limit=1):
                    continue
                change = Change.from_json(entry["change"])
                record = ActionRecord(0, at, now, str(entry["policy"]), target, str(entry["alert"]), str(entry["rule"]),
                                      str(entry["mode"]), Outcome.APPLIED, False, change,
                                      f"{change.summary} (taken by a previous leader)",
                                      verify_by=float(entry["verify_by"]), decided_by="previous leader")  # fmt: skip
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("ignoring malformed open action %s on the Lease: %s", key, exc)
                continue
            record = self._add(record)
            events.append(
                self._event(record, now, "adopted", f"took over {change.summary} from a previous leader")
            )
        return events

    def _ineffective(self, record: ActionRecord, now: float, why: str) -> Event:
        self.audit.update(record.id, now, outcome=Outcome.INEFFECTIVE, reason=f"ineffective: {why}")
        return self._event(record, now, "ineffective", why, text=f"Ineffective: {why}.")

    def _on_resolved(self, alert: Alert, policy: Policy, now: float) -> list[Event]:
        if alert.fired_at is not None and alert.resolved_at is not None:  # for the incident chain
            self.audit.add_episode(alert.fingerprint, alert.fired_at, alert.resolved_at)
        events = []
        mine = "alert = ? AND policy = ? AND dry_run = 0"
        for record in self.audit.actions(
            where=f"{mine} AND outcome = ?",
            params=(alert.fingerprint, policy.name, str(Outcome.PENDING_APPROVAL)),
        ):
            self.audit.update(
                record.id, now, outcome=Outcome.EXPIRED, reason="alert resolved before approval"
            )
            events.append(self._event(record, now, "expired", "alert resolved before approval",
                                      text="The alert resolved before approval; the proposal is void."))  # fmt: skip
        if not policy.limits.revert_on_resolve:
            return events
        flags = ",".join("?" * len(_REVERTIBLE))
        for record in self.audit.actions(
            where=f"{mine} AND outcome IN ({flags}) AND reverted_at IS NULL AND change IS NOT NULL",
            params=(alert.fingerprint, policy.name, *map(str, _REVERTIBLE)),
        ):
            events += self._revert(alert, record, now)
        return events

    def _revert(self, alert: Alert, record: ActionRecord, now: float) -> list[Event]:
        assert record.change is not None
        if self.paused:
            return self._note(alert, record.policy, record.target, now, "skipped", "kill_switch",
                              "revert held: remediation is paused (kill switch)")  # fmt: skip
        if not self._may_write():
            return self._held(record, alert, record.policy, record.target, now, "revert")
        try:
            reverted, message = self.actuator.revert(record.change, now)
        except ActionError as exc:
            return self._note(
                alert, record.policy, record.target, now, "failed", "revert", f"revert failed: {exc}"
            )
        self.audit.update(record.id, now, reverted_at=now, reason=f"{record.reason}; {message}")
        if isinstance(self.leader, SharedHistory):
            try:
                self.leader.share_open(_key(record), None, now)
            except ActionError as exc:
                log.warning(
                    "could not withdraw the reverted action on %s from the Lease: %s", record.target, exc
                )
        decision = "reverted" if reverted else "revert-skipped"
        return [self._event(record, now, decision, message, text=f"Alert resolved: {message}.")]

    # ---- records -----------------------------------------------------------------------------

    def _pending(self, action_id: int) -> ActionRecord:
        record = self.audit.get(action_id)
        if record is None:
            raise ActionError(f"no remediation action {action_id}", retryable=False, reason="not-found")
        if record.outcome is not Outcome.PENDING_APPROVAL:
            raise ActionError(f"action {action_id} is {record.outcome}, not awaiting approval", retryable=False,
                              reason="not-pending")  # fmt: skip
        return record

    def _expire(self, now: float) -> list[Event]:
        events = []
        for record in self.audit.actions(
            where="outcome = ? AND expires_at <= ?", params=(str(Outcome.PENDING_APPROVAL), now)
        ):
            if not self._acts_for(record, now) or not self.audit.update(
                record.id,
                now,
                expect=Outcome.PENDING_APPROVAL,
                outcome=Outcome.EXPIRED,
                reason="approval expired",
            ):
                continue  # another replica's, or decided meanwhile
            events.append(self._event(record, now, "expired", "approval expired",
                                      text="Approval expired; nothing was done."))  # fmt: skip
        return events

    def _add(self, record: ActionRecord) -> ActionRecord:
        return replace(record, id=self.audit.add_action(record))

    def _acts_for(self, record: ActionRecord, now: float) -> bool:
        """Whether this replica acts on an action found in the shared audit log: its alert's owner does."""
        return self.owns is None or self.owns(record.rule, record.alert, now)

    def _event(self, record: ActionRecord, now: float, decision: str, reason: str, *, gate: str = "",
               text: str = "", buttons: bool = False) -> Event:  # fmt: skip
        message = (
            Message(record.alert, record.rule, text, record.id, buttons) if text and record.alert else None
        )
        event = Event(now, decision, record.policy, record.target, record.alert, record.rule, reason, gate,
                      record.id, message)  # fmt: skip
        return self._emit(event)

    def _note(self, alert: Alert, policy: str, target: str, now: float, decision: str, gate: str,
              reason: str) -> list[Event]:  # fmt: skip
        """A decision without an action row, recorded only when it differs from the last one.

        Pacing right after this alert's own action or proposal (cooldown, rate limit, one in
        flight) is expected: it is audited and logged but not posted to the alert's thread.
        """
        last = self.audit.last_event(alert.fingerprint, policy)
        if last == (decision, gate):
            return []
        label = "Remediation skipped" if decision == "skipped" else "Remediation failed"
        pacing = gate in PACING_GATES and last is not None and last[0] not in ("skipped", "failed")
        message = None if pacing else Message(alert.fingerprint, alert.rule, f"{label} ({policy}): {reason}.")
        return [self._emit(Event(now, decision, policy, target, alert.fingerprint, alert.rule, reason, gate,
                                 None, message))]  # fmt: skip

    def _emit(self, event: Event) -> Event:
        self.audit.add_event(event.at, event.action_id, event.policy, event.target, event.alert, event.rule,
                             event.decision, event.gate, event.reason)  # fmt: skip
        level = logging.WARNING if event.decision in ("failed", "ineffective") else logging.INFO
        log.log(level, "remediation %s: %s", event.decision, event.reason,
                extra={"remediation": {k: v for k, v in vars(event).items() if k != "message"}})  # fmt: skip
        return event


PACING_GATES = frozenset({"one_in_flight", "cooldown", "rate_limit"})
"""Gates that only space out actions; see ``Runner._note``."""


def _decided_meanwhile(action_id: int) -> ActionError:
    """Another press (on this replica or another) decided the approval between the read and the write."""
    return ActionError(f"action {action_id} was decided meanwhile", retryable=False, reason="not-pending")


def _key(record: ActionRecord) -> str:
    """Names an action across replicas: one action per target at a time, so target and time do."""
    return f"{record.target}@{record.created_at!r}"


def _bounds(spec: ActionSpec, change: Change) -> Decision:
    if isinstance(spec, ScaleSpec) and change.via == "deployment/scale":
        return gates.bounds(int(change.previous), int(change.desired), spec.min_replicas, spec.max_replicas)
    if not change.changes_anything:
        return Decision(False, f"nothing to change: {change.summary} is already in place")
    return Decision(True, change.summary)
