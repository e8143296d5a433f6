"""The notification pipeline: route → group → mute → dedup → outbox → send → log.

The engine hands every tick's firing and resolved alerts to ``ingest(alerts, now)``; the
scheduler calls ``flush(now)`` every few seconds. ``flush`` first decides, for each group whose
``group_wait``/``group_interval`` has elapsed, whether and why to notify (mute and dedup are
pure), renders the payload and enqueues it in the same transaction that records the decision,
then sends what the outbox holds. All state (groups, their alerts, the notification log, the
outbox, conversation threads) lives in the store, so a restart or a receiver outage loses
nothing and repeats nothing. Nothing here reads the clock.

Several replicas share the store (PostgreSQL). Each ingests the alerts of the rule groups it
evaluates into the shared groups, but only one decides and sends each notification group: the
one ``owns(group key, now)`` names (``service.app`` passes rendezvous hashing over the live
members, ``cluster.sharding``). Deciding and recording are two transactions (rendering, which
may draw a chart, runs between them), so the record is conditional: a group is recorded only if
its next flush is still the one the decision saw, and a group someone else recorded meanwhile
(two owners for a moment during a membership change) is left to be decided again at the next
flush. The sender claims every entry before sending it (``Outbox.claim``).
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerter.core import codec
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify import dedup, groups, sender
from alerter.notify.base import Notification, Notifier, NotifyReason, Payload, PayloadKind
from alerter.notify.mute import Muter, Silences, Window
from alerter.notify.outbox import Outbox, RetryPolicy
from alerter.notify.route import Route
from alerter.store.db import Transaction
from alerter.store.sqlite import Store

log = logging.getLogger(__name__)


@dataclass
class FlushReport:
    """What one flush did, for metrics and logs."""

    notified: int = 0
    muted: int = 0
    sent: int = 0
    recovered: int = 0
    retrying: int = 0
    failed: int = 0
    refused: int = 0
    """Alerts a receiver refused inside entries it took (Alertmanager's 400 for invalid alerts)."""
    reasons: list[NotifyReason] = field(default_factory=list)


@dataclass(frozen=True)
class _Decision:
    key: str
    receiver: str
    notification: Notification | None
    seen_resolved: tuple[tuple[str, str], ...]
    next_flush: float
    muted: int
    due_at: float
    """The group's next flush as the decision read it: recorded only if it is still that."""


@dataclass(frozen=True)
class _Burst:
    """One entry standing for many groups: a digest opening them (``thread`` None), or one update
    of a digest that is out, which goes into ``thread`` (the digest's) and edits the digest."""

    receiver: str
    key: str
    payload: Payload
    members: tuple[str, ...]
    reason: str = "burst"
    thread: str | None = None


class Pipeline:
    """Owns the notification state in ``store``; one per process."""

    def __init__(
        self,
        store: Store,
        root: Route,
        notifiers: Mapping[str, Notifier],
        *,
        silences: Silences | None = None,
        windows: Sequence[Window] = (),
        retry: RetryPolicy | None = None,
        log_retention: float = 7 * 86400.0,
        replica: str = "",
        owns: Callable[[str, float], bool] | None = None,
    ) -> None:
        """``log_retention``: seconds the notification log keeps finished entries (the API shows them).

        ``owns(group key, now)``: whether this replica decides and sends that notification group
        (None: every group, one replica alone); ``replica`` names it in its outbox claims."""
        missing = sorted(root.receivers() - set(notifiers))
        if missing:
            raise ValueError(f"route refers to receivers without a notifier: {', '.join(missing)}")
        self.store = store
        self.root = root
        self.notifiers = dict(notifiers)
        self.outbox = Outbox(store)
        self.silences = silences if silences is not None else Silences(store)
        self.windows = tuple(windows)
        self.log_retention = log_retention
        self.owns = owns
        self.sender = sender.Sender(
            self.outbox, self.notifiers, retry or RetryPolicy(), replica=replica, owns=owns
        )
        self._routes = {r.path: r for r in _walk(root)}
        self._flush_lock = threading.Lock()

    def ingest(self, alerts: Iterable[Alert], now: float) -> int:
        """Put firing and resolved alerts into their groups; returns how many group entries were written.

        A new group is first flushed ``group_wait`` after its first alert. A resolved alert only
        updates the groups that hold it, whatever the routes say now (after a reload an alert
        may sit in a group its route no longer leads to, and must still resolve there); a
        receiver never hears of alerts it was not told about. Other states (pending, nodata,
        error) leave groups unchanged: an outage of the metrics source must not look like
        recovery.
        """
        written = 0
        with self.store.transaction() as db:
            for alert in alerts:
                text = encode_alert(alert)
                if alert.state is AlertState.RESOLVED:
                    written += groups.resolve(db, alert.fingerprint, text)
                elif alert.state is AlertState.FIRING:
                    written += self._place(db, alert, text, now)
        return written

    def _place(self, db: Transaction, alert: Alert, text: str, now: float) -> int:
        labels = _alert_labels(alert)
        routes = self.root.match(labels)
        for route in routes:
            key = route.group_key(labels)
            scope = route.group_labels(labels)
            groups.place(
                db,
                key,
                route.receiver,
                route.path,
                scope,
                alert.fingerprint,
                text,
                now,
                now + route.group_wait,
            )
        return len(routes)

    def flush(self, now: float) -> FlushReport:
        """Notify the groups that are due, then send what the outbox holds.

        Flushes do not overlap (a second caller waits); ``ingest`` and ``note`` may run while a
        flush renders (charts may query the source): a decision records only the state it saw,
        so alerts that arrive meanwhile are judged at the group's next flush.
        """
        report = FlushReport()
        with self._flush_lock:
            decisions = self._decide(now)
            payloads, bursts = self._render(decisions, now)
            decisions = self._record(decisions, payloads, bursts, now)
        for decision in decisions:
            report.muted += decision.muted
            note = decision.notification
            if note is not None:
                report.notified += 1
                report.reasons.append(note.reason)
                log.info(
                    "notify %s: %s (%d firing, %d resolved)",
                    decision.key,
                    note.reason.value,
                    len(note.firing),
                    len(note.resolved),
                )
        sent = self.sender.send(now)
        self.outbox.prune(now, self.log_retention)
        report.sent, report.recovered = sent.sent, sent.recovered
        report.retrying, report.failed, report.refused = sent.retrying, sent.failed, sent.refused
        return report

    def _render(self, decisions: list[_Decision], now: float) -> tuple[dict[str, Payload], list[_Burst]]:
        """Payloads per group, except that a burst of new groups for one receiver (more than its
        ``burst_limit`` opening at once) becomes a single digest, so an incident that touches many
        groups arrives as one message instead of running into the receiver's rate limit."""
        opening: dict[str, list[Notification]] = {}
        for d in decisions:
            if d.notification is not None and d.notification.kind is PayloadKind.OPEN:
                opening.setdefault(d.receiver, []).append(d.notification)
        bursts: list[_Burst] = []
        collapsed: set[str] = set()
        for receiver, notes in opening.items():
            limit = self.notifiers[receiver].burst_limit
            if limit is None or len(notes) <= limit:
                continue
            alerts = tuple(a for n in notes for a in n.alerts)
            digest = Notification(receiver, f"{receiver}/burst", Labels(), alerts, NotifyReason.FIRST, now)
            payload = _render_one(self.notifiers[receiver], digest)
            members = tuple(n.group_key for n in notes)
            bursts.append(_Burst(receiver, f"{receiver}/burst/{now:.3f}", payload, members))
            collapsed.update(n.group_key for n in notes)
        for update in self._digest_updates(decisions, now):
            bursts.append(update)
            collapsed.update(update.members)
        payloads = {
            d.key: _render_one(self.notifiers[d.receiver], d.notification)
            for d in decisions
            if d.notification is not None and d.key not in collapsed
        }
        return payloads, bursts

    def _digest_updates(self, decisions: list[_Decision], now: float) -> list[_Burst]:
        """Many groups of one digest changing at once (a burst resolving together) become one
        entry: one reply in the digest's thread and one edit of the digest, as for one group.

        Symmetric to opening: more than ``burst_limit`` of them collapse. One reply per group
        would run far past Slack's rate, which "generally allows posting one message per second
        per channel" with chat.postMessage (https://api.slack.com/apis/rate-limits). A group with
        entries still undelivered sends its own, so its thread keeps its order.
        """
        shared: dict[tuple[str, str], list[Notification]] = {}
        for d in decisions:
            note = d.notification
            if (
                note is None
                or note.kind is PayloadKind.OPEN
                or self.notifiers[d.receiver].burst_limit is None
            ):
                continue
            thread, is_shared = self.outbox.thread(d.receiver, d.key)
            if thread is not None and is_shared:
                shared.setdefault((d.receiver, thread), []).append(note)
        limits = {r: self.notifiers[r].burst_limit or 0 for r, _ in shared}
        shared = {k: notes for k, notes in shared.items() if len(notes) > limits[k[0]]}
        waiting = {(e.receiver, e.group_key) for e in self.outbox.open_entries()} if shared else set()
        updates = []
        for (receiver, thread), notes in shared.items():
            members = tuple(n.group_key for n in notes if (receiver, n.group_key) not in waiting)
            if not members:
                continue
            told = self._told_firing(receiver, thread, {n.group_key for n in notes})
            alerts = {a.fingerprint: a for a in [*told, *(a for n in notes for a in n.alerts)]}
            ordered = tuple(alerts[f] for f in sorted(alerts))
            digest = Notification(
                receiver, f"{receiver}/burst", Labels(), ordered, _digest_reason(notes), now
            )
            payload = _render_one(self.notifiers[receiver], digest)
            key = f"{receiver}/digest/{thread}"
            updates.append(_Burst(receiver, key, payload, members, digest.reason.value, thread))
        return updates

    def _told_firing(self, receiver: str, thread: str, present: set[str]) -> list[Alert]:
        """What the digest's other groups (not notified in this flush) last said was firing."""
        out: list[Alert] = []
        with self.store.transaction() as db:
            for key in self.outbox.sharing(receiver, thread):
                last = groups.last_notification(db, key) if key not in present else None
                if last is not None:
                    alerts = [decode_alert(t) for t in groups.alerts(db, key)]
                    out += [a for a in alerts if a.fingerprint in last.firing]
        return out

    def _decide(self, now: float) -> list[_Decision]:
        muter = Muter(self.silences.active(now), self.windows, now)
        out = []
        with self.store.transaction() as db:
            for group in groups.due(db, now):
                if self.owns is not None and not self.owns(group.key, now):
                    continue
                texts = groups.alerts(db, group.key)
                last = groups.last_notification(db, group.key)
                out.append(self._decide_group(group, texts, last, muter, now))
        return out

    def _decide_group(
        self, group: groups.Group, texts: list[str], last: dedup.LogEntry | None, muter: Muter, now: float
    ) -> _Decision:
        key, receiver = group.key, group.receiver
        route = self._routes.get(group.route, self.root)
        alerts = [decode_alert(t) for t in texts]
        # A muted alert the receiver already heard of stays in view: muting it must not read as
        # "resolved", and its real resolution is still announced.
        known = last.firing if last is not None else frozenset()
        unmuted = [a for a in alerts if a.fingerprint in known or muter.reason(_alert_labels(a)) is None]
        firing = frozenset(a.fingerprint for a in unmuted if a.state is AlertState.FIRING)
        resolved = frozenset(a.fingerprint for a in unmuted if a.state is AlertState.RESOLVED)
        notifier = self.notifiers.get(receiver)
        resend = notifier.resend_interval if notifier is not None else None
        repeat = min(route.repeat_interval, resend if resend is not None else math.inf)
        reason = dedup.reason(last, firing, resolved, now, repeat) if notifier is not None else None
        notification = None
        if reason is not None:
            shown = tuple(a for a in unmuted if a.fingerprint in firing | resolved)
            notification = Notification(receiver, key, Labels(group.labels), shown, reason, now)
        seen = tuple(
            (a.fingerprint, t) for a, t in zip(alerts, texts, strict=True) if a.state is AlertState.RESOLVED
        )
        return _Decision(
            key,
            receiver,
            notification,
            seen,
            now + min(route.group_interval, repeat),
            len(alerts) - len(unmuted),
            group.next_flush,
        )

    def _record(
        self, decisions: list[_Decision], payloads: Mapping[str, Payload], bursts: list[_Burst], now: float
    ) -> list[_Decision]:
        """Enqueue and log the decisions in one transaction; returns those recorded."""
        with self.store.transaction() as db:
            moved = {d.key for d in decisions if not groups.still_due(db, d.key, d.due_at)}
            if moved:
                # Another replica recorded these groups since this flush decided them: their
                # decisions are stale, and a digest standing for any of them goes with them. The
                # groups this skips stay due and are decided afresh at the next flush.
                bursts = [b for b in bursts if moved.isdisjoint(b.members)]
                kept = {m for b in bursts for m in b.members} | set(payloads)
                decisions = [
                    d for d in decisions if d.key not in moved and (d.notification is None or d.key in kept)
                ]
                log.info("notification groups decided elsewhere meanwhile", extra={"groups": sorted(moved)})
            for burst in bursts:
                self.outbox.enqueue(db, burst.receiver, burst.key, burst.reason, burst.payload, now)
                if burst.thread is None:
                    self.outbox.add_burst_members(db, burst.receiver, burst.key, list(burst.members))
                else:
                    self._hand_over_thread(burst, decisions)
            for d in decisions:
                note = d.notification
                if note is not None and d.key in payloads:
                    self.outbox.enqueue(db, d.receiver, d.key, note.reason.value, payloads[d.key], now)
                if note is not None:
                    firing = [a.fingerprint for a in note.firing]
                    resolved = [a.fingerprint for a in note.resolved]
                    groups.record_notification(db, d.key, firing, resolved, now)
                    self._release_notes(db, d.key, d.receiver, now)
                for fingerprint, text in d.seen_resolved:
                    groups.forget_resolved(db, d.key, fingerprint, text)
                groups.close_if_empty(db, d.key, d.next_flush)
        return decisions

    def _hand_over_thread(self, update: _Burst, decisions: list[_Decision]) -> None:
        """The update edits the digest (its thread is not shared); the groups it closes forget the
        digest's thread as their own close would have, unless a note for them is still waiting."""
        self.outbox.set_thread(update.receiver, update.key, update.thread)
        waiting = {(e.receiver, e.group_key) for e in self.outbox.open_entries()}
        closed = {d.key for d in decisions if d.notification and d.notification.kind is PayloadKind.CLOSE}
        for key in update.members:
            if key in closed and (update.receiver, key) not in waiting:
                self.outbox.set_thread(update.receiver, key, None)

    def note(self, fingerprint: str, body: Mapping[str, Any], now: float) -> int:
        """Post ``body`` under the messages of every open group holding the alert; returns how many.

        For remediation decisions and approval requests: they join the alert's Slack thread
        through the outbox, so they survive restarts. A group not notified yet keeps the note
        until its first message is enqueued, so the note never arrives before the alert.
        Receivers without threads, and alerts whose groups are closed, get nothing.
        """
        count = 0
        with self.store.transaction() as db:
            for holder in groups.holders(db, fingerprint):
                notifier = self.notifiers.get(holder.receiver)
                if notifier is None or not notifier.threads:
                    continue
                if holder.notified:
                    reply = Payload(PayloadKind.REPLY, dict(body))
                    self.outbox.enqueue(db, holder.receiver, holder.key, "note", reply, now)
                else:
                    groups.keep_note(db, holder.key, body, now)
                count += 1
        return count

    def _release_notes(self, db: Transaction, key: str, receiver: str, now: float) -> None:
        for body in groups.take_notes(db, key):
            self.outbox.enqueue(db, receiver, key, "note", Payload(PayloadKind.REPLY, body), now)

    def pending_groups(self) -> list[tuple[str, float]]:
        """(group key, next flush) of every group, for status pages."""
        with self.store.transaction() as db:
            return groups.schedule(db)


def _render_one(notifier: Notifier, notification: Notification) -> Payload:
    """Render, falling back to plain text: a rendering bug must not hold back every notification."""
    try:
        return notifier.render(notification)
    except Exception:
        log.exception("rendering for %s failed; sending plain text", notification.receiver)
        firing, resolved = len(notification.firing), len(notification.resolved)
        scope = ", ".join(f"{k}={v}" for k, v in notification.group_labels.items())
        text = f"[{'FIRING:' + str(firing) if firing else 'RESOLVED'}] {scope} ({resolved} resolved)"
        return Payload(notification.kind, {"text": text})


def _digest_reason(notes: Sequence[Notification]) -> NotifyReason:
    """The reason shown for many groups' updates at once: news first, then resolutions."""
    reasons = {n.reason for n in notes}
    for reason in (NotifyReason.NEW_ALERTS, NotifyReason.RESOLVED, NotifyReason.REPEAT):
        if reason in reasons:
            return reason
    return NotifyReason.RESOLVED


def _walk(route: Route) -> Iterable[Route]:
    yield route
    for child in route.routes:
        yield from _walk(child)


def _alert_labels(alert: Alert) -> Labels:
    """Labels routes and silences see: the series labels plus ``alertname``."""
    return alert.labels if "alertname" in alert.labels else alert.labels.with_(alertname=alert.rule)


def encode_alert(alert: Alert) -> str:
    """JSON of an alert for the group tables (NaN survives as Python's JSON extension).

    Flap history (``codec.FLAP_HISTORY``) stays with the engine: receivers never see it, so the
    group tables hold the same keys they always have and rows written earlier read the same.
    """
    return json.dumps(codec.to_plain(alert, codec.NOTIFIED), sort_keys=True)


def decode_alert(text: str) -> Alert:
    return codec.from_plain(json.loads(text))
