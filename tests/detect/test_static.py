"""Static thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from alerter import detect


@pytest.mark.parametrize(
    ("spec", "value", "anomalous"),
    [
        ({"above": 0.5}, 0.49, False),
        ({"above": 0.5}, 0.5, False),
        ({"above": 0.5}, 0.51, True),
        ({"below": 10}, 9.0, True),
        ({"below": 10}, 11.0, False),
        ({"above": 5, "below": 1}, 3.0, False),
        ({"above": 5, "below": 1}, 0.0, True),
        ({"above": 5, "below": 1, "direction": "up"}, 0.0, False),
        ({"above": 0}, 0.1, True),
    ],
)
def test_thresholds(spec: dict[str, float], value: float, anomalous: bool) -> None:
    det = detect.build({"detector": "static", **spec}).fit(np.empty(0), np.empty(0))
    verdict = det.evaluate(np.array([1.0]), np.array([value]))
    assert bool(verdict.anomalous[0]) is anomalous
    assert verdict.tier == "static"


def test_score_grows_with_the_distance_past_the_limit() -> None:
    det = detect.build({"detector": "static", "above": 100}).fit(np.empty(0), np.empty(0))
    scores = det.evaluate(np.arange(4.0), np.array([90.0, 100.0, 110.0, 200.0])).scores
    assert scores[0] < 0.5 and scores[1] == pytest.approx(0.5) and scores[2] == pytest.approx(0.9)
    assert np.all(np.diff(scores) > 0)


def test_band_edges_are_the_thresholds() -> None:
    det = detect.build({"detector": "static", "above": 5, "below": 1}).fit(np.arange(10.0), np.full(10, 3.0))
    expected, lower, upper = det.band(np.arange(3.0))
    assert expected.tolist() == [3.0] * 3 and lower.tolist() == [1.0] * 3 and upper.tolist() == [5.0] * 3
