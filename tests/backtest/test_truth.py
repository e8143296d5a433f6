"""Scoring a backtest against the simulator's ground truth: reading the file, matching pages to
incidents, delays, false pages and per-rule totals, as tables of small cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alerter.backtest.truth import Incident, Truth, read_truth, score
from alerter.core.errors import ConfigErrors
from alerter.sim.faults import Fault
from alerter.sim.fleet import Fleet
from alerter.sim.history import write_truth

EPOCH = 1_795_010_400.0  # 2026-11-18T14:00Z
MIN = 60.0
TOL = 10 * MIN


def test_the_file_the_simulator_writes_is_read(tmp_path: Path) -> None:
    fleet = Fleet(seed=3)
    model = fleet.models[0].name
    faults = (
        Fault("error_surge", model, EPOCH, 1800.0),
        Fault("latency_regression", model, EPOCH - 7200, 900.0),
    )
    path = tmp_path / "truth.json"
    write_truth(Fleet(seed=3, faults=faults), EPOCH - 86400, EPOCH + 86400, 15.0, path)
    truth = read_truth(path)
    assert [(i.kind, i.model, i.start, i.end) for i in truth.incidents] == [
        ("latency_regression", model, EPOCH - 7200, EPOCH - 6300),
        ("error_surge", model, EPOCH, EPOCH + 1800),
    ]
    assert {"model_name": model} in truth.incidents[0].series


@pytest.mark.parametrize(
    ("text", "where", "field", "message"),
    [
        ("[]", ":1:1", "", "must be a mapping"),
        ('{"incidents": 3}', ":1:15", "incidents", "must be a list of incidents"),
        (
            '{"incidents": [\n  {"kind": "x", "model": "m", "start": "soon", "end": 5}]}',
            ":2:40",
            "incidents[0].start",
            "unix seconds",
        ),
        (
            '{"incidents": [\n  {"kind": "x", "model": "", "start": 1, "end": 5}]}',
            ":2:26",
            "incidents[0].model",
            "non-empty",
        ),
        (
            '{"incidents": [\n  {"kind": "x", "model": "m", "start": 9, "end": 5}]}',
            ":2:50",
            "incidents[0].end",
            "after start",
        ),
        (
            '{"incidents": [\n  {"kind": "x", "model": "m", "start": 1, "end": 5,\n   "series": [{"labels": {"a": 1}}]}]}',
            ":3:16",
            "incidents[0].series[0].labels",
            "label names to strings",
        ),
    ],
)
def test_a_bad_file_is_refused_at_file_line_and_field(
    tmp_path: Path, text: str, where: str, field: str, message: str
) -> None:
    path = tmp_path / "truth.json"
    path.write_text(text)
    with pytest.raises(ConfigErrors) as caught:
        read_truth(path)
    (error,) = caught.value.errors
    assert str(error.location) == f"{path}{where}"
    assert error.path == field and message in error.message
    assert "incidents" in error.hint or error.path, "the fix names the file's shape"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text(json.dumps({"incidents": [{"kind": 1, "model": "m", "start": 1}, "no"]}))
    with pytest.raises(ConfigErrors) as caught:
        read_truth(path)
    assert sorted(e.path for e in caught.value.errors) == [
        "incidents[0].end",
        "incidents[0].kind",
        "incidents[1]",
    ]


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match="ground-truth file not found"):
        read_truth(tmp_path / "nope.json")


def test_duration_stands_in_for_end(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text(json.dumps({"incidents": [{"kind": "k", "model": "m", "start": 100, "duration": 50}]}))
    assert read_truth(path).incidents[0].end == 150


# -- scoring --------------------------------------------------------------------------------------


def incident(start: float, minutes: float = 30, model: str = "llama3", index: int = 0) -> Incident:
    return Incident(
        index, "latency_regression", model, start, start + minutes * MIN, ({"model_name": model},)
    )


def page(rule: str, fired: float | None, **labels: str) -> dict[str, Any]:
    return {
        "rule": rule,
        "labels": labels or {"model_name": "llama3"},
        "active_at": (fired or EPOCH) - 5 * MIN,
        "fired_at": fired,
        "resolved_at": None,
    }


@pytest.mark.parametrize(
    ("alert", "caught", "delay"),
    [
        (page("R", EPOCH + 7 * MIN), True, 7 * MIN),
        (page("R", EPOCH - 5 * MIN), True, -5 * MIN),  # a little before the recorded start
        (page("R", EPOCH - 11 * MIN), False, None),  # already firing before: not a detection
        (page("R", EPOCH + 40 * MIN), True, 40 * MIN),  # within the tolerance after the end
        (page("R", EPOCH + 41 * MIN), False, None),
        (page("R", EPOCH + MIN, model_name="qwen"), False, None),  # another model
        (page("R", EPOCH + MIN, job="gateway"), True, MIN),  # fleet-wide: on time alone
        (page("R", EPOCH + MIN, model_name="llama3", pod="p-1"), True, MIN),  # extra labels are fine
        (page("R", None), False, None),  # pending only: never paged
    ],
)
def test_a_page_catches_an_incident_by_time_and_labels(
    alert: dict[str, Any], caught: bool, delay: float | None
) -> None:
    got = score(Truth("t.json", (incident(EPOCH),)), [alert], EPOCH - 86400, EPOCH + 86400, TOL)
    (row,) = got["incidents"]
    assert (row["caught"], row["delay"]) == (caught, delay)
    fired = alert["fired_at"] is not None
    assert got["totals"]["false_pages"] == (1 if fired and not caught else 0)


def test_per_incident_first_page_per_rule_totals_and_false_pages() -> None:
    truth = Truth("t.json", (incident(EPOCH, index=0), incident(EPOCH + 86400, model="qwen", index=1)))
    alerts = [
        page("TTFT", EPOCH + 9 * MIN),
        page("TTFT", EPOCH + 12 * MIN),  # the same incident again: not false, not a second catch
        page("Queue", EPOCH + 3 * MIN),
        page("TTFT", EPOCH + 5 * 3600),  # between incidents
        page("Queue", None),
    ]
    got = score(truth, alerts, EPOCH - 3600, EPOCH + 2 * 86400, TOL)
    first, second = got["incidents"]
    assert first["caught"] and first["delay"] == 3 * MIN
    assert first["first_page"] == {
        "rule": "Queue",
        "labels": {"model_name": "llama3"},
        "fired_at": EPOCH + 3 * MIN,
    }
    assert first["rules"] == ["Queue", "TTFT"]
    assert not second["caught"] and second["first_page"] is None
    assert got["false_pages"] == [
        {"rule": "TTFT", "labels": {"model_name": "llama3"}, "fired_at": EPOCH + 5 * 3600}
    ]
    assert got["per_rule"] == {
        "Queue": {"pages": 1, "false_pages": 0, "caught": 1, "median_delay": 3 * MIN},
        "TTFT": {"pages": 3, "false_pages": 1, "caught": 1, "median_delay": 9 * MIN},
    }
    assert got["totals"] == {
        "incidents": 2,
        "caught": 1,
        "missed": 1,
        "outside": 0,
        "pages": 4,
        "false_pages": 1,
        "median_delay": 3 * MIN,
    }


def test_incidents_outside_the_replayed_range_are_counted_not_scored() -> None:
    truth = Truth("t.json", (incident(EPOCH - 86400), incident(EPOCH, index=1)))
    got = score(truth, [], EPOCH - 3600, EPOCH + 3600, TOL)
    assert [i["index"] for i in got["incidents"]] == [1]
    assert got["totals"]["outside"] == 1 and got["totals"]["missed"] == 1


def test_an_incident_without_series_matches_the_model_labels() -> None:
    bare = Incident(0, "silent", "llama3", EPOCH, EPOCH + 1800, ())
    truth = Truth("t.json", (bare,))
    assert (
        score(truth, [page("R", EPOCH, model="llama3")], EPOCH - 60, EPOCH + 7200, TOL)["totals"]["caught"]
        == 1
    )
    assert (
        score(truth, [page("R", EPOCH, model="qwen")], EPOCH - 60, EPOCH + 7200, TOL)["totals"]["caught"] == 0
    )
