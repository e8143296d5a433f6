"""The event-window score of benchmarks/_event_score.py on hand-computed cases."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _event_score import STANDARD, Profile, SeriesScore, normalised, score, sigma, windows

# A series spanning [0, 1000] with one point event at 500: its window is 10% of 1000 long,
# centred on the event, so [450, 550].
SPAN = (0.0, 1000.0)
EVENT = [(500.0, 500.0)]
WINDOW = [(450.0, 550.0)]
AT_START = 2 / (1 + math.exp(-5)) - 1  # sigma(-1) = 0.98661...


def test_sigma_runs_from_the_window_start_to_far_after_it() -> None:
    assert sigma(-1.0) == pytest.approx(0.986614, abs=1e-6)
    assert sigma(0.0) == 0.0
    assert sigma(-0.5) == pytest.approx(2 / (1 + math.exp(-2.5)) - 1)
    assert sigma(1e9) == -1.0


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (EVENT, WINDOW),
        # Two events share 10% of the series: 50 each; these two touch and merge.
        ([(100.0, 100.0), (150.0, 150.0)], [(75.0, 175.0)]),
        ([(100.0, 100.0), (800.0, 800.0)], [(75.0, 125.0), (775.0, 825.0)]),
        # An event longer than its share is its own window.
        ([(200.0, 400.0)], [(200.0, 400.0)]),
        # Clipped to the series.
        ([(10.0, 10.0)], [(0.0, 60.0)]),
        ([], []),
    ],
)
def test_windows(events: list[tuple[float, float]], expected: list[tuple[float, float]]) -> None:
    assert windows(events, *SPAN) == expected


CASES = [
    # (what, detections, raw score on WINDOW)
    ("perfect: at the window's start", [450.0], AT_START),
    ("null: never detecting", [], -1.0),
    ("at the window's end scores nothing", [550.0], 0.0),
    ("in the middle", [500.0], 2 / (1 + math.exp(-2.5)) - 1),
    ("a second detection in the window counts nothing", [500.0, 520.0], 2 / (1 + math.exp(-2.5)) - 1),
    ("a false positive before every window costs A_FP", [100.0], -1.0 - 0.11),
    ("one far after the window costs A_FP", [550.0 + 100.0 * 1000], -1.0 - 0.11),
    ("one just after the window costs little", [560.0], -1.0 + 0.11 * (2 / (1 + math.exp(0.5)) - 1)),
    ("a detection and a far false positive", [450.0, 1e6], AT_START - 0.11),
]


@pytest.mark.parametrize(("what", "detections", "raw"), CASES, ids=[c[0] for c in CASES])
def test_score(what: str, detections: list[float], raw: float) -> None:
    result = score(detections, WINDOW)
    assert result.raw == pytest.approx(raw, abs=1e-12)
    assert result.null == -1.0
    assert result.perfect == pytest.approx(AT_START)


def test_normalised_perfect_is_100_and_null_is_0() -> None:
    assert normalised([score([450.0], WINDOW)]) == pytest.approx(100.0)
    assert normalised([score([], WINDOW)]) == pytest.approx(0.0)


def test_one_far_false_positive_costs_0_11_of_a_window() -> None:
    far = normalised([score([450.0, 1e6], WINDOW)])
    assert far == pytest.approx(100.0 - 100.0 * 0.11 / (AT_START + 1.0))


def test_an_early_detection_beats_a_late_one() -> None:
    early, late = score([460.0], WINDOW), score([540.0], WINDOW)
    assert early.raw > late.raw > 0.0
    assert normalised([early]) > normalised([late])


def test_later_detections_in_the_same_window_count_nothing() -> None:
    assert score([460.0, 470.0, 549.0], WINDOW) == score([460.0], WINDOW)


def test_series_are_summed_before_normalising() -> None:
    # One series caught perfectly with one window, one with three windows missed: 1 of 4.
    three = [(100.0, 120.0), (400.0, 420.0), (700.0, 720.0)]
    total = normalised([score([450.0], WINDOW), score([], three)])
    assert total == pytest.approx(100.0 * (AT_START + 1.0) / (4 * (AT_START + 1.0)))
    assert total == pytest.approx(25.0)


def test_profile_weights() -> None:
    lenient = Profile(tp=1.0, fp=0.0, fn=0.5)
    result = score([100.0], WINDOW, lenient)
    assert result == SeriesScore(-0.5, -0.5, AT_START)
    assert Profile(1.0, 0.11, 1.0) == STANDARD


def test_no_windows_gives_nan() -> None:
    assert math.isnan(normalised([score([], [])]))
    assert score([5.0], []).raw == -0.11
