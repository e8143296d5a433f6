"""What the evaluator may skip: a normal series without an alert behind it leaves nothing to keep.

``evaluate_rule`` does not step such series through the state machine; this holds only while a
first normal step always yields a forgettable alert, which these tests pin down.
"""

from __future__ import annotations

import math

import pytest

from alerter.core import alerts
from alerter.core.alerts import Lifecycle, Observation, Signal
from alerter.core.model import Labels


@pytest.mark.parametrize(
    "life",
    [
        Lifecycle(),
        Lifecycle(for_=300.0, keep_firing_for=600.0),
        Lifecycle(for_=0.0, flap_max_transitions=0),
        Lifecycle(for_=60.0, keep_firing_for=0.0, flap_window=60.0, flap_max_transitions=2),
    ],
)
@pytest.mark.parametrize(
    "obs",
    [
        Observation(Signal.NORMAL),
        Observation(Signal.NORMAL, value=1.0, expected=1.0, lower=0.5, upper=1.5, score=0.2, tier="stl(1d)"),
        Observation(Signal.NORMAL, value=9.0, fraction=0.4, tier="ewma", reason="saturated"),
    ],
)
def test_a_first_normal_step_is_forgettable(life: Lifecycle, obs: Observation) -> None:
    record = alerts.step(None, obs, 1_700_000_000.0, life, rule="R", group="g", labels=Labels(a="1"))
    assert alerts.is_forgettable(record)


@pytest.mark.parametrize("signal", [Signal.ANOMALOUS, Signal.NODATA])
def test_other_first_steps_are_kept(signal: Signal) -> None:
    obs = Observation(signal, value=2.0, fraction=1.0, tier="stl(1d)")
    record = alerts.step(None, obs, 1_700_000_000.0, Lifecycle(), rule="R", group="g", labels=Labels(a="1"))
    assert not alerts.is_forgettable(record)


def test_a_non_finite_clock_is_still_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        alerts.step(
            None, Observation(Signal.NORMAL), math.nan, Lifecycle(), rule="R", group="g", labels=Labels()
        )
