"""The alert lifecycle, stepped through time as tables of (t, observation, state, sent)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest

from alerter.core.alerts import (
    Lifecycle,
    Observation,
    Signal,
    carry_over,
    is_forgettable,
    mark_sent,
    needs_sending,
    step,
)
from alerter.core.model import Alert, AlertState, Labels, Verdict

LABELS = Labels(model_name="llama3", namespace="inference")
RULE, GROUP = "TTFTAnomaly", "latency"

A = Observation(Signal.ANOMALOUS, value=0.9, expected=0.3, lower=0.1, upper=0.5, score=0.97, fraction=0.9)
N = Observation(Signal.NORMAL, value=0.3, expected=0.3, lower=0.1, upper=0.5, score=0.1, fraction=0.0)
D = Observation.nodata("quantile over no traffic")
E = Observation.error("prometheus unreachable: connection refused")
X = Observation.absent()

INACTIVE, PENDING, FIRING = AlertState.INACTIVE, AlertState.PENDING, AlertState.FIRING
RESOLVED, NODATA, ERROR = AlertState.RESOLVED, AlertState.NODATA, AlertState.ERROR

Row = tuple[float, Observation, AlertState, bool]


def run(life: Lifecycle, rows: list[Row], resend_delay: float = 3600.0) -> list[Alert]:
    """Step like the engine does: step, ask whether to send, record the send; check every row."""
    prev: Alert | None = None
    history = []
    for t, obs, state, sent in rows:
        alert = step(prev, obs, t, life, rule=RULE, group=GROUP, labels=LABELS)
        decision = needs_sending(alert, t, resend_delay)
        got = (alert.state, decision.allowed)
        assert got == (state, sent), (
            f"t={t} {obs.signal}: got {got} ({decision.reason}), want {(state, sent)}"
        )
        if decision.allowed:
            alert = mark_sent(alert, t)
        history.append(alert)
        prev = alert
    return history


SCENARIOS: dict[str, tuple[Lifecycle, list[Row]]] = {
    "pending, firing after for, resolved, dropped after retention": (
        Lifecycle(for_=120, resolved_retention=300),
        [
            (0, N, INACTIVE, False),
            (60, A, PENDING, False),
            (120, A, PENDING, False),
            (180, A, FIRING, True),
            (240, A, FIRING, False),
            (300, N, RESOLVED, True),
            (360, N, RESOLVED, False),
            (540, N, RESOLVED, False),
            (600, N, INACTIVE, False),
        ],
    ),
    "for=0 fires on the first anomalous tick": (
        Lifecycle(for_=0),
        [(0, A, FIRING, True), (60, A, FIRING, False), (120, N, RESOLVED, True)],
    ),
    "pending interrupted by a normal tick starts over": (
        Lifecycle(for_=120),
        [
            (0, A, PENDING, False),
            (60, A, PENDING, False),
            (120, N, INACTIVE, False),
            (180, A, PENDING, False),
            (240, A, PENDING, False),
            (300, A, FIRING, True),
        ],
    ),
    "keep_firing_for holds, and a relapse restarts the hold": (
        Lifecycle(keep_firing_for=120),
        [
            (0, A, FIRING, True),
            (60, N, FIRING, False),
            (120, N, FIRING, False),
            (150, A, FIRING, False),
            (180, N, FIRING, False),
            (240, N, FIRING, False),
            (300, N, RESOLVED, True),
        ],
    ),
    "keep_firing_for=0 resolves on the first normal tick": (
        Lifecycle(keep_firing_for=0),
        [(0, A, FIRING, True), (60, N, RESOLVED, True)],
    ),
    "an outage never resolves a firing alert": (
        Lifecycle(for_=60, keep_firing_for=60),
        [
            (0, A, PENDING, False),
            (60, A, FIRING, True),
            (120, E, FIRING, False),
            (600, E, FIRING, False),
            (660, E, FIRING, True),
            (3600, E, FIRING, True),
            (3780, N, FIRING, False),
            (3840, N, RESOLVED, True),
        ],
    ),
    "an outage while nothing happens is an error, and ends cleanly": (
        Lifecycle(for_=60),
        [
            (0, N, INACTIVE, False),
            (60, E, ERROR, False),
            (120, N, INACTIVE, False),
            (180, E, ERROR, False),
            (240, A, PENDING, False),
            (300, A, FIRING, True),
        ],
    ),
    "an outage during pending keeps the episode": (
        Lifecycle(for_=180),
        [
            (0, A, PENDING, False),
            (60, E, PENDING, False),
            (120, E, PENDING, False),
            (180, A, FIRING, True),
        ],
    ),
    "an outage during resolved retention keeps it resolved, then error": (
        Lifecycle(resolved_retention=120),
        [
            (0, A, FIRING, True),
            (60, N, RESOLVED, True),
            (120, E, RESOLVED, False),
            (180, E, ERROR, False),
        ],
    ),
    "nodata is not recovery": (
        Lifecycle(),
        [
            (0, A, FIRING, True),
            (60, D, FIRING, False),
            (7200, D, FIRING, True),
            (7260, N, RESOLVED, True),
        ],
    ),
    "nodata abandons a pending episode": (
        Lifecycle(for_=120),
        [
            (0, D, NODATA, False),
            (60, A, PENDING, False),
            (120, D, NODATA, False),
            (180, A, PENDING, False),
            (240, A, PENDING, False),
            (300, A, FIRING, True),
        ],
    ),
    "a vanished series resolves after the grace period": (
        Lifecycle(vanish_grace=300, resolved_retention=600),
        [
            (0, A, FIRING, True),
            (60, X, FIRING, False),
            (300, X, FIRING, False),
            (360, X, RESOLVED, True),
            (900, X, RESOLVED, False),
            (960, X, INACTIVE, False),
        ],
    ),
    "a series that comes back within the grace period is not re-announced": (
        Lifecycle(vanish_grace=300),
        [(0, A, FIRING, True), (60, X, FIRING, False), (120, X, FIRING, False), (180, A, FIRING, False)],
    ),
    "keep_firing_for longer than the grace period also holds a vanished series": (
        Lifecycle(vanish_grace=60, keep_firing_for=300),
        [(0, A, FIRING, True), (60, X, FIRING, False), (300, X, FIRING, False), (360, X, RESOLVED, True)],
    ),
    "a pending alert whose series vanishes is dropped": (
        Lifecycle(for_=300),
        [(0, A, PENDING, False), (60, X, INACTIVE, False), (120, A, PENDING, False)],
    ),
    "a relapse after resolution is a new episode, announced again": (
        Lifecycle(for_=60),
        [
            (0, A, PENDING, False),
            (60, A, FIRING, True),
            (120, N, RESOLVED, True),
            (180, A, PENDING, False),
            (240, A, FIRING, True),
        ],
    ),
    "firing and retained resolved alerts repeat every resend delay": (
        Lifecycle(resolved_retention=900),
        [
            (0, A, FIRING, True),
            (500, A, FIRING, False),
            (599, A, FIRING, False),
            (600, A, FIRING, True),
            (1200, A, FIRING, True),
            (1260, N, RESOLVED, True),
            (1800, N, RESOLVED, False),
            (1860, N, RESOLVED, True),
            (2160, N, INACTIVE, False),
        ],
    ),
    "a flapping alert is held firing until its changes age out of the window": (
        Lifecycle(flap_window=3600, flap_max_transitions=4),
        [
            (0, A, FIRING, True),
            (600, N, RESOLVED, True),
            (900, A, FIRING, True),
            (1200, N, RESOLVED, True),
            (1500, A, FIRING, True),
            (1800, N, FIRING, False),
            (2100, A, FIRING, True),
            (2400, N, FIRING, False),
            (4140, N, FIRING, True),
            (4199, N, FIRING, False),
            (4200, N, RESOLVED, True),
        ],
    ),
    "flap damping disabled lets an alert toggle": (
        Lifecycle(flap_max_transitions=0),
        [
            (0, A, FIRING, True),
            (60, N, RESOLVED, True),
            (120, A, FIRING, True),
            (180, N, RESOLVED, True),
            (240, A, FIRING, True),
            (300, N, RESOLVED, True),
        ],
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(name: str) -> None:
    life, rows = SCENARIOS[name]
    run(life, rows, resend_delay=600.0)


def test_timestamps_follow_the_episode() -> None:
    life = Lifecycle(for_=60, keep_firing_for=60, resolved_retention=120)
    rows: list[Row] = [
        (0, A, PENDING, False),
        (60, A, FIRING, True),
        (120, N, FIRING, False),
        (180, N, RESOLVED, True),
        (300, N, INACTIVE, False),
    ]
    pending, firing, holding, resolved, inactive = run(life, rows)
    assert (pending.active_at, pending.fired_at) == (0, None)
    assert (firing.active_at, firing.fired_at, firing.keep_firing_since) == (0, 60, None)
    assert holding.keep_firing_since == 120
    assert (resolved.fired_at, resolved.resolved_at, resolved.keep_firing_since) == (60, 180, None)
    assert (inactive.active_at, inactive.fired_at, inactive.resolved_at) == (None, None, None)
    assert [a.last_eval for a in (pending, firing, holding, resolved, inactive)] == [0, 60, 120, 180, 300]


def test_numbers_follow_observations_and_survive_outages() -> None:
    life = Lifecycle()
    firing = step(None, A, 0, life, rule=RULE, group=GROUP, labels=LABELS)
    assert (firing.value, firing.expected, firing.lower, firing.upper) == (0.9, 0.3, 0.1, 0.5)
    assert (firing.score, firing.fraction) == (0.97, 0.9)
    during_outage = step(firing, E, 60, life, rule=RULE, group=GROUP, labels=LABELS)
    assert during_outage.value == 0.9
    assert during_outage.reason == E.reason
    back = step(during_outage, A, 120, life, rule=RULE, group=GROUP, labels=LABELS)
    assert back.reason == ""
    remark = replace(A, reason="p99 pinned at the top bucket: saturation")
    saturated = step(back, remark, 150, life, rule=RULE, group=GROUP, labels=LABELS)
    assert saturated.reason == remark.reason
    without_data = step(back, D, 180, life, rule=RULE, group=GROUP, labels=LABELS)
    assert math.isnan(without_data.value)
    assert without_data.reason == "quantile over no traffic"


def test_flapping_is_marked_with_a_reason_and_cleared_on_resolution() -> None:
    life = Lifecycle(flap_window=3600, flap_max_transitions=2)
    rows: list[Row] = [(0, A, FIRING, True), (60, N, RESOLVED, True), (120, A, FIRING, True)]
    *_, refired = run(life, rows)
    assert refired.flapping
    held = step(refired, N, 180, life, rule=RULE, group=GROUP, labels=LABELS)
    assert (held.state, held.flapping) == (FIRING, True)
    assert held.reason.startswith("flapping: 3 changes within 1h")
    later = step(held, N, 3700, life, rule=RULE, group=GROUP, labels=LABELS)
    assert (later.state, later.flapping, later.transitions) == (RESOLVED, False, (120, 3700))


def test_annotations_are_kept_for_the_evaluator_to_render() -> None:
    prev = Alert(RULE, GROUP, LABELS, annotations={"summary": "p99 TTFT high"})
    out = step(prev, A, 0, Lifecycle(), rule=RULE, group=GROUP, labels=LABELS)
    assert out.annotations == {"summary": "p99 TTFT high"}


def test_step_upgrades_a_plain_alert() -> None:
    prev = Alert(RULE, GROUP, LABELS, state=FIRING, active_at=0, fired_at=0, last_eval=0, last_sent_at=0)
    out = step(prev, N, 60, Lifecycle(), rule=RULE, group=GROUP, labels=LABELS)
    assert isinstance(out, Alert)
    assert (out.state, out.resolved_at, out.transitions) == (RESOLVED, 60, (60,))


@pytest.mark.parametrize(
    ("prev", "now", "message"),
    [
        (Alert("Other", GROUP, LABELS), 0.0, "belongs to latency/Other"),
        (Alert(RULE, GROUP, LABELS.with_(model_name="x")), 0.0, "belongs to"),
        (None, math.nan, "finite unix time"),
        (None, math.inf, "finite unix time"),
    ],
)
def test_step_rejects_bad_input(prev: Alert | None, now: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        step(prev, A, now, Lifecycle(), rule=RULE, group=GROUP, labels=LABELS)


def test_a_clock_stepped_backwards_delays_but_never_hastens_transitions() -> None:
    life = Lifecycle(for_=60, keep_firing_for=120, resolved_retention=60)
    rows: list[Row] = [
        (1000, A, PENDING, False),
        (900, A, PENDING, False),
        (1060, A, FIRING, True),
        (1120, N, FIRING, False),
        (1000, N, FIRING, False),
        (1240, N, RESOLVED, True),
        (1200, N, RESOLVED, False),
        (1300, N, INACTIVE, False),
    ]
    run(life, rows)


def test_the_same_tick_may_be_evaluated_twice() -> None:
    first = step(None, A, 10, Lifecycle(for_=60), rule=RULE, group=GROUP, labels=LABELS)
    again = step(first, A, 10, Lifecycle(for_=60), rule=RULE, group=GROUP, labels=LABELS)
    assert (again.state, again.active_at) == (PENDING, 10)


# -- observations -------------------------------------------------------------------------------


def verdict(values: list[float], anomalous: list[bool], tier: str = "stl", reason: str = "") -> Verdict:
    n = len(values)
    ts = np.arange(n, dtype=float) * 60
    return Verdict(
        timestamps=ts,
        values=np.array(values),
        expected=np.full(n, 0.3),
        lower=np.full(n, 0.1),
        upper=np.full(n, 0.5),
        scores=np.where(anomalous, 0.99, 0.2),
        anomalous=np.array(anomalous, dtype=bool),
        tier=tier,
        reason=reason,
    )


@pytest.mark.parametrize(
    ("out_of_band", "fraction", "guard", "signal"),
    [
        (8, 0.8, True, Signal.ANOMALOUS),
        (7, 0.8, True, Signal.NORMAL),
        (10, 1.0, True, Signal.ANOMALOUS),
        (1, 0.1, True, Signal.ANOMALOUS),
        (0, 0.1, True, Signal.NORMAL),
        (10, 0.8, False, Signal.NORMAL),
    ],
)
def test_from_verdict_applies_trigger_fraction_and_guard(
    out_of_band: int, fraction: float, guard: bool, signal: Signal
) -> None:
    flags = [i >= 10 - out_of_band for i in range(10)]
    values = [0.9 if f else 0.3 for f in flags]
    obs = Observation.from_verdict(verdict(values, flags), fraction, guard=guard)
    assert obs.signal is signal
    assert obs.fraction == pytest.approx(out_of_band / 10)
    assert (obs.value, obs.expected, obs.tier) == (values[-1], 0.3, "stl")


def test_from_verdict_carries_the_detector_remark() -> None:
    remark = "cold start: ewma over 2h of data"
    obs = Observation.from_verdict(verdict([0.9], [True], tier="ewma", reason=remark), 0.5)
    assert (obs.signal, obs.reason) == (Signal.ANOMALOUS, remark)
    assert step(None, obs, 0, Lifecycle(), rule=RULE, group=GROUP, labels=LABELS).reason == remark


def test_from_verdict_without_usable_values_is_nodata() -> None:
    nan = math.nan
    all_nan = Observation.from_verdict(verdict([nan, nan], [False, False], tier="ewma"), 0.5)
    assert (all_nan.signal, all_nan.tier, all_nan.reason) == (Signal.NODATA, "ewma", "no usable value")
    empty = Observation.from_verdict(verdict([], []), 0.5)
    assert (empty.signal, empty.reason) == (Signal.NODATA, "no samples in window")


def test_nan_points_do_not_count_towards_the_fraction() -> None:
    obs = Observation.from_verdict(verdict([math.nan, math.nan, 0.9, 0.9], [False, False, True, True]), 0.8)
    assert obs.signal is Signal.ANOMALOUS


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.01, math.nan])
def test_from_verdict_rejects_bad_trigger_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="trigger_fraction must be in"):
        Observation.from_verdict(verdict([0.3], [False]), fraction)


def test_observation_validation() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        Observation(Signal.ERROR)
    with pytest.raises(ValueError, match="fraction must be in"):
        Observation(Signal.ANOMALOUS, fraction=1.5)
    with pytest.raises(ValueError, match="must be a Signal"):
        Observation("anomalous")  # type: ignore[arg-type]


# -- lifecycle ----------------------------------------------------------------------------------


def test_lifecycle_defaults_are_pinned() -> None:
    life = Lifecycle()
    assert (life.for_, life.keep_firing_for) == (0, 0)
    assert (life.resolved_retention, life.vanish_grace) == (900, 300)
    assert (life.flap_window, life.flap_max_transitions) == (3600, 6)


@pytest.mark.parametrize(("interval", "grace"), [(15, 300), (150, 300), (600, 1200)])
def test_vanish_grace_is_two_intervals_and_at_least_five_minutes(interval: float, grace: float) -> None:
    life = Lifecycle.for_rule(interval=interval, for_=120, keep_firing_for=60)
    assert (life.vanish_grace, life.for_, life.keep_firing_for) == (grace, 120, 60)
    assert Lifecycle.for_rule(interval=interval, vanish_grace=30).vanish_grace == 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"for_": -1}, "Lifecycle.for_ must be"),
        ({"keep_firing_for": math.nan}, "Lifecycle.keep_firing_for must be"),
        ({"resolved_retention": math.inf}, "Lifecycle.resolved_retention must be"),
        ({"vanish_grace": "5m"}, "Lifecycle.vanish_grace must be"),
        ({"flap_max_transitions": -1}, "flap_max_transitions must be an integer"),
        ({"flap_max_transitions": 2.5}, "flap_max_transitions must be an integer"),
        ({"flap_max_transitions": True}, "flap_max_transitions must be an integer"),
        ({"flap_window": 0}, "flap_window must be > 0"),
    ],
)
def test_lifecycle_rejects_bad_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Lifecycle(**kwargs)  # type: ignore[arg-type]


def test_for_rule_rejects_bad_interval() -> None:
    with pytest.raises(ValueError, match="interval must be"):
        Lifecycle.for_rule(interval=0)


# -- sending ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [INACTIVE, PENDING, NODATA, ERROR])
def test_only_firing_and_resolved_alerts_are_sent(state: AlertState) -> None:
    alert = Alert(RULE, GROUP, LABELS, state=state, active_at=0)
    decision = needs_sending(alert, 10_000, 0)
    assert not decision.allowed
    assert decision.reason == f"{state.value} alerts are not sent"


def test_a_resolution_nobody_heard_of_the_firing_for_is_not_sent() -> None:
    alert = Alert(RULE, GROUP, LABELS, state=RESOLVED, fired_at=0, resolved_at=60)
    assert not needs_sending(alert, 60, 0).allowed


def test_sending_reasons() -> None:
    firing = Alert(RULE, GROUP, LABELS, state=FIRING, fired_at=100)
    assert needs_sending(firing, 100, 600).reason == "newly firing"
    sent = mark_sent(firing, 100)
    assert sent.last_sent_at == 100
    assert isinstance(sent, Alert)
    assert needs_sending(sent, 400, 600).reason == "sent 5m ago; repeats every 10m"
    assert needs_sending(sent, 700, 600).reason == "repeat after 10m"


@pytest.mark.parametrize("delay", [-1.0, math.nan, math.inf])
def test_needs_sending_rejects_bad_resend_delay(delay: float) -> None:
    with pytest.raises(ValueError, match="resend_delay"):
        needs_sending(Alert(RULE, GROUP, LABELS), 0, delay)


def test_is_forgettable() -> None:
    assert is_forgettable(Alert(RULE, GROUP, LABELS))
    assert is_forgettable(Alert(RULE, GROUP, LABELS))
    assert not is_forgettable(Alert(RULE, GROUP, LABELS, transitions=(5.0,)))
    assert not is_forgettable(Alert(RULE, GROUP, LABELS, state=NODATA))


def test_flap_history_keeps_an_inactive_alert_until_it_ages_out() -> None:
    life = Lifecycle(resolved_retention=60, flap_window=600)
    rows: list[Row] = [(0, A, FIRING, True), (60, N, RESOLVED, True), (120, X, INACTIVE, False)]
    *_, inactive = run(life, rows)
    assert not is_forgettable(inactive)
    aged = step(inactive, X, 660, life, rule=RULE, group=GROUP, labels=LABELS)
    assert is_forgettable(aged)


# -- hot reload ---------------------------------------------------------------------------------


def test_carry_over_sorts_alerts_by_rule_definition() -> None:
    def alert(rule: str, state: AlertState, **kw: float) -> Alert:
        return Alert(rule, GROUP, LABELS, state=state, **kw)  # type: ignore[arg-type]

    same_firing = alert("Same", FIRING, fired_at=0, last_sent_at=0)
    same_pending = alert("Same", PENDING, active_at=50)
    changed_firing = alert("Changed", FIRING, fired_at=0, last_sent_at=0)
    changed_pending = alert("Changed", PENDING, active_at=50)
    removed_resolved = alert("Removed", RESOLVED, fired_at=0, resolved_at=30, last_sent_at=30)
    removed_firing = alert("Removed", FIRING, fired_at=0, last_sent_at=0)
    unknown_firing = alert("Unknown", FIRING, fired_at=0, last_sent_at=0)
    old = {(GROUP, "Same"): "d1", (GROUP, "Changed"): "d2", (GROUP, "Removed"): "d3"}
    new = {(GROUP, "Same"): "d1", (GROUP, "Changed"): "d2b", (GROUP, "Unknown"): "d4"}
    result = carry_over(
        [same_firing, same_pending, changed_firing, changed_pending, removed_resolved, removed_firing,
         unknown_firing],
        old,
        new,
        now=100,
    )  # fmt: skip
    assert result.kept == (same_firing, same_pending)
    assert [(a.rule, a.state, a.resolved_at, a.reason) for a in result.ended] == [
        ("Changed", RESOLVED, 100, "rule changed"),
        ("Removed", RESOLVED, 30, ""),
        ("Removed", RESOLVED, 100, "rule removed"),
        ("Unknown", RESOLVED, 100, "rule changed"),
    ]
    assert result.dropped == (changed_pending,)
    assert all(
        needs_sending(a, 100, 3600).reason == "newly resolved" for a in result.ended if a.resolved_at == 100
    )


def test_a_changed_rule_starts_its_series_afresh() -> None:
    firing = Alert(RULE, GROUP, LABELS, state=FIRING, fired_at=0, last_sent_at=0, last_eval=60)
    (ended,) = carry_over([firing], {(GROUP, RULE): "a"}, {(GROUP, RULE): "b"}, now=90).ended
    life = Lifecycle(for_=120)
    again = step(ended, A, 120, life, rule=RULE, group=GROUP, labels=LABELS)
    assert (again.state, again.active_at, again.fired_at) == (PENDING, 120, None)


# -- invariants over random histories -----------------------------------------------------------


def test_invariants_hold_over_random_histories() -> None:
    rng = random.Random(20261127)
    signals = [A, A, A, N, N, D, E, X]
    for _ in range(300):
        life = Lifecycle(
            for_=rng.choice([0, 60, 300]),
            keep_firing_for=rng.choice([0, 120]),
            resolved_retention=rng.choice([0, 300]),
            vanish_grace=rng.choice([60, 300]),
            flap_max_transitions=rng.choice([0, 3, 6]),
            flap_window=1800,
        )
        prev: Alert | None = None
        for tick in range(60):
            obs = rng.choice(signals)
            now = tick * 60.0
            alert = step(prev, obs, now, life, rule=RULE, group=GROUP, labels=LABELS)
            check_invariants(prev, obs, alert, now, life)
            prev = mark_sent(alert, now) if needs_sending(alert, now, 600).allowed else alert


def check_invariants(prev: Alert | None, obs: Observation, alert: Alert, now: float, life: Lifecycle) -> None:
    was = prev.state if prev else INACTIVE
    assert alert.last_eval == now
    if was is FIRING and obs.signal in (Signal.ERROR, Signal.NODATA, Signal.ANOMALOUS):
        assert alert.state is FIRING, "only normal ticks and vanishing may end a firing alert"
    if alert.state is FIRING:
        assert alert.fired_at is not None and alert.active_at is not None
        assert alert.active_at <= alert.fired_at <= now
        if alert.fired_at == now and was is not FIRING:
            assert now - alert.active_at >= life.for_
    if alert.state is PENDING and obs.signal is not Signal.ERROR:
        assert alert.active_at is not None and now - alert.active_at < life.for_
    if alert.state is RESOLVED:
        assert alert.resolved_at is not None and now - alert.resolved_at < max(life.resolved_retention, 1e-9)
    if alert.flapping:
        assert alert.state is FIRING and len(alert.transitions) >= life.flap_max_transitions > 0
    assert all(now - life.flap_window < t <= now for t in alert.transitions)
    assert list(alert.transitions) == sorted(alert.transitions)
    if was is not alert.state and FIRING in (was, alert.state) and life.flap_max_transitions:
        assert alert.transitions[-1] == now, "every change into or out of firing is counted"
