"""Silence, Acknowledge and Not an incident presses: what each changes, once, and what a repeat
says instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from harness.postgres import StoreFactory

from alerter.core.model import Alert, AlertState
from alerter.notify.mute import Muter, Silences
from alerter.notify.pages import Pages, PageVerdict
from alerter.notify.slack import actions
from alerter.notify.slack.actions import Acks, AlertActions, Press, parse_press
from alerter.notify.slack.blocks import Standing
from alerter.store.sqlite import Store

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
AlertFactory = Callable[..., Alert]


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    return open_store()


class Engine:
    """The engine's alerts by fingerprint, changeable by the test."""

    def __init__(self, *alerts: Alert) -> None:
        self.alerts = {a.fingerprint: a for a in alerts}

    def find(self, fingerprint: str) -> Alert | None:
        return self.alerts.get(fingerprint)


def press(alert: Alert, action_id: str, user: tuple[str, str] = ("U1", "ann")) -> Press:
    return parse_press(action_id, alert.fingerprint, *user)


def kit(store: Store, *alerts: Alert) -> tuple[AlertActions, Engine]:
    engine = Engine(*alerts)
    return AlertActions(Silences(store), Acks(store), engine.find), engine


def test_silence_1h_matches_every_label_of_the_alert_by_equality(
    store: Store, make_alert: AlertFactory
) -> None:
    alert = make_alert(pod='vllm-0"x', namespace="llm")
    acts, _ = kit(store, alert)
    outcome = acts.press(press(alert, "silence:1h"), T0)
    silence = outcome.silence
    assert silence is not None and outcome.private is None
    assert {(m.name, m.op, m.value) for m in silence.matchers} == {
        ("alertname", "=", "TTFTAnomaly"),
        ("severity", "=", "page"),
        ("model_name", "=", "llama3-70b"),
        ("pod", "=", 'vllm-0"x'),
        ("namespace", "=", "llm"),
    }
    assert (silence.starts_at, silence.ends_at) == (T0, T0 + 3600)
    assert silence.created_by == "ann (Slack U1)" and silence.comment == "from Slack: 1h"
    # The same store the API and the CLI use, and it mutes the alert (and not its neighbour).
    listed = acts.silences.list(T0)
    assert [s.id for s in listed] == [silence.id] and listed[0].matchers == silence.matchers
    muter = Muter(listed, (), T0 + 60)
    assert muter.reason(actions.silence_labels(alert)) == f"silence {silence.id}"
    assert muter.reason(actions.silence_labels(make_alert(pod="vllm-1", namespace="llm"))) is None
    assert outcome.note == (
        ':mute: *TTFTAnomaly* `model_name=llama3-70b, namespace=llm, pod=vllm-0"x` silenced by <@U1> for 1h,'
        f" until 01:00 UTC (silence `{silence.id}`; `alerter silence expire {silence.id}` ends it early)"
    )


def test_pressing_silence_again_adds_no_second_silence(store: Store, make_alert: AlertFactory) -> None:
    alert = make_alert()
    acts, _ = kit(store, alert)
    first = acts.press(press(alert, "silence:1h"), T0)
    again = acts.press(press(alert, "silence:1h", ("U2", "bob")), T0 + 5)
    assert again.note is None and again.silence == first.silence
    assert again.private is not None and again.private.startswith(
        "TTFTAnomaly (model_name=llama3-70b) is already"
    )
    assert "ann (Slack U1) until 01:00 UTC" in again.private
    assert len(acts.silences.list(T0 + 5)) == 1


def test_a_longer_silence_extends_the_shorter_one(store: Store, make_alert: AlertFactory) -> None:
    alert = make_alert()
    acts, _ = kit(store, alert)
    first = acts.press(press(alert, "silence:1h"), T0)
    longer = acts.press(press(alert, "silence:4h"), T0 + 60)
    assert first.silence is not None and longer.silence is not None
    assert longer.silence.id == first.silence.id and longer.silence.ends_at == T0 + 60 + 4 * 3600
    assert longer.note is not None and " extended by <@U1> for 4h, until 04:01 UTC" in longer.note
    shorter = acts.press(press(alert, "silence:1h"), T0 + 120)
    assert shorter.note is None and len(acts.silences.list(T0)) == 1


