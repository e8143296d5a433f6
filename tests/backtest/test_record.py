"""Episodes from the alerts a tick hands the sink, and the recording receiver's contract."""

from __future__ import annotations

from alerter.backtest.record import Episodes, RecordingNotifier
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify.base import Notification, NotifyReason, PayloadKind

LABELS = Labels(alertname="TTFTAnomaly", model_name="m", severity="page")


def _alert(state: AlertState, now: float, value: float = 1.0, **times: float) -> Alert:
    return Alert(
        "TTFTAnomaly", "latency", LABELS, state, last_eval=now, value=value, score=value / 10, **times
    )


def test_an_episode_runs_from_firing_to_resolved_with_its_peak() -> None:
    episodes = Episodes()
    steps = [
        (_alert(AlertState.PENDING, 0.0, active_at=0.0), 0.0),
        (_alert(AlertState.FIRING, 60.0, 2.0, active_at=0.0, fired_at=60.0), 60.0),
        (_alert(AlertState.FIRING, 120.0, 5.0, active_at=0.0, fired_at=60.0), 120.0),
        (_alert(AlertState.FIRING, 180.0, 3.0, active_at=0.0, fired_at=60.0), 180.0),
    ]
    assert [episodes.observe(a, t) for a, t in steps] == [None] * 4
    resolved = _alert(AlertState.RESOLVED, 240.0, active_at=0.0, fired_at=60.0, resolved_at=240.0)
    ended = episodes.observe(resolved, 240.0)
    assert ended is not None
    assert (ended.active_at, ended.fired_at, ended.resolved_at) == (0.0, 60.0, 240.0)
    assert ended.peak_value == 5.0 and ended.peak_score == 0.5
    assert episodes.all() == [ended] and not episodes.open
    # the resolved alert is handed over again on later ticks: no second episode
    assert episodes.observe(resolved, 300.0) is None and len(episodes.all()) == 1


def test_pending_that_never_fires_is_no_episode_and_open_ones_are_listed() -> None:
    episodes = Episodes()
    episodes.observe(_alert(AlertState.PENDING, 0.0, active_at=0.0), 0.0)
    episodes.observe(_alert(AlertState.INACTIVE, 60.0), 60.0)
    assert episodes.all() == []
    episodes.observe(_alert(AlertState.FIRING, 120.0, active_at=60.0, fired_at=120.0), 120.0)
    (still,) = episodes.all()
    assert still.resolved_at is None and still.end(999.0) == 999.0
    assert still.to_json()["labels"] == dict(LABELS)


def test_recording_notifier_keeps_what_it_would_send() -> None:
    notifier = RecordingNotifier("oncall")
    firing = _alert(AlertState.FIRING, 60.0, active_at=0.0, fired_at=60.0)
    note = Notification("oncall", "g1", Labels(alertname="TTFTAnomaly"), (firing,), NotifyReason.FIRST, 60.0)
    payload = notifier.render(note)
    assert payload.kind is PayloadKind.OPEN
    assert notifier.deliver(payload, "k1", None, 61.0) == "k1"
    assert notifier.deliver(payload, "k2", "k1", 62.0) == "k1", "later payloads stay in the thread"
    first = notifier.deliveries[0]
    assert (first.at, first.receiver, first.reason, first.kind) == (61.0, "oncall", "first", "open")
    assert first.pages and first.firing[0]["fingerprint"] == firing.fingerprint
    assert notifier.recover(payload, "k1", "t") == (False, "t")
