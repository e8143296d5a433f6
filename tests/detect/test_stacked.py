"""Stacked detectors judge every row exactly as each detector's own ``evaluate`` judges its series.

Bit for bit: every array is compared by its bytes (so -0.0 against 0.0 or another NaN would
fail), for each kind that stacks (STL, MSTL, EWMA with and without a season, the ``auto``
ladder at its widened first day, with the day before, with the week before), for fitted and
for restored baselines (whose profiles are float32), with NaN values and points a row lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from alerter import detect
from alerter.core.model import FloatArray, Verdict
from alerter.detect import stacked
from alerter.detect.ewma import EwmaDetector
from alerter.detect.ladder import AutoDetector

DAY = 86400.0
T0 = 1_767_571_200.0  # 2026-01-05T00:00Z, a Monday


def _history(
    days: float, seed: int, *, weekly: bool = False, step: float = 300.0, noise: bool = True
) -> tuple[Any, Any]:
    """A daily sine with noise and 1 % NaNs; without noise the band is only the profile's
    resolution error (how far the truth may be between two learned instants)."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(0.0, days * DAY, step)
    level = 50 + 10 * seed
    vs = level + 15 * np.sin(2 * np.pi * ts / DAY + seed) + rng.normal(0, 1 + seed % 3, ts.size) * noise
    if weekly:
        vs = vs - 20 * (((ts - T0) // DAY) % 7 >= 5)
    vs[rng.random(ts.size) < 0.01] = np.nan
    return ts, vs


def _window(end: float, seed: int, count: int, base: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """Six one-minute points after ``end`` for ``count`` rows: noise, an incident, NaNs, gaps."""
    rng = np.random.default_rng(seed)
    ts = end + 1800 + base * np.arange(1, 7)
    vs = 50 + 15 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, 20, (count, ts.size))
    vs[::3, 2:] += 200.0  # an incident on every third row
    vs[1::4, 1:] -= 200.0
    vs[rng.random(vs.shape) < 0.1] = np.nan
    return ts, vs


def _bits(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _same(one: Verdict, many: stacked.Judged, row: int, keep: np.ndarray) -> None:
    for name in ("expected", "lower", "upper", "scores", "anomalous", "scale"):
        mine = getattr(many, name)[row, keep]
        theirs = getattr(one, name)
        assert _bits(np.ascontiguousarray(mine), np.ascontiguousarray(theirs)), (name, row, mine, theirs)


def _check(detectors: Sequence[detect.Detector], seed: int = 0) -> None:
    rows = [stacked.row(d) for d in detectors]
    assert all(r is not None for r in rows), [type(d).__name__ for d in detectors]
    groups = stacked.group(rows)
    end = max(float(getattr(d, "trained_until_", T0)) for d in detectors)
    ts, vs = _window(end, seed, len(detectors))
    gaps = np.random.default_rng(seed + 1).random(vs.shape) < 0.15  # points a row lacks
    for positions in groups.values():
        stack = stacked.Stack([rows[i] for i in positions])
        judged = stack.judge(ts, np.where(gaps[positions], np.nan, vs[positions]))
        for k, i in enumerate(positions):
            keep = ~gaps[i]
            one = detectors[i].evaluate(ts[keep], vs[i][keep])
            _same(one, judged, k, keep)
            assert one.tier == rows[i].tier


def _fit(spec: dict[str, Any], days: float, seed: int, **kw: Any) -> detect.Detector:
    ts, vs = _history(days, seed, **kw)
    return detect.build(spec).fit(ts, vs)


def _restored(det: detect.Detector) -> detect.Detector:
    return detect.from_bytes(det.to_bytes())


@pytest.mark.parametrize("restore", [False, True], ids=["fitted", "restored"])
@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ({"detector": "stl", "history": "4d"}, 4),
        ({"detector": "stl", "history": "4d", "per_phase_scale": False, "direction": "up"}, 4),
        ({"detector": "stl", "history": "4d", "sensitivity": 2, "min_deviation": 3.5}, 4),
        ({"detector": "mstl", "seasonality": ["6h", "1d"], "history": "3d", "direction": "down"}, 3),
        ({"detector": "ewma", "history": "1d"}, 1),
        ({"detector": "ewma", "history": "2d", "seasonality": ["1d"], "halflife": "30m"}, 2),
    ],
)
def test_each_kind_stacks_bit_for_bit(spec: dict[str, Any], days: float, restore: bool) -> None:
    dets = [_fit(spec, days, seed) for seed in range(6)] + [_fit(spec, days, 9, noise=False, step=60.0)]
    _check([_restored(d) for d in dets] if restore else dets)


@pytest.mark.parametrize("restore", [False, True], ids=["fitted", "restored"])
def test_every_rung_of_the_ladder_stacks_bit_for_bit(restore: bool) -> None:
    spec = {"history": "30d", "sensitivity": 2.5, "min_deviation": 0.5}
    dets = [
        _fit(spec, 0.5, 0),  # ewma, its first day: widened
        _fit(spec, 0.6, 1),
        _fit(spec, 2, 2),  # ewma and the day before
        _fit(spec, 2.5, 3),
        _fit(spec, 4, 4),  # stl(1d)
        _fit(spec, 9, 5),  # stl(1d) and the week before
        _fit(spec, 9, 6, weekly=True),
        _fit(spec, 29, 7, weekly=True),  # mstl(1d,1w)
    ]
    assert isinstance(dets[0], AutoDetector) and dets[0].widen_ == 2.0
    assert isinstance(dets[2], AutoDetector) and dets[2].day_before_ is not None
    assert isinstance(dets[5], AutoDetector) and dets[5].day_before_ is not None
    assert dets[5].day_before_.period == 7 * DAY
    assert dets[7].tier == "mstl(1d,1w)"
    _check([_restored(d) for d in dets] if restore else dets, seed=3)


def test_directions_stack_apart_and_each_matches() -> None:
    dets = [
        _fit({"detector": "stl", "history": "4d", "direction": d}, 4, s)
        for s, d in enumerate(["up", "down", "both"] * 2)
    ]
    assert len(stacked.group([stacked.row(d) for d in dets])) == 3
    _check(dets)


def test_what_does_not_stack_has_no_row() -> None:
    static = detect.build({"detector": "static", "above": 10}).fit(np.empty(0), np.empty(0))
    assert stacked.row(static) is None
    assert stacked.row(detect.build({"detector": "stl"})) is None  # not fitted
    ts, vs = _history(0.01, 0, step=60.0)
    ladder_static = detect.build({"above": 10}).fit(ts[:5], vs[:5])
    assert ladder_static.tier == "static" and stacked.row(ladder_static) is None

    class Louder(EwmaDetector):
        """A subclass judging its own way is judged alone, never by the stack's copy of EWMA."""

        def _expect(self, ts: FloatArray) -> tuple[FloatArray, FloatArray]:
            expected, scale = super()._expect(ts)
            return expected, 2 * scale

    louder = Louder(history="1d").fit(*_history(1, 0))
    assert stacked.row(louder) is None
    wrapped = detect.build({"history": "1d"}).fit(*_history(1, 0))
    assert isinstance(wrapped, AutoDetector)
    wrapped.inner_ = louder
    assert stacked.row(wrapped) is None


def test_a_stack_refuses_values_of_another_shape() -> None:
    det = _fit({"detector": "ewma", "history": "1d"}, 1, 0)
    row = stacked.row(det)
    assert row is not None
    stack = stacked.Stack([row, row])
    with pytest.raises(ValueError, match="shape"):
        stack.judge(np.arange(3.0), np.zeros((3, 3)))