def test_expiry_on_another_day_shows_the_date(store: Store, make_alert: AlertFactory) -> None:
    alert = make_alert()
    acts, _ = kit(store, alert)
    outcome = acts.press(press(alert, "silence:4h"), T0 - 3600)  # 2025-12-31 23:00 UTC
    assert outcome.note is not None and "until 2026-01-01 03:00 UTC" in outcome.note


def test_until_resolved_ends_when_the_alert_resolves(store: Store, make_alert: AlertFactory) -> None:
    alert = make_alert()
    acts, engine = kit(store, alert)
    outcome = acts.press(press(alert, "silence:resolved"), T0)
    silence = outcome.silence
    assert silence is not None and silence.ends_with == alert.fingerprint
    assert silence.ends_at == T0 + actions.UNTIL_RESOLVED_AT_MOST
    assert (
        outcome.note is not None
        and "silenced by <@U1> until it resolves (at the latest 2026-01-08 00:00 UTC" in outcome.note
    )
    assert acts.press(press(alert, "silence:resolved"), T0 + 1).note is None
    assert len(acts.silences.list(T0 + 1)) == 1
    ended = acts.silences.end_with([make_alert(pod="other").fingerprint], T0 + 2)
    assert ended == [] and acts.silences.get(silence.id).active(T0 + 3)
    (done,) = acts.silences.end_with([alert.fingerprint], T0 + 600)
    assert done.id == silence.id and not acts.silences.get(silence.id).active(T0 + 600)
    # Resolved now: nothing to silence until it resolves.
    engine.alerts[alert.fingerprint] = replace(alert, state=AlertState.RESOLVED, resolved_at=T0 + 600)
    late = acts.press(press(alert, "silence:resolved"), T0 + 700)
    assert late.note is None and late.private is not None and "is resolved" in late.private


def test_acknowledge_records_who_and_when_once_per_episode(store: Store, make_alert: AlertFactory) -> None:
    alert = make_alert()
    acts, engine = kit(store, alert)
    outcome = acts.press(press(alert, "ack"), T0 + 3 * 3600 + 12 * 60)
    assert outcome.note == ":eyes: *TTFTAnomaly* `model_name=llama3-70b` acknowledged by <@U1> at 03:12 UTC"
    assert outcome.ack is not None and (outcome.ack.user_name, outcome.ack.at) == ("ann", T0 + 3 * 3600 + 720)
    again = acts.press(press(alert, "ack", ("U2", "bob")), T0 + 4 * 3600)
    assert again.note is None and again.private == (
        "TTFTAnomaly (model_name=llama3-70b) was already acknowledged by ann at 03:12 UTC."
    )
    standing = acts.standing(alert, T0 + 4 * 3600)
    assert standing.acknowledged and not standing.silenced
    assert standing.lines == (":eyes: Acknowledged by <@U1> at 03:12 UTC",)
    # A new episode of the same series is not acknowledged yet.
    later = replace(alert, fired_at=T0 + 86400, active_at=T0 + 86400 - 300)
    engine.alerts[alert.fingerprint] = later
    assert not acts.standing(later, T0 + 86400).acknowledged
    assert acts.press(press(later, "ack", ("U2", "bob")), T0 + 86400 + 60).note is not None


def test_standing_shows_the_longest_silence_of_any_origin(store: Store, make_alert: AlertFactory) -> None:
    alert = make_alert()
    acts, _ = kit(store, alert)
    acts.silences.add(['model_name="llama3-70b"'], ends_at=T0 + 7200, now=T0, created_by="ops-token")
    standing = acts.standing(alert, T0)
    assert standing.silenced and not standing.acknowledged
    (line,) = standing.lines
    assert line.startswith(":mute: silenced by ops-token until 02:00 UTC (silence `")


def test_presses_on_unknown_or_quiet_alerts_change_nothing(store: Store, make_alert: AlertFactory) -> None:
    alert = make_alert()
    acts, engine = kit(store)
    gone = acts.press(press(alert, "silence:1h"), T0)
    assert gone.note is None and gone.private is not None and "no longer known" in gone.private
    engine.alerts[alert.fingerprint] = replace(alert, state=AlertState.RESOLVED, resolved_at=T0)
    assert acts.press(press(alert, "ack"), T0).private == (
        "TTFTAnomaly (model_name=llama3-70b) is resolved: there is nothing to acknowledge."
    )
    # A fixed-length silence of a resolved alert is still allowed: it may come back.
    assert acts.press(press(alert, "silence:1h"), T0).silence is not None


