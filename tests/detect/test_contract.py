"""The detector contract, run over every registered detector."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from alerter import detect
from alerter.core.errors import DetectorError
from alerter.core.model import Verdict
from alerter.detect.base import Detector

# The smallest valid spec per detector; a new detector must add itself here.
SPECS: dict[str, dict[str, Any]] = {
    "auto": {},
    "stl": {"detector": "stl"},
    "mstl": {"detector": "mstl", "seasonality": ["1d", "2d"], "history": "5d"},
    "ewma": {"detector": "ewma"},
    "static": {"detector": "static", "above": 130, "below": 70},
    "burn_rate": {"detector": "burn_rate", "objective": 0.99},
    "forecast": {"detector": "forecast", "budget": 1e6, "period": "week"},
}


def test_every_registered_detector_has_a_spec_here() -> None:
    assert sorted(SPECS) == detect.names()


@pytest.fixture(params=sorted(SPECS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def data(name: str, daily: Any) -> tuple[np.ndarray, np.ndarray]:
    """Five days of a series shaped for the detector: level, error ratio or spend counter."""
    ts, vs = daily(5)
    if name == "burn_rate":
        vs = np.abs(vs - 100) / 2000  # an error ratio well inside the budget
    if name == "forecast":
        vs = np.cumsum(np.abs(vs)) / 100  # a spend counter
    return ts, vs


def test_build_gives_an_unfitted_detector_that_refuses_to_judge(name: str) -> None:
    det = detect.build(SPECS[name])
    assert det.name == name and not det.is_fitted
    with pytest.raises(DetectorError, match="not fitted"):
        det.band(np.array([0.0]))
    with pytest.raises(DetectorError, match="not fitted"):
        det.evaluate(np.array([0.0]), np.array([1.0]))
    with pytest.raises(DetectorError, match="not fitted"):
        det.to_bytes()


def test_fit_returns_self_and_sets_trailing_underscore_attributes(
    name: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    det = detect.build(SPECS[name])
    ts, vs = data
    assert det.fit(ts, vs) is det
    learned = [k for k in vars(det) if k.endswith("_") and not k.startswith("_")]
    assert "params_" in learned and "trained_until_" in learned
    assert det.trained_until_ == ts[-1]


def test_band_and_evaluate_shapes_and_tier(name: str, data: tuple[np.ndarray, np.ndarray]) -> None:
    ts, vs = data
    det = detect.build(SPECS[name]).fit(ts[:-12], vs[:-12])
    expected, lower, upper = det.band(ts[-12:])
    assert expected.shape == lower.shape == upper.shape == (12,)
    assert np.all(lower <= upper)
    verdict = det.evaluate(ts[-12:], vs[-12:])
    assert isinstance(verdict, Verdict) and len(verdict) == 12
    assert verdict.tier and verdict.tier.startswith(name if name != "auto" else "")
    assert np.array_equal(verdict.anomalous, verdict.scores > 0.5)
    assert det.lookback >= 0


def test_evaluate_flags_a_gross_departure(name: str, data: tuple[np.ndarray, np.ndarray]) -> None:
    ts, vs = data
    det = detect.build(SPECS[name]).fit(ts[:-12], vs[:-12])
    window = ts[-12:]
    if name == "forecast":
        bad = vs[-13] + np.arange(1, 13) * 1e5  # spending a budget per sample
    elif name == "burn_rate":
        bad = np.full(12, 0.9)
        window, bad = np.concatenate([ts[-48:-12], window]), np.concatenate([vs[-48:-12], bad])
    else:
        bad = vs[-12:] + 1000
    verdict = det.evaluate(window, bad)
    assert verdict.anomalous[-1] and verdict.score > 0.5


def test_reason_from_points_says_what_evaluate_explains(
    name: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    """The evaluator judges only the trigger window of a detector without lookback unless it
    declares ``reason_from_points``, so the declaration must match what ``evaluate`` does."""
    ts, vs = data
    det = detect.build(SPECS[name]).fit(ts[:-48], vs[:-48])
    assert det.reason_from_points == (type(det)._reason is not Detector._reason)
    windows = [(ts[-n:], vs[-n:]) for n in (48, 12, 3, 1)]
    windows.append((ts[-12:], vs[-12:] * 3 + 1000))  # far outside any band or budget
    reasons = [det.evaluate(w_ts, w_vs).reason for w_ts, w_vs in windows]
    if det.reason_from_points:
        assert all(reasons) and len(set(reasons)) > 1, reasons
    else:
        assert reasons == [""] * len(windows)


def test_score_stream_is_bounded_same_length_and_in_input_order(
    name: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    ts, vs = data
    det = detect.build(SPECS[name])
    scores = det.score_stream(ts, vs)
    assert scores.shape == ts.shape and np.all((scores >= 0) & (scores <= 1))
    perm = np.random.default_rng(1).permutation(ts.size)
    assert np.allclose(det.score_stream(ts[perm], vs[perm]), scores[perm])


def test_score_stream_is_causal(name: str, data: tuple[np.ndarray, np.ndarray]) -> None:
    ts, vs = data
    det = detect.build(SPECS[name])
    cut = int(ts.size * 0.7)
    assert np.allclose(det.score_stream(ts[:cut], vs[:cut]), det.score_stream(ts, vs)[:cut])


def test_score_stream_tolerates_nan_duplicates_gaps_and_datetime64(
    name: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    ts, vs = data
    vs = vs.copy()
    vs[100:110] = np.nan
    keep = np.ones(ts.size, dtype=bool)
    keep[300:400] = False  # a gap
    ts, vs = ts[keep], vs[keep]
    ts = np.concatenate([ts, ts[:50]])  # duplicates
    vs = np.concatenate([vs, vs[:50]])
    as_dt = (ts * 1e9).astype("datetime64[ns]")
    det = detect.build(SPECS[name])
    scores = det.score_stream(as_dt, vs)
    assert scores.shape == ts.shape and np.all(np.isfinite(scores))
    assert np.all(scores[100:110] == 0)
    assert np.allclose(scores, det.score_stream(ts, vs))


def test_score_stream_starts_from_nothing(name: str) -> None:
    det = detect.build(SPECS[name])
    assert det.score_stream(np.empty(0), np.empty(0)).shape == (0,)
    assert det.score_stream(np.array([1.0, 2.0]), np.array([5.0, 6.0])).shape == (2,)


def test_round_trip_through_bytes_keeps_the_band(name: str, data: tuple[np.ndarray, np.ndarray]) -> None:
    ts, vs = data
    det = detect.build(SPECS[name]).fit(ts, vs)
    restored = detect.from_bytes(det.to_bytes())
    assert type(restored) is type(det) and restored.tier == det.tier
    future = ts[-1] + np.arange(1, 50) * 300.0
    for a, b in zip(det.band(future), restored.band(future), strict=True):
        assert np.allclose(a, b, rtol=1e-5, equal_nan=True)
    assert b"pickle" not in det.to_bytes()


def test_corrupt_bytes_are_refused(name: str, data: tuple[np.ndarray, np.ndarray]) -> None:
    ts, vs = data
    data = detect.build(SPECS[name]).fit(ts, vs).to_bytes()
    for bad in (
        b"",
        b"nope" + data[4:],
        data[:4] + b"\x63" + data[5:],
        data[:-1] if len(data) > 200 else data + b"x",
    ):
        with pytest.raises(DetectorError):
            detect.from_bytes(bad)


def test_invalid_parameters_are_refused_in_fit(name: str, data: tuple[np.ndarray, np.ndarray]) -> None:
    det = type(detect.build(SPECS[name]))(**{**SPECS[name], "sensitivity": -1})
    with pytest.raises(DetectorError, match="sensitivity"):
        det.fit(*data)


def test_evaluate_sorts_points_and_drops_those_without_a_time(
    name: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    ts, vs = data
    det = detect.build(SPECS[name]).fit(ts[:-12], vs[:-12])
    window_ts = np.concatenate([ts[-6:], [np.nan], ts[-12:-6]])
    window_vs = np.concatenate([vs[-6:], [1.0], vs[-12:-6]])
    verdict = det.evaluate(window_ts, window_vs)
    assert verdict.timestamps.tolist() == ts[-12:].tolist()
