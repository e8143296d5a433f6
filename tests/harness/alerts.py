"""An alert with every field set off its default, for the tests of what stores and shows alerts.

The codec, store, pipeline and API tests round-trip or print it: a field left at its default
would pass those tests unexamined (``tests/core/test_codec.py`` checks none is).
"""

from __future__ import annotations

from alerter.core.model import Alert, AlertState, Labels

EVERY_FIELD = Alert(
    rule="TTFTAnomaly",
    group="latency",
    labels=Labels(model_name="llama", namespace="inference"),
    state=AlertState.FIRING,
    active_at=1_795_000_000.0,
    fired_at=1_795_000_180.0,
    resolved_at=None,
    keep_firing_since=1_795_000_600.0,
    last_eval=1_795_000_660.0,
    last_sent_at=1_795_000_200.0,
    value=2.5,
    expected=0.4,
    lower=0.1,
    upper=0.9,
    score=0.97,
    fraction=0.8,
    tier="stl(1d)",
    reason="out of band",
    annotations={"summary": "slow"},
    transitions=(1_795_000_180.0, 1_795_000_400.0),
    flapping=True,
)
