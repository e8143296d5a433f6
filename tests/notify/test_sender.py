"""Outbox sending rules with a recording receiver handed in through the Notifier protocol."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from harness.postgres import StoreFactory

from alerter.cluster import ownership
from alerter.config.engine import Route as RouteConfig
from alerter.core.errors import NotifyError
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify import route as routing
from alerter.notify.base import Notification, NotifyReason, Payload, PayloadKind
from alerter.notify.outbox import CLAIM_SECONDS, Outbox, RetryPolicy
from alerter.notify.pipeline import FlushReport, Pipeline
from alerter.notify.sender import PartialDelivery
from alerter.store.sqlite import Store

AlertFactory = Callable[..., Alert]
T0 = 1_767_225_600.0


@dataclass
class Recorder:
    """A receiver that records payloads and fails while ``failures`` has entries (None: succeed)."""

    name: str = "rec"
    resend_interval: float | None = None
    coalesce: bool = False
    threads: bool = True
    burst_limit: int | None = None
    failures: list[Exception | None] = field(default_factory=list)
    delivered: list[tuple[str, Payload, str | None]] = field(default_factory=list)
    attempts: int = 0

    def render(self, notification: Notification) -> Payload:
        kinds = {a.labels.get("pod", ""): a.state.value for a in notification.alerts}
        return Payload(notification.kind, {"reason": notification.reason.value, "alerts": kinds})

    def deliver(self, payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        self.attempts += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure
        self.delivered.append((key, payload, thread))
        return thread or f"thread-{len(self.delivered)}"

    def recover(self, payload: Payload, key: str, thread: str | None) -> tuple[bool, str | None]:
        return any(k == key for k, _, _ in self.delivered), thread


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "state.db") as opened:
        yield opened


def pipeline(store: Store, recorder: Recorder, **kw: object) -> Pipeline:
    config = {"receiver": "rec", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "5m"}
    return Pipeline(store, routing.build(RouteConfig.model_validate(config)), {"rec": recorder}, **kw)  # type: ignore[arg-type]


def test_resend_interval_re_sends_firing_groups_often_enough(store: Store, make_alert: AlertFactory) -> None:
    recorder = Recorder(resend_interval=60)
    p = pipeline(store, recorder)
    p.ingest([make_alert()], T0)
    times = []
    for step in range(0, 600, 15):
        if p.flush(T0 + step).sent:
            times.append(step)
    assert times == list(range(0, 600, 60)), "every resend_interval, although group_interval is 5m"


def test_coalescing_receiver_gets_only_the_newest_state_after_an_outage(
    store: Store, make_alert: AlertFactory
) -> None:
    recorder = Recorder(coalesce=True, failures=[NotifyError("down", retryable=True)] * 6)
    p = pipeline(store, recorder, retry=RetryPolicy(initial=1, maximum=1))
    a = make_alert(pod="a")
    p.ingest([a], T0)
    p.flush(T0)
    p.ingest([make_alert(pod="b")], T0 + 1)
    p.flush(T0 + 300)
    p.ingest([Alert(**{**a.__dict__, "state": AlertState.RESOLVED, "resolved_at": T0 + 400})], T0 + 400)
    p.flush(T0 + 600)
    for step in range(601, 620):
        p.flush(T0 + step)
    sent = [payload.body["alerts"] for _, payload, _ in recorder.delivered]
    assert sent == [{"a": "firing"}, {"a": "resolved", "b": "firing"}]
    assert [e.state for e in reversed(p.outbox.history())] == ["sent", "superseded", "sent"]


def test_a_receiver_that_raises_unexpectedly_is_retried_not_fatal(
    store: Store, make_alert: AlertFactory
) -> None:
    recorder = Recorder(failures=[RuntimeError("bug")])
    p = pipeline(store, recorder)
    p.ingest([make_alert()], T0)
    assert p.flush(T0).retrying == 1
    assert p.flush(T0 + 5).sent == 1


def test_interrupted_entry_that_arrived_is_not_sent_again(store: Store, make_alert: AlertFactory) -> None:
    """A timeout after the receiver took the payload: the retry asks before sending."""
    recorder = Recorder()
    p = pipeline(store, recorder)
    p.ingest([make_alert()], T0)

    def deliver_then_time_out(payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        recorder.delivered.append((key, payload, thread))
        raise NotifyError("read timed out", retryable=True)

    recorder.deliver = deliver_then_time_out  # type: ignore[method-assign]
    assert p.flush(T0).retrying == 1
    report = p.flush(T0 + 10)
    assert (report.recovered, report.sent) == (1, 0) and len(recorder.delivered) == 1


def test_notes_follow_the_group_message_into_its_thread(store: Store, make_alert: AlertFactory) -> None:
    recorder = Recorder()
    p = pipeline(store, recorder)
    alert = make_alert()
    p.ingest([alert], T0)
    assert p.note(alert.fingerprint, {"text": "scaled vllm to 6 replicas"}, T0) == 1
    p.flush(T0)
    (_, first, _), (_, note, thread) = recorder.delivered
    assert first.kind is PayloadKind.OPEN and note.body == {"text": "scaled vllm to 6 replicas"}
    assert thread == "thread-1"
    assert p.note("unknown-fingerprint", {"text": "x"}, T0) == 0
    recorder.threads = False
    assert p.note(alert.fingerprint, {"text": "x"}, T0) == 0


def test_entries_of_a_removed_receiver_fail_with_a_reason(store: Store, make_alert: AlertFactory) -> None:
    recorder = Recorder(failures=[NotifyError("down", retryable=True)])
    p = pipeline(store, recorder)
    p.ingest([make_alert()], T0)
    p.flush(T0)
    other = Recorder(name="other")
    config = {"receiver": "other", "group_by": ["alertname"]}
    reloaded = Pipeline(store, routing.build(RouteConfig.model_validate(config)), {"other": other})
    assert reloaded.flush(T0 + 60).failed == 1
    assert "receiver rec is not configured" in reloaded.outbox.history()[0].last_error


def test_backoff_doubles_up_to_the_maximum_and_respects_retry_after() -> None:
    policy = RetryPolicy(initial=5, maximum=60)
    assert [policy.delay(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert policy.delay(1, retry_after=30) == 30 and policy.delay(4, retry_after=30) == 40


def test_first_flush_reports_its_reason(store: Store, make_alert: AlertFactory) -> None:
    p = pipeline(store, Recorder())
    p.ingest([make_alert()], T0)
    assert p.flush(T0).reasons == [NotifyReason.FIRST]


def test_a_flush_during_a_send_does_not_send_twice(store: Store, make_alert: AlertFactory) -> None:
    recorder = Recorder()
    p = pipeline(store, recorder)
    p.ingest([make_alert()], T0)
    inner: list[int] = []
    original = recorder.deliver

    def deliver_and_flush_again(payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        inner.append(p.flush(T0 + 1).sent)
        return original(payload, key, thread, now)

    recorder.deliver = deliver_and_flush_again  # type: ignore[method-assign]
    assert p.flush(T0).sent == 1
    assert inner == [0] and len(recorder.delivered) == 1


def test_log_entries_render_for_the_api_without_payload(store: Store, make_alert: AlertFactory) -> None:
    recorder = Recorder(failures=[NotifyError("slack receiver x: rate limited", retryable=True)])
    p = pipeline(store, recorder)
    p.ingest([make_alert()], T0)
    p.flush(T0)
    [entry] = p.outbox.history()
    shown = entry.as_json()
    assert shown["state"] == "retrying" and shown["attempts"] == 1 and shown["reason"] == "first"
    assert shown["lastError"] == "slack receiver x: rate limited" and "payload" not in shown


def test_the_log_keeps_finished_entries_for_the_retention_and_drops_their_images(
    store: Store, make_alert: AlertFactory
) -> None:
    recorder = Recorder()
    p = pipeline(store, recorder, log_retention=3600)
    p.ingest([make_alert()], T0)
    p.flush(T0)
    [entry] = p.outbox.history()
    assert entry.state == "sent" and entry.payload.image is None
    p.flush(T0 + 3600)
    assert len(p.outbox.history()) == 1
    p.flush(T0 + 3601)
    assert p.outbox.history() == []


def test_images_wait_in_the_outbox_until_sent(store: Store, make_alert: AlertFactory) -> None:
    recorder = Recorder(failures=[NotifyError("down", retryable=True)])
    recorder.render = lambda n: Payload(n.kind, {"text": "x"}, image=b"png")  # type: ignore[method-assign]
    p = pipeline(store, recorder)
    p.ingest([make_alert()], T0)
    p.flush(T0)
    assert p.outbox.history()[0].payload.image == b"png"
    p.flush(T0 + 10)
    assert recorder.delivered[0][1].image == b"png" and p.outbox.history()[0].payload.image is None


def test_a_rendering_bug_falls_back_to_plain_text(
    store: Store, make_alert: AlertFactory, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()

    def broken(notification: Notification) -> Payload:
        raise KeyError("oops")

    recorder.render = broken  # type: ignore[method-assign]
    p = pipeline(store, recorder)
    p.ingest([make_alert()], T0)
    assert p.flush(T0).sent == 1
    assert recorder.delivered[0][1].body == {"text": "[FIRING:1] alertname=TTFTAnomaly (0 resolved)"}
    assert "rendering for rec failed" in caplog.text


def test_a_partly_refused_delivery_counts_as_sent_and_keeps_the_refusal(
    store: Store, make_alert: AlertFactory, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(failures=[PartialDelivery("am: refused 1 of 2 alert(s): x", refused=1, thread=None)])
    p = pipeline(store, recorder)
    p.ingest([make_alert(pod="a"), make_alert(pod="b")], T0)
    report = p.flush(T0)
    assert (report.sent, report.failed, report.retrying, report.refused) == (1, 0, 0, 1)
    [entry] = p.outbox.history()
    assert entry.state == "sent" and entry.last_error == "am: refused 1 of 2 alert(s): x"
    assert "delivered in part: am: refused 1 of 2" in caplog.text
    assert p.flush(T0 + 1).sent == 0, "not sent again"


# -- recovery after an outage ----------------------------------------------------------------
DOWN = NotifyError("down", retryable=True)
OUTAGE = [T0, T0 + 5, T0 + 15, T0 + 35, T0 + 75]
"""Flush times at which the five attempts of the default backoff (5, 10, 20, 40 s) fail; the
next attempt would be at T0 + 155 (80 s later)."""


def _group_through_an_outage(store: Store, recorder: Recorder, make_alert: AlertFactory) -> Pipeline:
    """A group of two entries (the message, then a note) whose first attempts all failed."""
    p = pipeline(store, recorder)
    alert = make_alert(pod="a")
    p.ingest([alert], T0)
    p.note(alert.fingerprint, {"text": "scaled vllm"}, T0)
    for now in OUTAGE:
        assert p.flush(now).retrying == 1
    [waiting, _] = p.outbox.open_entries()
    assert (waiting.attempts, waiting.next_attempt) == (5, T0 + 155)
    return p


def test_a_delivery_to_a_receiver_releases_its_groups_still_backing_off(
    store: Store, make_alert: AlertFactory
) -> None:
    """After a restart or a reload (a sender that has not seen the outage) another group goes out
    first; the receiver works, so the backed-off group goes out in the same flush, in order."""
    recorder = Recorder(failures=[DOWN] * 5)
    _group_through_an_outage(store, recorder, make_alert)
    restarted = pipeline(store, recorder)
    restarted.ingest([make_alert("QueueDepthAnomaly", pod="b")], T0 + 80)
    report = restarted.flush(T0 + 80)
    assert (report.sent, report.retrying) == (3, 0)
    assert [(p.kind, p.body) for _, p, _ in recorder.delivered] == [
        (PayloadKind.OPEN, {"reason": "first", "alerts": {"b": "firing"}}),
        (PayloadKind.OPEN, {"reason": "first", "alerts": {"a": "firing"}}),
        (PayloadKind.REPLY, {"text": "scaled vllm"}),
    ]
    for now in (T0 + 155, T0 + 200, T0 + 400):
        restarted.flush(now)
    assert len(recorder.delivered) == 3 and recorder.attempts == 8, "each delivered exactly once"


def test_a_released_group_backs_off_afresh_if_it_fails_again(store: Store, make_alert: AlertFactory) -> None:
    recorder = Recorder(failures=[DOWN] * 5 + [None, DOWN])
    _group_through_an_outage(store, recorder, make_alert)
    restarted = pipeline(store, recorder)
    restarted.ingest([make_alert("QueueDepthAnomaly", pod="b")], T0 + 80)
    report = restarted.flush(T0 + 80)
    assert (report.sent, report.retrying) == (1, 1)
    waiting = restarted.outbox.open_entries()[0]
    assert (waiting.attempts, waiting.backoff, waiting.next_attempt) == (6, 1, T0 + 85), "5 s, not 160 s"


def test_a_recovered_send_also_releases_the_receivers_waiting_groups(
    store: Store, make_alert: AlertFactory
) -> None:
    """``recover`` finding an interrupted send shows the receiver works, as a delivery does."""
    recorder = Recorder(failures=[DOWN] * 5)
    _group_through_an_outage(store, recorder, make_alert)
    restarted = pipeline(store, recorder)
    original = recorder.deliver

    def arrive_then_time_out(payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        recorder.deliver = original  # type: ignore[method-assign]
        recorder.delivered.append((key, payload, thread))
        raise NotifyError("read timed out", retryable=True)

    recorder.deliver = arrive_then_time_out  # type: ignore[method-assign]
    restarted.ingest([make_alert("QueueDepthAnomaly", pod="b")], T0 + 80)
    assert restarted.flush(T0 + 80).retrying == 1
    report = restarted.flush(T0 + 85)
    assert (report.recovered, report.sent) == (1, 2)
    assert [p.body.get("alerts", p.body) for _, p, _ in recorder.delivered] == [
        {"b": "firing"},
        {"a": "firing"},
        {"text": "scaled vllm"},
    ]


def test_without_a_success_a_backed_off_group_waits_for_its_retry(
    store: Store, make_alert: AlertFactory
) -> None:
    recorder = Recorder(failures=[DOWN] * 5)
    p = _group_through_an_outage(store, recorder, make_alert)
    assert p.flush(T0 + 154).sent == 0
    assert p.flush(T0 + 155).sent == 2


# -- several replicas sharing one store: each notification group decided and sent by one -------


class Died(BaseException):
    """The replica's process ends here (kill -9): nothing after the call runs, nothing is caught."""


