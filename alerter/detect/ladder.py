"""The cold-start ladder (``detector: auto``) and season detection.

Called through the registry as the default detector. A new series has no history, yet the
engine must not alert blindly nor stay silent for weeks, so the baseline climbs as history
accumulates and each verdict names the rung that judged (``static`` -> ``ewma`` ->
``stl(1d)`` -> ``mstl(1d,1w)``):

- fewer than a dozen samples: the static thresholds (``above``/``below``) if any, else
  nothing can be said yet (:class:`NotEnoughData`);
- hours of data, or history without a detectable daily pattern: robust EWMA;
- at least 3 days with a daily pattern: robust daily STL;
- at least 4 weeks with a weekly pattern on top: daily+weekly MSTL. A weekly component fitted
  on two weeks absorbs real anomalies (each weekday is seen only twice), hence four.

When ``seasonality`` is given, detection is skipped but the history requirements still hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from alerter.core.model import FloatArray
from alerter.detect import hygiene, spec
from alerter.detect.base import ArrayState, Detector, NotEnoughData, training_window
from alerter.detect.daybefore import DayBefore
from alerter.detect.ewma import WARMUP_POINTS
from alerter.detect.registry import REGISTRY, from_bytes, register

DAY, WEEK = 86400.0, 7 * 86400.0
#: Cycles of history a season needs before the ladder uses it.
CYCLES_NEEDED = {DAY: 3, WEEK: 4}
#: Share of the detrended variance a season must explain to count as present.
MIN_STRENGTH = 0.3
#: A series with less history than this is still being learned: its EWMA band is LEARNING_WIDEN
#: times as wide. Nothing says yet what its day looks like, and the morning ramp of a busy
#: service is a departure from the night's level that only a day of history explains.
LEARNING = DAY
LEARNING_WIDEN = 2.0
#: Grid of the week before a daily STL keeps (168 values a week): an hour is fine enough to say
#: "last Saturday at this time the series was at half its weekday level".
WEEK_BEFORE_STEP = 3600.0
#: The week before keeps the rule's past firing periods that lasted at least this long. An
#: incident is over within the hour or two it takes to notice and fix; a departure that lasts
#: for hours without recovering (a weekend at half the weekday level, a holiday) is the week's
#: shape, and leaving it out would page on the same weekend every week until MSTL has four
#: weeks. On the simulator no incident lasts more than an hour.
WEEK_KEEPS_LONGER = 3 * 3600.0


def _cycles_needed(season: float) -> int:
    return CYCLES_NEEDED.get(season, 4 if season >= WEEK else 3)


def _profile(y: FloatArray, period: int) -> tuple[float, FloatArray]:
    """Seasonal strength over ``period`` bins, and ``y`` with that mean profile removed.

    Detrending uses a centred moving average of one period, so a cycle is not mistaken for
    trend; strength is ``1 - var(remainder) / var(detrended)``, the share of the detrended
    variance the mean profile explains, corrected for what it explains by chance.
    """
    n = y.size
    if n < 2 * period:
        return 0.0, y
    trend = np.convolve(y, np.ones(period) / period, mode="same")
    half = period // 2
    detrended = (y - trend)[half : n - half]
    phase = np.arange(half, n - half) % period
    sums = np.bincount(phase, weights=detrended, minlength=period)
    means = sums / np.maximum(np.bincount(phase, minlength=period), 1)
    remainder = detrended - means[phase]
    total = float(np.var(detrended))
    raw = 1.0 - float(np.var(remainder)) / total if total > 0 else 0.0
    # Phase means of pure noise over k cycles still "explain" about 1/k of its variance
    # (each mean keeps 1/k of the noise): discount that, as an adjusted R² does.
    chance = period / detrended.size
    strength = max(0.0, (raw - chance) / (1.0 - chance))
    return strength, y - means[np.arange(n) % period]


def seasonal_strength(y: FloatArray, period: int) -> float:
    """Share of the detrended variance of ``y`` explained by its mean profile over ``period``."""
    return _profile(y, period)[0]


def detect_seasons(ts: FloatArray, vs: FloatArray, candidates: Sequence[float] = (DAY, WEEK)) -> list[float]:
    """Candidate seasons present in the data, judged on an hourly (or coarser) grid."""
    step = max(3600.0, hygiene.native_step(ts))
    _, y = hygiene.resample(ts, vs, step)
    if y.size == 0 or np.isfinite(y).mean() < 0.5:
        return []
    y = hygiene.fill_gaps(y)
    found: list[float] = []
    for season in sorted(candidates):
        # Each longer season is judged on what the shorter ones found leave unexplained:
        # a weekly profile trivially "explains" a daily cycle it contains.
        period = round(season / step)
        if period < 4:
            continue
        strength, rest = _profile(y, period)
        if strength >= MIN_STRENGTH:
            found.append(season)
            y = rest
    return found


def choose(ts: FloatArray, vs: FloatArray, params: Mapping[str, Any]) -> tuple[str, list[float]]:
    """The rung for this history: detector name and the seasons it should use."""
    span = float(ts[-1] - ts[0]) if ts.size else 0.0
    candidates = params["seasonality"] or (DAY, WEEK)
    affordable = [s for s in candidates if span >= _cycles_needed(s) * s]
    seasons = affordable if params["seasonality"] else detect_seasons(ts, vs, affordable)
    if seasons:
        return ("stl" if len(seasons) == 1 else "mstl"), seasons
    if ts.size >= WARMUP_POINTS:
        return "ewma", []
    if params["above"] is not None or params["below"] is not None:
        return "static", []
    raise NotEnoughData(f"auto needs {WARMUP_POINTS} samples or a static threshold, got {ts.size} samples")


# What each rung receives of the rule's spec: its own keys (spec.py), minus the season, which the
# ladder chooses per rung.
_PASS_ON = {
    rung: tuple(k for k in spec.COMMON + spec.EXTRA[rung] if k not in ("detector", "seasonality"))
    for rung in ("stl", "mstl", "ewma", "static")
}


@register
class AutoDetector(Detector):
    """Picks the best detector the history affords; delegates everything to it."""

    name = "auto"

    def _fit(self, ts: FloatArray, vs: FloatArray, params: dict[str, Any]) -> None:
        rung, seasons = choose(ts, vs, params)
        inner_params = {k: v for k, v in self._raw.items() if k in _PASS_ON[rung]}
        if seasons:
            inner_params["seasonality"] = seasons
        inner = REGISTRY[rung](**inner_params)
        try:
            inner.fit(ts, vs)
        except NotEnoughData:
            if rung in ("ewma", "static"):
                raise
            inner = REGISTRY["ewma"](**{k: v for k, v in self._raw.items() if k in _PASS_ON["ewma"]})
            inner.fit(ts, vs)
        self.inner_ = inner

    def fit(
        self,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        exclude: Iterable[Sequence[float]] | None = None,
    ) -> Self:
        """Fit the rung; an EWMA rung also keeps the last day, a daily STL the last week (daybefore.py).

        The day before is kept exclusions included: it is asked whether the series did the same
        thing at this time yesterday, so it must see yesterday as it was. The cold-start page at
        yesterday's 09:00 step is one of the rule's past firing periods, which training leaves
        out, and without it every day's step would page again. The week before leaves them out:
        with incidents every few days, one at about this hour last week would excuse one today
        (on the simulator, 11 of 101 incidents went unpaged). Only those shorter than
        ``WEEK_KEEPS_LONGER`` are left out: a weekend that paged for hours last week is how the
        week looks, and leaving it out made the same weekend page every week until MSTL.
        """
        super().fit(timestamps, values, exclude)
        self.day_before_: DayBefore | None = None
        self.widen_ = 1.0
        period = DAY if self.inner_.name == "ewma" else WEEK if self.inner_.tier == "stl(1d)" else None
        if period is None:
            return self
        # Until MSTL has the four weeks a weekly component needs, a weekend that differs from the
        # week pages every week under a daily STL; the week before knows last Saturday.
        params = self.params_
        left_out = None
        if period == WEEK and exclude is not None:
            left_out = [(a, b) for a, b in exclude if float(b) - float(a) < WEEK_KEEPS_LONGER]
        ts, vs = training_window(timestamps, values, left_out, params["history"])
        if not ts.size:
            return self
        step = max(params["resolution"], hygiene.native_step(ts), WEEK_BEFORE_STEP if period == WEEK else 0.0)
        noise = float(self.inner_._expect(ts[-1:])[1][0])
        self.day_before_ = DayBefore.learn(ts, vs, step, noise, period=period)
        if period == DAY and ts[-1] - ts[0] < LEARNING:
            self.widen_ = LEARNING_WIDEN
        return self

    @property
    def tier(self) -> str:
        return self.inner_.tier if self.is_fitted else "auto"

    @property
    def lookback(self) -> float:
        return self.inner_.lookback if self.is_fitted else 0.0

    def band(self, timestamps: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
        self._check_fitted()
        expected, lower, upper = self.inner_.band(timestamps)
        if self.widen_ != 1.0:
            lower = expected - self.widen_ * (expected - lower)
            upper = expected + self.widen_ * (upper - expected)
        return expected, lower, upper

    def _score(self, ts: FloatArray, vs: FloatArray) -> tuple[FloatArray, FloatArray | None]:
        self._check_fitted()
        scores, scale = self.inner_._score(ts, vs)
        return self._unless_yesterday(ts, vs, self._widened(scores)), scale

    def _stream_block(self, ts: FloatArray, vs: FloatArray) -> FloatArray:
        return self._unless_yesterday(ts, vs, self._widened(self.inner_._stream_block(ts, vs)))

    def _widened(self, scores: FloatArray) -> FloatArray:
        """Band scores as a band ``widen_`` times as wide would give them (r² = s / (1 - s))."""
        if self.widen_ == 1.0:
            return scores
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = scores / (1.0 - scores) / self.widen_**2
            out: FloatArray = np.where(scores >= 1.0, 1.0, r2 / (1.0 + r2))
        return out

    def _unless_yesterday(self, ts: FloatArray, vs: FloatArray, scores: FloatArray) -> FloatArray:
        """EWMA's scores, lowered where the same time yesterday explains the value (daybefore.py)."""
        if self.day_before_ is None:
            return scores
        params = self._check_fitted()
        yesterday = self.day_before_.scores(
            ts, vs, params["sensitivity"], params["min_deviation"], params["direction"]
        )
        out: FloatArray = np.minimum(scores, yesterday)
        return out

    def _state(self) -> tuple[dict[str, Any], ArrayState]:
        data = self.inner_.to_bytes()
        scalars: dict[str, Any] = {"inner": self.inner_.name, "widen": self.widen_}
        arrays: ArrayState = {"inner": np.frombuffer(data, dtype=np.uint8)}
        if self.day_before_ is not None:
            day = self.day_before_
            scalars["day_before"] = {
                "step": day.step,
                "end": day.end,
                "scale": day.scale,
                "period": day.period,
            }
            arrays["day_before"] = day.values.astype(np.float32)
        return scalars, arrays

    def _load_state(self, scalars: Mapping[str, Any], arrays: ArrayState) -> None:
        self.inner_ = from_bytes(arrays["inner"].astype(np.uint8).tobytes())
        self.widen_ = float(scalars.get("widen", 1.0))
        day = scalars.get("day_before")
        self.day_before_ = (
            DayBefore(
                float(day["step"]),
                float(day["end"]),
                arrays["day_before"].astype(np.float32),
                float(day["scale"]),
                float(day.get("period", DAY)),
            )
            if day is not None
            else None
        )


def history_free(params: Mapping[str, Any]) -> Detector | None:
    """A fitted detector that judges a new series before its baseline exists, or None.

    A ``baseline:`` with static thresholds (``detector: static``, or ``auto`` with
    ``above``/``below``, whose lowest rung they are) needs no history: a new model or pod is
    judged by them at its first evaluation instead of waiting for the next fit.
    """
    name = params.get("detector", "auto")
    if name not in ("static", "auto") or (params.get("above") is None and params.get("below") is None):
        return None
    keys = ("above", "below", "direction", "sensitivity", "min_deviation")
    static = REGISTRY["static"](**{k: params[k] for k in keys if k in params and k in _PASS_ON["static"]})
    empty = np.empty(0, dtype=np.float64)
    return static.fit(empty, empty)
