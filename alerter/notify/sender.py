"""Sending the outbox: per-group order, retry with backoff, crash recovery, one log line per change.

Called by ``Pipeline.flush`` after new entries were enqueued. Each group's entries go out in
order and a retryable failure holds back the rest of that group; it also pauses the whole
receiver until the retry time, so an outage costs one failed request per flush, not one per
group. Any success of a receiver (a delivery, or ``recover`` finding an entry) releases its
other groups at once: their backoff starts afresh and they go out in the same send, instead of
waiting out a retry time of up to ``RetryPolicy.maximum`` after the outage is over. An entry found ``inflight`` was interrupted (a crash, a timeout): the receiver's
``recover`` says whether it arrived (then it is not sent again). Errors are logged when they change, not on
every attempt. A receiver that took a payload but refused part of it raises ``PartialDelivery``:
the entry counts as sent, the refusal is logged and kept as the entry's last error.

With several replicas sharing the outbox, each sends only the groups it owns (``owns``) and
claims every entry before touching it (``Outbox.claim``): a claim that fails (another replica
has the entry, or sent it since this pass read it) holds back the rest of that group, so a
group's entries still go out one after another, in order, whichever replica sends them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from alerter.core.errors import NotifyError
from alerter.notify.base import Notifier, PayloadKind
from alerter.notify.outbox import (
    CLAIM_SECONDS,
    FAILED,
    INFLIGHT,
    PENDING,
    SENT,
    SUPERSEDED,
    Entry,
    Outbox,
    RetryPolicy,
)

log = logging.getLogger(__name__)


class PartialDelivery(NotifyError):
    """The receiver took the payload but refused ``refused`` of its alerts, named in the message.

    Not retryable: the refused part would be refused again, and the accepted part arrived, so
    the entry is recorded as sent (with this message as its last error), not as failed.
    """

    def __init__(self, message: str, *, refused: int, thread: str | None) -> None:
        super().__init__(message, retryable=False)
        self.refused = refused
        self.thread = thread


@dataclass
class SendReport:
    """What one send did; ``refused`` counts alerts a receiver refused inside delivered entries."""

    sent: int = 0
    recovered: int = 0
    retrying: int = 0
    failed: int = 0
    refused: int = 0


class Sender:
    """Delivers outbox entries through their receivers."""

    def __init__(
        self,
        outbox: Outbox,
        notifiers: Mapping[str, Notifier],
        retry: RetryPolicy,
        *,
        replica: str = "",
        owns: Callable[[str, float], bool] | None = None,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        """``replica`` names this process in its claims; ``owns(group key, now)`` says which
        groups' entries it sends (None: all, one replica alone)."""
        self.outbox = outbox
        self.notifiers = notifiers
        self.retry = retry
        self.replica = replica
        self.owns = owns
        self.claim_seconds = claim_seconds
        self._paused: dict[str, float] = {}
        self._released: set[str] = set()
        """Receivers that took something during the current send, whose entries were released."""
        self._sending = threading.Lock()

    def send(self, now: float) -> SendReport:
        """Send what is due; a call while another is sending returns at once (no double sends)."""
        if not self._sending.acquire(blocking=False):
            return SendReport()
        try:
            return self._send(now)
        finally:
            self._sending.release()

    def _send(self, now: float) -> SendReport:
        """One pass over every group; then, for receivers that worked again during it, a second
        pass over their groups, read afresh, so the groups they released go out at once."""
        report = SendReport()
        self._released = set()
        self._pass(now, report, None)
        if self._released:
            self._pass(now, report, frozenset(self._released))
        return report

    def _pass(self, now: float, report: SendReport, only: frozenset[str] | None) -> None:
        groups: dict[tuple[str, str], list[Entry]] = {}
        for entry in self.outbox.open_entries():
            if self.owns is not None and not self.owns(entry.group_key, now):
                continue
            if only is None or entry.receiver in only:
                groups.setdefault((entry.receiver, entry.group_key), []).append(entry)
        for (receiver, _), entries in groups.items():
            notifier = self.notifiers.get(receiver)
            if notifier is None:
                for entry in entries:
                    self.outbox.mark(
                        entry.id, FAILED, now=now, error=f"receiver {receiver} is not configured"
                    )
                    report.failed += 1
                continue
            if self._paused.get(receiver, -1.0) > now:
                continue
            if only is None and receiver in self._released:
                continue  # read before the release: the second pass sends it with its fresh state
            if notifier.coalesce:
                entries = self._coalesce(entries, now)
            self._send_group(notifier, entries, now, report)

    def _coalesce(self, entries: list[Entry], now: float) -> list[Entry]:
        """Keep in-flight entries and the newest pending one: each carries the group's whole state."""
        pending = [e for e in entries if e.state == PENDING]
        for entry in pending[:-1]:
            self.outbox.mark(entry.id, SUPERSEDED, now=now, error="superseded by a newer state of the group")
        return [e for e in entries if e.state == INFLIGHT] + pending[-1:]

    def _send_group(self, notifier: Notifier, entries: list[Entry], now: float, report: SendReport) -> None:
        for entry in entries:
            if entry.next_attempt > now:
                return
            if not self.outbox.claim(entry, replica=self.replica, now=now, until=now + self.claim_seconds):
                return  # another replica has it, or moved it on since this pass read it
            if now - entry.created > self.retry.give_up_after:
                error = f"gave up after {now - entry.created:.0f}s: {entry.last_error or 'never delivered'}"
                log.error("notification to %s dropped: %s", entry.receiver, error)
                self.outbox.mark(entry.id, FAILED, now=now, error=error)
                report.failed += 1
                continue
            if not self._send_one(notifier, entry, now, report):
                return

    def _send_one(self, notifier: Notifier, entry: Entry, now: float, report: SendReport) -> bool:
        """Send (or recover) one entry; False when the group must wait for a retry."""
        thread, shared = self.outbox.thread(entry.receiver, entry.group_key)
        payload = replace(entry.payload, edit=None) if shared else entry.payload
        try:
            if entry.state == INFLIGHT:
                found, recovered_thread = notifier.recover(payload, entry.key, thread)
                if found:
                    self._done(entry, recovered_thread, now)
                    report.recovered += 1
                    self._works(entry.receiver, now)
                    return True
            new_thread = notifier.deliver(payload, entry.key, thread, now)
        except PartialDelivery as part:
            log.error("notification to %s delivered in part: %s", entry.receiver, part)
            self._done(entry, part.thread, now, error=str(part))
            report.sent += 1
            report.refused += part.refused
            self._works(entry.receiver, now)
            return True
        except NotifyError as err:
            return self._failed(entry, err, now, report)
        except Exception as err:  # a receiver bug must not stop other groups; the entry is retried
            log.exception("receiver %s raised unexpectedly", entry.receiver)
            return self._failed(
                entry, NotifyError(f"unexpected {type(err).__name__}: {err}", retryable=True), now, report
            )
        self._done(entry, new_thread, now)
        report.sent += 1
        self._works(entry.receiver, now)
        return True

    def _works(self, receiver: str, now: float) -> None:
        """The receiver took something (or ``recover`` found it had): it is healthy, so groups
        still backing off from an outage need not wait for their retry time (up to
        ``RetryPolicy.maximum``). Their backoff starts afresh and they are due now."""
        self._paused.pop(receiver, None)
        if receiver in self._released:
            return
        self._released.add(receiver)
        waiting = self.outbox.release(receiver, now)
        if waiting:
            log.info("receiver %s works again: %d waiting notification(s) are due now", receiver, waiting)

    def _done(self, entry: Entry, thread: str | None, now: float, error: str = "") -> None:
        """Record delivery and the conversation reference in one commit."""
        with self.outbox.store.transaction():
            self.outbox.mark(entry.id, SENT, now=now, error=error)
            if entry.reason == "burst":
                if thread is not None:
                    self.outbox.share_burst_thread(entry.receiver, entry.group_key, thread)
            elif entry.payload.kind is PayloadKind.CLOSE:
                self.outbox.set_thread(entry.receiver, entry.group_key, None)
            elif thread is not None:
                self.outbox.set_thread(entry.receiver, entry.group_key, thread)
        if entry.attempts:
            log.info(
                "notification to %s delivered after %d failed attempt(s)", entry.receiver, entry.attempts
            )

    def _failed(self, entry: Entry, err: NotifyError, now: float, report: SendReport) -> bool:
        message = str(err)
        if not err.retryable:
            log.error("notification to %s failed permanently: %s", entry.receiver, message)
            self.outbox.mark(entry.id, FAILED, now=now, error=message)
            report.failed += 1
            return True
        delay = self.retry.delay(entry.backoff + 1, err.retry_after)
        if message != entry.last_error:
            log.warning("notification to %s failed, retrying in %.0fs: %s", entry.receiver, delay, message)
        self.outbox.retry(entry.id, error=message, next_attempt=now + delay)
        self._paused[entry.receiver] = now + delay
        report.retrying += 1
        return False