def owner_is(me: str, members: Sequence[str]) -> Callable[[str, float], bool]:
    """What ``cluster.sharding.Sharding.owns_key`` answers, for fixed live members."""
    return lambda key, now: ownership.owner(key, members) == me


def delivered_keys(recorder: Recorder, store: Store) -> Counter[tuple[str, str]]:
    """(group key, payload kind) of everything the receiver took, counted."""
    group_of = {e.key: e.group_key for e in Outbox(store).history(limit=1000)}
    return Counter((group_of[key], payload.kind.value) for key, payload, _ in recorder.delivered)


def test_two_replicas_announce_and_resolve_every_group_once_each_sending_its_own(
    open_store: StoreFactory, make_alert: AlertFactory
) -> None:
    slack = Recorder()  # one receiver both replicas talk to
    members = ("alerter-a", "alerter-b")
    stores = {m: open_store() for m in members}
    replicas = {m: pipeline(stores[m], slack, replica=m, owns=owner_is(m, members)) for m in members}
    alerts = [make_alert(f"Rule{i}") for i in range(8)]
    keys = {a.rule: f"rec/0/{Labels({'alertname': a.rule}).fingerprint}" for a in alerts}
    mine = {m: {k for k in keys.values() if ownership.owner(k, members) == m} for m in members}
    assert all(mine.values()), "both replicas own some groups"
    # Each replica ingests the alerts of the rule groups it evaluates: half each, by rule.
    for i, alert in enumerate(alerts):
        replicas[members[i % 2]].ingest([alert], T0)
    for step in (0, 5, 10):
        for p in replicas.values():
            p.flush(T0 + step)
    for i, alert in enumerate(alerts):
        replicas[members[i % 2]].ingest(
            [replace(alert, state=AlertState.RESOLVED, resolved_at=T0 + 30)], T0 + 30
        )
    for step in range(30, 330, 5):
        for p in replicas.values():
            p.flush(T0 + step)
    got = delivered_keys(slack, stores["alerter-a"])
    assert got == Counter({(k, kind): 1 for k in keys.values() for kind in ("open", "close")})
    senders = {e.group_key: e.claimed_by for e in Outbox(stores["alerter-b"]).history(limit=1000)}
    assert {m: {k for k, s in senders.items() if s == m} for m in members} == mine


