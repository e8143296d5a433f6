"""The alert codec: every field survives every place an alert is stored or shown."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path

import pytest
from harness.alerts import EVERY_FIELD

from alerter.core import codec
from alerter.core.model import Alert, AlertState, Labels
from alerter.notify.pipeline import decode_alert, encode_alert
from alerter.store.sqlite import Store

FULL = EVERY_FIELD


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


def test_the_store_keeps_every_field(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    try:
        store.save_alerts([FULL])
        assert store.load_alerts() == [FULL]
    finally:
        store.close()


def test_the_pipeline_keeps_every_field_but_the_flap_history() -> None:
    assert set(codec.NOTIFIED) | set(codec.FLAP_HISTORY) == set(codec.FIELDS)
    assert decode_alert(encode_alert(FULL)) == dataclasses.replace(FULL, transitions=(), flapping=False)


# What the group tables and the alerts table hold, as written before the codec existed: new code
# writes the same bytes and reads these back unchanged.
STORED_GROUP_JSON = (
    '{"active_at": 1795000000.0, "annotations": {"summary": "slow"}, "expected": 0.4, '
    '"fired_at": 1795000180.0, "fraction": 0.8, "group": "latency", "keep_firing_since": 1795000600.0, '
    '"labels": {"model_name": "llama", "namespace": "inference"}, "last_eval": 1795000660.0, '
    '"last_sent_at": 1795000200.0, "lower": 0.1, "reason": "out of band", "resolved_at": null, '
    '"rule": "TTFTAnomaly", "score": 0.97, "state": "firing", "tier": "stl(1d)", "upper": 0.9, "value": 2.5}'
)
STORED_BARE_GROUP_JSON = (
    '{"active_at": null, "annotations": {}, "expected": NaN, "fired_at": 0, "fraction": 0.0, '
    '"group": "g", "keep_firing_since": null, "labels": {"s": "2"}, "last_eval": null, '
    '"last_sent_at": null, "lower": NaN, "reason": "", "resolved_at": 60, "rule": "R", "score": 0.0, '
    '"state": "resolved", "tier": "", "upper": NaN, "value": NaN}'
)
BARE = Alert(rule="R", group="g", labels=Labels(s="2"), state=AlertState.RESOLVED, fired_at=0, resolved_at=60)


def test_group_json_stored_today_loads_and_is_written_byte_for_byte() -> None:
    assert encode_alert(FULL) == STORED_GROUP_JSON
    assert encode_alert(BARE) == STORED_BARE_GROUP_JSON
    assert decode_alert(STORED_GROUP_JSON) == dataclasses.replace(FULL, transitions=(), flapping=False)
    bare = decode_alert(STORED_BARE_GROUP_JSON)
    assert dataclasses.replace(bare, value=0.0, expected=0.0, lower=0.0, upper=0.0) == dataclasses.replace(
        BARE, value=0.0, expected=0.0, lower=0.0, upper=0.0
    )
    assert all(math.isnan(getattr(bare, name)) for name in ("value", "expected", "lower", "upper"))


def test_an_alerts_row_stored_today_loads(tmp_path: Path) -> None:
    Store(tmp_path / "state.db").close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute(
            "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                FULL.fingerprint, "latency", "TTFTAnomaly", '{"model_name": "llama", "namespace": "inference"}',
                "firing", 1795000000.0, 1795000180.0, None, 1795000600.0, 1795000660.0, 1795000200.0,
                2.5, 0.4, 0.1, 0.9, 0.97, 0.8, "stl(1d)", "out of band", '{"summary": "slow"}',
                "[1795000180.0, 1795000400.0]", 1,
            ),
        )  # fmt: skip
        db.execute(
            "INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "plain", "g", "R", '{"s": "1"}', "inactive", None, None, None, None, None, None,
                None, None, None, None, 0.0, 0.0, "", "", "{}", "[]", 0,
            ),
        )  # fmt: skip
    store = Store(tmp_path / "state.db")
    try:
        full, plain = sorted(store.load_alerts(), key=lambda a: a.group != "latency")
    finally:
        store.close()
    assert full == FULL
    assert (plain.state, plain.transitions, plain.flapping, plain.active_at) == (
        AlertState.INACTIVE,
        (),
        False,
        None,
    )
    assert all(math.isnan(getattr(plain, name)) for name in ("value", "expected", "lower", "upper"))


def test_to_plain_shows_the_fields_asked_for_in_that_order() -> None:
    assert list(codec.to_plain(FULL, ("state", "rule", "transitions"))) == ["state", "rule", "transitions"]
    assert codec.to_plain(FULL, ("transitions", "flapping")) == {
        "transitions": [1_795_000_180.0, 1_795_000_400.0],
        "flapping": True,
    }


def test_to_plain_refuses_a_name_that_is_not_a_field() -> None:
    with pytest.raises(ValueError, match="'fingerprint' is not a field of Alert"):
        codec.to_plain(FULL, ("fingerprint",))


def test_the_alerts_table_has_a_column_for_every_field(tmp_path: Path) -> None:
    Store(tmp_path / "state.db").close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(alerts)")}
    assert columns == {"fingerprint", "grp", *(f for f in codec.FIELDS if f != "group")}


def test_templates_see_exactly_the_documented_variables() -> None:
    context = codec.template_context(FULL)
    assert tuple(context) == codec.TEMPLATE_VARIABLES
    assert context["since"] == FULL.active_at and context["labels"] == dict(FULL.labels)
