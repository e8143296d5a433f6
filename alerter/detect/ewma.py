"""Exponentially weighted mean and variance: the baseline for series without enough history.

Called through the registry (``detector: ewma``) and by the cold-start ladder for its second
rung (hours of data, or history without a daily pattern). Fast (one pass, constant state),
adapts to level shifts on its own, and needs no seasonality.

Robustness: each update clips the residual at 5 scales (a Huber-style step), so a spike
moves the mean and variance by a bounded amount instead of inflating the band for hours.
Decay is in time, not in samples (``1 - 0.5**(dt / halflife)``), so gaps and irregular
scrapes weigh correctly. A run of out-of-band points longer than ``adopt_after`` resets the
level: the new normal is adopted instead of alerting forever.

Seasonal variant (``seasonality: [1d]``): a per-phase offset, learned by the same clipped
updates (Holt-Winters style), is added to the level, for seasonal series whose history is
too short or too gappy for STL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from alerter.core.durations import format_duration
from alerter.core.model import FloatArray
from alerter.detect import hygiene
from alerter.detect.base import ArrayState, Detector, NotEnoughData
from alerter.detect.registry import register

#: Samples needed before the moving statistics mean anything: enough for the initial scale
#: to see the tail of the noise (hygiene.robust_scale needs 20), not just its median.
WARMUP_POINTS = 24
#: Residuals are clipped at this many scales before updating mean and variance: wide enough
#: that heavy-tailed noise still widens the band, narrow enough that one spike cannot.
CLIP = 5.0
#: The effective half-life spans at least this many samples.
MIN_HALFLIFE_SAMPLES = 6.0
#: The variance forgets this many times slower than the mean: how noisy a series is changes
#: more slowly than its level, and a band that narrows after one quiet hour pages on the
#: next ordinary bump.
VAR_SLOWER = 8.0
#: Seasonal variant: share of a residual a phase of the season learns per visit; about
#: three cycles to forget an old shape (0.5 ** (1/3) ≈ 0.79 kept per cycle).
SEASON_WEIGHT = 1.0 - 0.5 ** (1 / 3)


@dataclass
class EwmaState:
    """The complete learned state; small enough to persist as JSON scalars."""

    mean: float = float("nan")
    var: float = 0.0
    count: int = 0
    last_t: float = float("nan")
    run_side: float = 0.0
    run_start: float = float("nan")
    run_sum: float = 0.0
    run_count: int = 0
    run_sq: float = 0.0
    halflife: float = 3600.0
    step: float = 0.0
    profile: list[float] = field(default_factory=list)


def _phase(state: EwmaState, t: float) -> int:
    return math.floor(t / state.step + 1e-7) % len(state.profile)


def _init(state: EwmaState, ts: FloatArray, vs: FloatArray, params: Mapping[str, Any]) -> None:
    head = vs[:WARMUP_POINTS]
    native = hygiene.native_step(ts[:WARMUP_POINTS])
    # A half-life shorter than a few samples would chase the noise of coarse series.
    state.halflife = max(params["halflife"], MIN_HALFLIFE_SAMPLES * native)
    if params["seasonality"]:
        season = params["seasonality"][0]
        bins = max(round(season / max(params["resolution"], native)), 2)
        state.step, state.profile = season / bins, [0.0] * bins
        # A level faster than a quarter season would follow the cycle itself and leave the
        # profile nothing to learn.
        state.halflife = max(state.halflife, season / 4)
    state.mean = float(np.median(head))
    state.var = hygiene.robust_scale(head) ** 2
    state.count = int(head.size)
    state.last_t = float(ts[head.size - 1])


def _step(state: EwmaState, t: float, x: float, params: Mapping[str, Any]) -> float:
    """Score one point against the state, then learn from it; returns the score."""
    scale = max(math.sqrt(state.var), 1e-6 * abs(state.mean), 1e-12)
    half = float(params["sensitivity"] * scale + params["min_deviation"])
    phase = _phase(state, t) if state.profile else -1
    offset = state.profile[phase] if state.profile else 0.0
    r = x - state.mean - offset
    direction = params["direction"]
    dev = max(r, 0.0) if direction == "up" else min(r, 0.0) if direction == "down" else r
    r2 = (dev / half) ** 2
    score = r2 / (1.0 + r2)
    alpha = 1.0 - 0.5 ** (max(t - state.last_t, 0.0) / state.halflife)
    side = math.copysign(1.0, r) if abs(r) > half else 0.0
    if side and side == state.run_side:
        state.run_sum += x - offset
        state.run_sq += (x - offset) ** 2
        state.run_count += 1
    elif side:
        state.run_side, state.run_start, state.run_count = side, t, 1
        state.run_sum, state.run_sq = x - offset, (x - offset) ** 2
    else:
        state.run_side, state.run_count = 0.0, 0
    adopt = params["adopt_after"]
    if state.run_side and adopt > 0 and t - state.run_start >= adopt:
        # Adopt the new level, and its noise if that is larger than the old one's.
        state.mean = state.run_sum / state.run_count
        state.var = max(state.var, state.run_sq / state.run_count - state.mean**2)
        state.run_side, state.run_count = 0.0, 0
    else:
        bound = CLIP * scale
        clipped = min(max(r, -bound), bound)
        state.mean += alpha * clipped
        beta = 1.0 - 0.5 ** (max(t - state.last_t, 0.0) / (state.halflife * VAR_SLOWER))
        # Young state: a plain running mean of squares until the slow average has had time to
        # see more than its warm-up sample (which may have been a quiet hour).
        beta = max(beta, 1.0 / (state.count + 1))
        state.var = (1.0 - beta) * state.var + beta * clipped * clipped
        if state.profile:  # what the level did not take, this phase of the season learns
            state.profile[phase] += SEASON_WEIGHT * (1.0 - alpha) * clipped
    state.count += 1
    state.last_t = t
    return score


def run(state: EwmaState, ts: FloatArray, vs: FloatArray, params: Mapping[str, Any]) -> FloatArray:
    """Score each point causally while updating ``state``; the first points warm it up."""
    scores = np.zeros(ts.shape[0], dtype=np.float64)
    start = 0
    if state.count == 0:
        if ts.size < WARMUP_POINTS:
            return scores
        _init(state, ts, vs, params)
        start = WARMUP_POINTS
    tl, vl = ts.tolist(), vs.tolist()
    for i in range(start, len(tl)):
        if vl[i] == vl[i]:  # NaN (a dropped counter-reset artefact) is neither scored nor learned
            scores[i] = _step(state, tl[i], vl[i], params)
    return scores


@register
class EwmaDetector(Detector):
    """Robust exponentially weighted moving mean and variance."""

    name = "ewma"

    def _fit(self, ts: FloatArray, vs: FloatArray, params: dict[str, Any]) -> None:
        if ts.size < WARMUP_POINTS:
            raise NotEnoughData(f"ewma needs at least {WARMUP_POINTS} samples, got {ts.size}")
        self.state_ = EwmaState()
        run(self.state_, ts, vs, params)

    @property
    def tier(self) -> str:
        if self.is_fitted and self.state_.profile:
            return f"ewma({format_duration(self.state_.step * len(self.state_.profile))})"
        return "ewma"

    def _expect(self, ts: FloatArray) -> tuple[FloatArray, FloatArray]:
        state = self.state_
        scale = hygiene.scale_floor(state.mean, math.sqrt(state.var))
        expected = np.full(ts.shape[0], state.mean)
        if state.profile:
            bins = hygiene.bin_index(ts, state.step) % len(state.profile)
            expected = expected + np.asarray(state.profile)[bins]
        return expected, np.full(ts.shape[0], scale)

    def _stream_block(self, ts: FloatArray, vs: FloatArray) -> FloatArray:
        return run(self.state_, ts, vs, self._check_fitted())

    def score_stream(self, timestamps: Any, values: Any) -> FloatArray:
        """One causal pass: each point is scored against the state before it, then learned."""
        params = self._validated()
        ts_all = hygiene.as_seconds(timestamps)
        vs_all = hygiene.as_values(values, ts_all.shape[0])
        scores = np.zeros(ts_all.shape[0], dtype=np.float64)
        valid = np.flatnonzero(np.isfinite(ts_all) & np.isfinite(vs_all))
        idx = valid[np.argsort(ts_all[valid], kind="stable")]
        scores[idx] = run(EwmaState(), ts_all[idx], hygiene.drop_reset_artefacts(vs_all[idx]), params)
        return np.nan_to_num(scores, nan=0.0)

    def _state(self) -> tuple[dict[str, Any], ArrayState]:
        scalars = asdict(self.state_)
        profile = np.asarray(scalars.pop("profile"), dtype=np.float32)
        return scalars, {"profile": profile}

    def _load_state(self, scalars: Mapping[str, Any], arrays: ArrayState) -> None:
        self.state_ = EwmaState(**scalars, profile=arrays["profile"].astype(np.float64).tolist())
