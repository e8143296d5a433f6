"""The alert codec: every field survives every place an alert is stored or shown."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path

from alerter.core import codec
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify.pipeline import decode_alert, encode_alert
from alerter.store.sqlite import Store

FULL = Alert(
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


def test_every_field_is_set_to_something_other_than_its_default() -> None:
    defaults = Alert(rule="r", group="g", labels=Labels())
    same = [
        f.name
        for f in dataclasses.fields(Alert)
        if f.name not in ("rule", "group", "resolved_at")
        and getattr(FULL, f.name) == getattr(defaults, f.name)
    ]
    assert same == [], "FULL must exercise every field, or the round trips below prove nothing"


def test_plain_values_round_trip_through_json() -> None:
    plain = codec.to_plain(FULL)
    assert set(plain) == set(codec.FIELDS)
    assert codec.from_plain(json.loads(json.dumps(plain))) == FULL


def test_missing_numbers_come_back_as_nan_and_absent_fields_take_their_defaults() -> None:
    old = {
        "rule": "r",
        "group": "g",
        "labels": {"a": "1"},
        "state": "pending",
        "value": None,
        "annotations": {},
    }
    alert = codec.from_plain({**old, "not_a_field": 1})
    assert math.isnan(alert.value) and math.isnan(alert.upper)
    assert alert.state is AlertState.PENDING and alert.transitions == () and alert.flapping is False


def test_the_pipeline_and_the_store_keep_every_field(tmp_path: Path) -> None:
    assert decode_alert(encode_alert(FULL)) == FULL
    store = Store(tmp_path / "state.db")
    try:
        store.save_alerts([FULL])
        assert store.load_alerts() == [FULL]
    finally:
        store.close()


def test_the_alerts_table_has_a_column_for_every_field(tmp_path: Path) -> None:
    Store(tmp_path / "state.db").close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(alerts)")}
    assert columns == {"fingerprint", "grp", *(f for f in codec.FIELDS if f != "group")}


def test_templates_see_exactly_the_documented_variables() -> None:
    context = codec.template_context(FULL)
    assert tuple(context) == codec.TEMPLATE_VARIABLES
    assert context["since"] == FULL.active_at and context["labels"] == dict(FULL.labels)