def test_two_replicas_deciding_one_group_at_once_record_one_notification(
    open_store: StoreFactory, make_alert: AlertFactory
) -> None:
    """Both think they own the group (a membership change in between): a decides, and while it
    renders, b decides, records and sends; a's record then finds the group moved on and drops
    its decision, so the receiver hears of the alert once."""
    slack = Recorder()
    a = pipeline(open_store(), slack, replica="alerter-a")
    b = pipeline(open_store(), slack, replica="alerter-b")
    a.ingest([make_alert()], T0)
    reports: list[FlushReport] = []
    render = slack.render

    def render_while_b_flushes(notification: Notification) -> Payload:
        slack.render = render  # type: ignore[method-assign]  # b renders as usual
        reports.append(b.flush(T0))
        return render(notification)

    slack.render = render_while_b_flushes  # type: ignore[method-assign]
    report = a.flush(T0)
    assert (reports[0].notified, reports[0].sent) == (1, 1)
    assert (report.notified, report.sent) == (0, 0), "a's stale decision is not recorded"
    assert len(slack.delivered) == 1
    for step in range(5, 60, 5):
        a.flush(T0 + step)
        b.flush(T0 + step)
    assert len(slack.delivered) == 1, "and the group is not announced again later"


@pytest.mark.parametrize("arrived", [False, True], ids=["died-before-delivery", "died-after-delivery"])
def test_a_message_a_dead_replica_was_sending_goes_out_once_after_its_claim_expires(
    open_store: StoreFactory, make_alert: AlertFactory, arrived: bool
) -> None:
    slack = Recorder()
    a = pipeline(open_store(), slack, replica="alerter-a")
    b = pipeline(open_store(), slack, replica="alerter-b")
    a.ingest([make_alert()], T0)
    deliver = slack.deliver

    def die(payload: Payload, key: str, thread: str | None, now: float) -> str | None:
        if arrived:
            slack.delivered.append((key, payload, thread))
        raise Died

    slack.deliver = die  # type: ignore[method-assign]
    with pytest.raises(Died):
        a.flush(T0)
    slack.deliver = deliver  # type: ignore[method-assign]
    assert b.flush(T0 + CLAIM_SECONDS - 1).sent == 0, "a's claim still stands"
    report = b.flush(T0 + CLAIM_SECONDS)
    assert (report.recovered, report.sent) == ((1, 0) if arrived else (0, 1))
    assert len(slack.delivered) == 1
    [entry] = Outbox(b.store).history()
    assert (entry.state, entry.claimed_by) == ("sent", "alerter-b")
