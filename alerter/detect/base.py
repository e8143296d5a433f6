"""The detector contract every baseline implements, and the machinery they share.

Called by the baseline cache (fit, band, evaluate, to_bytes), by backtests and the detection
benchmark (score_stream), and by the concrete detectors, which subclass :class:`Detector`.

In the scikit-learn spirit: ``__init__`` only stores the ``baseline:`` keys it is given;
``fit`` validates them (the same checks the config checker runs) and learns attributes whose
names end in ``_``; using an unfitted detector raises :class:`DetectorError`. Raw scores are
separate from thresholded labels: every detector maps "how far outside the band" onto [0, 1]
so that **0.5 is exactly the band edge**, and a point is anomalous iff its score is above 0.5.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from alerter.core.errors import DetectorError
from alerter.core.model import FloatArray, Verdict
from alerter.detect import hygiene, spec

MAGIC = b"ALDT"
FORMAT_VERSION = 1
#: score_stream refits at most this many times per ``history`` span, so that a long backtest
#: costs a bounded number of fits however short ``refit`` is. The cadence depends on the
#: parameters only, never on how long the stream is, which keeps the scores strictly causal.
STREAM_FITS_PER_HISTORY = 32
ArrayState = dict[str, npt.NDArray[Any]]


class NotEnoughData(DetectorError):
    """The training data is too short or too sparse for this detector to learn anything."""


def training_window(
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    exclude: Iterable[Sequence[float]] | None,
    history: float,
) -> tuple[FloatArray, FloatArray]:
    """Clean, sorted samples of the last ``history`` seconds, without the ``exclude`` periods."""
    ts, vs = hygiene.clean(timestamps, values, exclude)
    if ts.size:
        keep = ts >= ts[-1] - history
        ts, vs = ts[keep], vs[keep]
    return ts, vs


def band_score(values: FloatArray, expected: FloatArray, halfwidth: FloatArray, direction: str) -> FloatArray:
    """Score in [0, 1] with 0.5 at the band edge: r²/(1+r²), r = |deviation| / half-width.

    Monotone in the deviation and free of the series' units, so one threshold (0.5, or a
    stricter one in backtests) means the same thing for every detector and series.
    """
    dev = values - expected
    if direction == "up":
        dev = np.maximum(dev, 0.0)
    elif direction == "down":
        dev = np.minimum(dev, 0.0)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r2 = (dev / halfwidth) ** 2
        score = r2 / (1.0 + r2)
    score = np.where(np.isinf(r2), 1.0, score)
    # r²/(1+r²) is never infinite, so only NaN (no value or no band) needs replacing.
    out: FloatArray = np.where(np.isnan(score), 0.0, score).astype(np.float64, copy=False)
    return out


def ratio_score(ratio: FloatArray, steepness: float = 10 * np.log(9.0)) -> FloatArray:
    """Score for "value over limit" ratios (static, burn rate, forecast): 0.5 at ratio 1.

    A logistic in the ratio: 10% over the limit scores 0.9, 10% under scores 0.1.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        score = 1.0 / (1.0 + np.exp(-steepness * (ratio - 1.0)))
    return np.nan_to_num(score, nan=0.0).astype(np.float64)


