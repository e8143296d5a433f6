"""Training hygiene: messy samples in, sorted unique finite samples out."""

from __future__ import annotations

import numpy as np
import pytest

from alerter.core.errors import DetectorError
from alerter.detect import hygiene


def test_clean_sorts_averages_duplicates_and_drops_nan() -> None:
    ts, vs = hygiene.clean([30, 10, 20, 10, 40], [3.0, 1.0, np.nan, 2.0, 4.0])
    assert ts.tolist() == [10, 30, 40]
    assert vs.tolist() == [1.5, 3.0, 4.0]


def test_clean_leaves_out_excluded_intervals() -> None:
    ts, _ = hygiene.clean(np.arange(10.0), np.ones(10), exclude=[(2, 4), (7, 8)])
    assert ts.tolist() == [0, 1, 4, 5, 6, 8, 9]


@pytest.mark.parametrize("bad", [[(5, 1)], [(1, 2, 3)]])
def test_clean_refuses_malformed_exclusions(bad: list[tuple[float, ...]]) -> None:
    with pytest.raises(DetectorError, match="exclude"):
        hygiene.clean(np.arange(3.0), np.ones(3), exclude=bad)


def test_datetime64_becomes_unix_seconds() -> None:
    out = hygiene.as_seconds(np.array(["2024-01-01T00:00:01"], dtype="datetime64[s]"))
    assert out.tolist() == [1704067201.0]


@pytest.mark.parametrize(
    ("ts", "vs", "words"),
    [
        (np.array(["a"]), [1.0], "datetime64"),
        (np.zeros((2, 2)), [1.0], "1-D"),
        (np.zeros(2), [1.0], "one value"),
    ],
)
def test_bad_inputs_are_refused_clearly(ts: np.ndarray, vs: list[float], words: str) -> None:
    with pytest.raises(DetectorError, match=words):
        hygiene.clean(ts, vs)


def test_negative_reset_artefacts_are_dropped_only_from_nonnegative_series() -> None:
    values = np.abs(np.sin(np.arange(500.0))) + 1
    values[100] = -50.0
    assert np.isnan(hygiene.drop_reset_artefacts(values)[100])
    signed = np.sin(np.arange(500.0))
    assert np.array_equal(hygiene.drop_reset_artefacts(signed), signed)


def test_resample_aligns_bins_to_the_epoch_and_marks_gaps() -> None:
    grid, out = hygiene.resample(np.array([601.0, 659.0, 900.0]), np.array([1.0, 3.0, 5.0]), 300.0)
    assert grid.tolist() == [600.0, 900.0]
    assert out.tolist() == [2.0, 5.0]
    grid, out = hygiene.resample(np.array([0.0, 900.0]), np.array([1.0, 2.0]), 300.0)
    assert np.isnan(out[1:3]).all() and hygiene.fill_gaps(out).tolist() == pytest.approx([1, 4 / 3, 5 / 3, 2])


def test_robust_scale_ignores_a_few_outliers_but_sees_heavy_tails() -> None:
    rng = np.random.default_rng(0)
    gaussian = rng.normal(0, 2, 5000)
    assert hygiene.robust_scale(gaussian) == pytest.approx(2, rel=0.1)
    spiked = gaussian.copy()
    spiked[:3] = 1e6
    assert hygiene.robust_scale(spiked) == pytest.approx(2, rel=0.1)
    heavy = rng.standard_t(2, 5000)
    assert hygiene.robust_scale(heavy) > 1.5 * 1.4826 * np.median(np.abs(heavy - np.median(heavy)))


def test_robust_scale_of_a_mostly_zero_count_series_is_not_zero() -> None:
    counts = np.zeros(15)
    counts[3] = 1
    assert hygiene.robust_scale(counts) > 0


@pytest.mark.parametrize(
    ("shift", "adopt_after", "expected"),
    [(10.0, 3600.0, 10.0), (10.0, 0.0, 0.0), (0.0, 3600.0, 0.0), (-10.0, 3600.0, -10.0), (10.0, 1e6, 0.0)],
)
def test_a_sustained_shift_is_adopted_after_the_configured_time(
    shift: float, adopt_after: float, expected: float
) -> None:
    ts = np.arange(0, 4 * 3600, 60.0)
    resid = np.random.default_rng(1).normal(0, 1, ts.size)
    resid[ts >= ts[-1] - 2 * 3600] += shift
    assert hygiene.shift_to_adopt(ts, resid, 1.0, 3.0, adopt_after) == pytest.approx(expected, abs=0.5)