@pytest.mark.parametrize(
    ("action_id", "value", "error"),
    [
        ("silence:2h", "0123456789abcdef", "unknown silence length '2h'"),
        ("ack:now", "0123456789abcdef", "unknown action 'ack:now'"),
        ("restart", "0123456789abcdef", "unknown action 'restart'"),
        ("silence:1h", "7", "is not an alert fingerprint"),
        ("ack", "0123456789ABCDEF", "is not an alert fingerprint"),
        ("noise", "0123456789abcdef", "does not name an alert episode"),
        ("noise", "0123456789abcdef:soon", "does not name an alert episode"),
        ("real", "0123456789abcdef:1e999", "does not name an alert episode"),
        ("noise:twice", "0123456789abcdef:1.0", "unknown action 'noise:twice'"),
    ],
)
def test_presses_that_do_not_fit_are_refused(action_id: str, value: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_press(action_id, value, "U1", "ann")
    with pytest.raises(ValueError, match="who pressed"):
        parse_press("ack", "0123456789abcdef", "", "")


def test_buttons_keep_to_slacks_limits_and_drop_ack_once_acknowledged(make_alert: AlertFactory) -> None:
    alert = make_alert()
    buttons = actions.alert_buttons(alert)
    assert [b.action_id for b in buttons] == ["silence:1h", "silence:4h", "silence:resolved", "ack", "noise"]
    assert all(b.value == alert.fingerprint for b in buttons[:4])
    assert buttons[4].value == f"{alert.fingerprint}:{T0 - 900!r}" and buttons[4].text == "Not an incident"
    assert all(len(b.text) <= 75 and len(b.value) <= 2000 for b in buttons)
    assert all(actions.is_alert_action(b.action_id) for b in buttons)
    assert not actions.is_alert_action("approve")
    acked = actions.alert_buttons(alert, Standing(acknowledged=True))
    assert [b.action_id for b in acked] == ["silence:1h", "silence:4h", "silence:resolved", "noise"]


def test_a_resolved_alert_keeps_only_the_verdict_button_and_a_judged_one_offers_the_undo(
    make_alert: AlertFactory,
) -> None:
    """A page is often judged to be noise after it resolved, so its message keeps that button."""
    resolved = make_alert(state=AlertState.RESOLVED)
    assert [(b.action_id, b.text) for b in actions.alert_buttons(resolved)] == [("noise", "Not an incident")]
    judged = actions.alert_buttons(resolved, Standing(false_page=True))
    assert [(b.action_id, b.text) for b in judged] == [("real", "It was real")]
    firing = actions.alert_buttons(make_alert(), Standing(false_page=True))
    assert [b.action_id for b in firing][-1] == "real"
    assert actions.alert_buttons(make_alert(state=AlertState.PENDING)) == []


def test_pressing_silence_again_near_its_end_renews_it(store: Store, make_alert: AlertFactory) -> None:
    alert = make_alert()
    acts, _ = kit(store, alert)
    first = acts.press(press(alert, "silence:1h"), T0)
    renewed = acts.press(press(alert, "silence:1h"), T0 + 3000)
    assert first.silence is not None and renewed.silence is not None
    assert renewed.silence.id == first.silence.id and renewed.silence.ends_at == T0 + 3000 + 3600
    assert renewed.note is not None and "extended by <@U1> for 1h, until 01:50 UTC" in renewed.note


def judged(
    store: Store, *alerts: Alert
) -> tuple[AlertActions, Engine, list[tuple[PageVerdict, Alert | None]]]:
    """Actions that record verdicts, and what the app was told of each change."""
    engine = Engine(*alerts)
    told: list[tuple[PageVerdict, Alert | None]] = []
    acts = AlertActions(
        Silences(store), Acks(store), engine.find, Pages(store), lambda v, a: told.append((v, a))
    )
    return acts, engine, told


def verdict_press(alert: Alert, verb: str, user: tuple[str, str] = ("U1", "ann")) -> Press:
    (button,) = [b for b in actions.alert_buttons(alert) if b.action_id in ("noise", "real")]
    return parse_press(verb, button.value, *user)


def test_not_an_incident_records_who_when_and_the_episode_once(
    store: Store, make_alert: AlertFactory
) -> None:
    alert = make_alert(state=AlertState.RESOLVED)
    acts, _, told = judged(store, alert)
    outcome = acts.press(verdict_press(alert, "noise"), T0 + 60)
    assert outcome.note == (
        ":white_check_mark: *TTFTAnomaly* `model_name=llama3-70b` marked *not an incident* by <@U1> at"
        " 00:01 UTC: counted as a false page of its rule, and its period is trained on as normal from"
        " the next refit"
    )
    verdict = outcome.verdict
    assert (
        verdict is not None
        and verdict.noise
        and (verdict.user_id, verdict.user_name, verdict.at)
        == (
            "U1",
            "ann",
            T0 + 60,
        )
    )
    page = verdict.page
    assert (page.rule, page.group, page.fingerprint) == ("TTFTAnomaly", "llm", alert.fingerprint)
    assert (page.active_at, page.fired_at, page.resolved_at) == (T0 - 900, T0 - 600, T0)
    assert told == [(verdict, alert)]
    # Pressed again by someone else: nothing changes, the presser alone hears who said it first.
    again = acts.press(verdict_press(alert, "noise", ("U2", "bob")), T0 + 120)
    assert again.note is None and again.private == (
        "TTFTAnomaly (model_name=llama3-70b) was already marked not an incident by ann at 00:01 UTC."
    )
    assert len(told) == 1
    standing = acts.standing(alert, T0 + 180)
    assert standing.false_page
    assert standing.lines == (":white_check_mark: Not an incident, said by <@U1> at 00:01 UTC",)


def test_it_was_real_takes_the_verdict_back_and_can_be_undone_again(
    store: Store, make_alert: AlertFactory
) -> None:
    alert = make_alert()
    acts, _, told = judged(store, alert)
    nothing = acts.press(verdict_press(alert, "real"), T0)
    assert nothing.note is None and nothing.private is not None and "nothing to take back" in nothing.private
    acts.press(verdict_press(alert, "noise"), T0)
    back = acts.press(verdict_press(alert, "real", ("U2", "bob")), T0 + 60)
    assert back.note == (
        ":rotating_light: *TTFTAnomaly* `model_name=llama3-70b` marked *real* by <@U2> at 00:01 UTC"
        " (taking back ann's not an incident)"
    )
    assert back.verdict is not None and not back.verdict.noise and back.verdict.user_name == "bob"
    assert not acts.standing(alert, T0 + 60).false_page
    assert [v.noise for v, _ in told] == [True, False]
    assert acts.press(verdict_press(alert, "noise", ("U3", "cy")), T0 + 120).verdict is not None
    assert [v.noise for v, _ in told] == [True, False, True]


def test_a_verdict_after_the_engine_forgot_the_alert_uses_the_recorded_page(
    store: Store, make_alert: AlertFactory
) -> None:
    """Resolved alerts are kept 15 minutes; the page itself stays in ``notify_pages``."""
    alert = make_alert(state=AlertState.RESOLVED)
    acts, engine, told = judged(store, alert)
    assert acts.pages is not None and acts.pages.record([alert]) == 1
    button = verdict_press(alert, "noise")
    del engine.alerts[alert.fingerprint]
    outcome = acts.press(button, T0 + 86400)
    assert outcome.verdict is not None and outcome.verdict.page.resolved_at == T0
    assert told == [(outcome.verdict, None)]
    # A button of an episode that never fired, or is unknown, judges nothing.
    unknown = parse_press("noise", f"{alert.fingerprint}:{T0 - 5000!r}", "U1", "ann")
    refused = acts.press(unknown, T0)
    assert refused.verdict is None and refused.private is not None and "no page to judge" in refused.private


def test_a_button_of_an_earlier_episode_never_judges_the_current_one(
    store: Store, make_alert: AlertFactory
) -> None:
    first = make_alert(state=AlertState.RESOLVED)
    acts, engine, _ = judged(store, first)
    assert acts.pages is not None
    acts.pages.record([first])
    old_button = verdict_press(first, "noise")
    second = make_alert(fired_at=T0 + 3600)
    engine.alerts[second.fingerprint] = second
    outcome = acts.press(old_button, T0 + 4000)
    assert outcome.verdict is not None and outcome.verdict.page.active_at == first.active_at
    assert acts.pages.verdict(second.fingerprint, T0 + 3300) is None


def test_without_pages_a_verdict_is_refused_privately(store: Store, make_alert: AlertFactory) -> None:
    alert = make_alert()
    acts, _ = kit(store, alert)
    outcome = acts.press(verdict_press(alert, "noise"), T0)
    assert outcome.note is None and outcome.private == "Verdicts on pages are not recorded by this engine."