class Detector:
    """Base of every detector; see the module docstring for the contract.

    Subclasses set ``name``, implement ``_fit`` and either ``_expect`` (band detectors:
    expected value and robust scale per timestamp) or override ``band``/``_score``, and
    describe their learned state through ``_state``/``_load_state`` for persistence. One that
    explains its verdicts overrides ``_reason`` and sets ``reason_from_points``.
    """

    name: ClassVar[str] = ""
    reason_from_points: ClassVar[bool] = False
    """Whether ``evaluate`` explains its verdict with a reason computed from the points it judges
    (the detector overrides ``_reason``). When False the reason is always empty, so it cannot
    change with which points are passed: the evaluator relies on that to judge only the trigger
    window of a detector without ``lookback``. The contract tests hold every detector to it."""

    def __init__(self, **params: Any) -> None:
        self._raw: dict[str, Any] = dict(params)

    # -- parameters --------------------------------------------------------------------

    def get_params(self) -> dict[str, Any]:
        """The ``baseline:`` keys this detector was built with (without ``detector``)."""
        return dict(self._raw)

    def _validated(self) -> dict[str, Any]:
        clean, problems = spec.check({"detector": self.name, **self._raw})
        if problems:
            raise DetectorError(f"invalid {self.name} baseline: " + "; ".join(str(p) for p in problems))
        return clean

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._raw.items())
        return f"{type(self).__name__}({args})"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "params_")

    def _check_fitted(self) -> dict[str, Any]:
        if not self.is_fitted:
            raise DetectorError(f"{self.name} detector is not fitted yet: call fit(timestamps, values) first")
        params: dict[str, Any] = self.params_
        return params

    # -- fitting -----------------------------------------------------------------------

    def fit(
        self,
        timestamps: npt.ArrayLike,
        values: npt.ArrayLike,
        exclude: Iterable[Sequence[float]] | None = None,
    ) -> Self:
        """Learn the baseline from history; ``exclude`` lists (start, end) pairs to leave out.

        Exclusions are maintenance windows and the rule's own past firing periods: learning
        an incident as normal would hide the next one.
        """
        params = self._validated()
        ts, vs = training_window(timestamps, values, exclude, params["history"])
        self._fit(ts, vs, params)
        self.params_ = params
        self.trained_until_ = float(ts[-1]) if ts.size else float("nan")
        return self

    def _fit(self, ts: FloatArray, vs: FloatArray, params: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- judging -----------------------------------------------------------------------

    @property
    def tier(self) -> str:
        """Which detector judged, as shown to users (``stl(1d)``, ``ewma``...)."""
        return self.name

    @property
    def lookback(self) -> float:
        """Seconds of recent data ``evaluate`` needs before the points it judges."""
        return 0.0

    def _expect(self, ts: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Expected value and robust scale at each timestamp."""
        raise NotImplementedError

    def _halfwidth(self, scale: FloatArray) -> FloatArray:
        params = self._check_fitted()
        out: FloatArray = params["sensitivity"] * scale + params["min_deviation"]
        return out

    def band(self, timestamps: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Expected value and the lower/upper band edges at the given timestamps."""
        self._check_fitted()
        ts = hygiene.as_seconds(timestamps)
        expected, scale = self._expect(ts)
        half = self._halfwidth(scale)
        return expected, expected - half, expected + half

    def _score(self, ts: FloatArray, vs: FloatArray) -> tuple[FloatArray, FloatArray | None]:
        """Scores for points (already in seconds) and the scale used, if any."""
        params = self._check_fitted()
        expected, scale = self._expect(ts)
        return band_score(vs, expected, self._halfwidth(scale), params["direction"]), scale

    def _reason(self, ts: FloatArray, vs: FloatArray) -> str:
        """The verdict's explanation for users; empty unless ``reason_from_points``."""
        return ""

    def evaluate(self, timestamps: npt.ArrayLike, values: npt.ArrayLike) -> Verdict:
        """Judge the points of the current window against the fitted baseline.

        Points come back sorted by time (NaT / NaN timestamps dropped); NaN values stay, with
        score 0, so the verdict shows the gap.
        """
        self._check_fitted()
        ts = hygiene.as_seconds(timestamps)
        vs = hygiene.as_values(values, ts.shape[0])
        timed = np.isfinite(ts)  # a sample without a usable time cannot be placed in the band
        order = np.argsort(ts[timed], kind="stable")
        ts, vs = ts[timed][order], vs[timed][order]
        scale: FloatArray | None
        if type(self).band is Detector.band and type(self)._score is Detector._score:
            # The common case (STL, EWMA): one ``_expect`` for both the band and the scores.
            expected, scale = self._expect(ts)
            half = self._halfwidth(scale)
            lower, upper = expected - half, expected + half
            scores = band_score(vs, expected, half, self._check_fitted()["direction"])
        else:
            expected, lower, upper = self.band(ts)
            scores, scale = self._score(ts, vs)
        scores = np.where(np.isfinite(vs), scores, 0.0)
        return Verdict(
            timestamps=ts,
            values=vs,
            expected=expected,
            lower=lower,
            upper=upper,
            scores=scores,
            anomalous=scores > 0.5,
            tier=self.tier,
            scale=scale,
            reason=self._reason(ts, vs),
        )

    # -- causal scoring ----------------------------------------------------------------

    def clone(self) -> Self:
        """An unfitted detector with the same parameters."""
        return type(self)(**self._raw)

    def _stream_block(self, ts: FloatArray, vs: FloatArray) -> FloatArray:
        """Score one block of sorted points with the model fitted on the points before it."""
        return self._score(ts, vs)[0]

    def score_stream(self, timestamps: npt.ArrayLike, values: npt.ArrayLike) -> FloatArray:
        """Causal scores in [0, 1], one per input point, in input order.

        Starts from no history and refits every ``refit`` (at most ``STREAM_FITS_PER_HISTORY``
        times per ``history``) on the ``history`` before each block; a block's points are judged
        only by a model fitted on earlier points. Points with a NaN value score 0, and so do
        points seen before the detector has enough history to say anything.
        """
        params = self._validated()
        ts_all = hygiene.as_seconds(timestamps)
        vs_all = hygiene.as_values(values, ts_all.shape[0])
        scores = np.zeros(ts_all.shape[0], dtype=np.float64)
        valid = np.flatnonzero(np.isfinite(ts_all) & np.isfinite(vs_all))
        if valid.size == 0:
            return scores
        idx = valid[np.argsort(ts_all[valid], kind="stable")]
        ts, vs = ts_all[idx], vs_all[idx]
        span = float(ts[-1] - ts[0])
        cadence = max(params["refit"], params["history"] / STREAM_FITS_PER_HISTORY)
        edges = ts[0] + cadence * np.arange(1, int(span // cadence) + 2)
        lo = 0
        for edge_next in edges:
            hi = int(np.searchsorted(ts, edge_next, side="left"))
            if hi > lo:
                start = int(np.searchsorted(ts, ts[lo] - params["history"], side="left"))
                model = self.clone()
                try:
                    model.fit(ts[start:lo], vs[start:lo])
                except NotEnoughData:
                    lo = hi
                    continue
                scores[idx[lo:hi]] = model._stream_block(ts[lo:hi], vs[lo:hi])
            lo = hi
        return np.clip(scores, 0.0, 1.0)

    # -- persistence -------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, Any], ArrayState]:
        """Learned scalars (JSON-able) and arrays to persist."""
        return {}, {}

    def _load_state(self, scalars: Mapping[str, Any], arrays: ArrayState) -> None:
        """Restore what ``_state`` returned."""

    def to_bytes(self) -> bytes:
        """Versioned, compact, pickle-free encoding of the fitted detector.

        Layout: ``ALDT`` magic, one version byte, a little-endian uint32 header length, a
        UTF-8 JSON header (detector name, parameters, learned scalars, array directory) and
        the raw little-endian bytes of each array in directory order.
        """
        params = self._check_fitted()
        scalars, arrays = self._state()
        directory = []
        blobs = []
        for key, arr in arrays.items():
            flat = np.ascontiguousarray(arr).reshape(-1)
            dtype = flat.dtype.newbyteorder("<")
            directory.append([key, dtype.str, int(flat.size)])
            blobs.append(flat.astype(dtype, copy=False).tobytes())
        header = {
            "detector": self.name,
            "params": _jsonable(self._raw),
            "trained_until": self.trained_until_,
            "history_params": _jsonable(params),
            "state": scalars,
            "arrays": directory,
        }
        head = json.dumps(header, separators=(",", ":"), allow_nan=True).encode()
        return MAGIC + bytes([FORMAT_VERSION]) + struct.pack("<I", len(head)) + head + b"".join(blobs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode(data: bytes) -> tuple[dict[str, Any], ArrayState]:
    """Split an encoded detector into its JSON header and arrays; raise on any corruption."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DetectorError(f"serialised detector must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 9 or data[:4] != MAGIC:
        raise DetectorError("not a serialised alerter detector (bad magic)")
    if data[4] != FORMAT_VERSION:
        raise DetectorError(
            f"unsupported detector format version {data[4]} (this build reads {FORMAT_VERSION})"
        )
    (length,) = struct.unpack("<I", data[5:9])
    try:
        header = json.loads(data[9 : 9 + length].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DetectorError(f"corrupt detector header: {exc}") from exc
    offset = 9 + length
    arrays: ArrayState = {}
    for key, dtype_str, size in header.get("arrays", []):
        dtype = np.dtype(dtype_str)
        if dtype.kind not in "fiub":
            raise DetectorError(f"corrupt detector: unsupported array dtype {dtype_str!r}")
        nbytes = dtype.itemsize * int(size)
        if offset + nbytes > len(data):
            raise DetectorError("corrupt detector: truncated array data")
        arrays[key] = np.frombuffer(data, dtype=dtype, count=int(size), offset=offset).copy()
        offset += nbytes
    if offset != len(data):
        raise DetectorError("corrupt detector: trailing bytes")
    return header, arrays


def score_in_one_pass(detector: Detector, timestamps: Any, values: Any) -> FloatArray:
    """``score_stream`` for detectors whose score at a point only looks back (trailing windows):
    an unfitted copy scores every valid point at once, in time order, returned in input order."""
    model = detector.clone().fit(np.empty(0), np.empty(0))
    ts = hygiene.as_seconds(timestamps)
    vs = hygiene.as_values(values, ts.shape[0])
    scores = np.zeros(ts.shape[0])
    valid = np.flatnonzero(np.isfinite(ts) & np.isfinite(vs))
    idx = valid[np.argsort(ts[valid], kind="stable")]
    scores[idx] = model._score(ts[idx], vs[idx])[0]
    return scores
