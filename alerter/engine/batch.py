"""All series of a baseline rule judged in one pass, as (series x points) arrays.

Called by ``engine.evaluate.evaluate_rule`` at every tick of a baseline rule. Judging one
series means a window of about six points, and the Python around it (the detector's calls, a
``Verdict`` and its read-only copies, an ``Observation``) cost thirty times its arithmetic. Here
the rule's window is laid on one grid of timestamps (a series' missing points are NaN there and
left out of its verdict), the series whose fitted detectors stack (``detect.stacked``: STL, MSTL,
EWMA and the ``auto`` ladder over them, with its widened first day and its day or week before)
are judged by stack, and what the state machine needs is read from the arrays. A ``Verdict`` is
built only when asked for (:class:`Verdicts`), an ``Observation`` only for a series that is not
normal or has an alert behind it. Every other series (no baseline yet, another detector, bad
timestamps) is judged alone, by the evaluator's own per-series code, so every series gets the
verdict and observation the per-series path gives it, bit for bit; ``tests/engine/test_batch.py``
compares the two.

The stacks are kept in a :class:`Stacks` (one per rule, in its ``RuleCache``) for as long as the
same fitted detectors judge the same series: a refit replaces a detector object, which is what
tells the stacks to be rebuilt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from alerter import detect
from alerter.config.rules import Guard
from alerter.core import alerts
from alerter.core.alerts import _FLOAT_TOLERANCE, Observation
from alerter.core.errors import AlerterError
from alerter.core.model import BoolArray, FloatArray, Labels, Series, Verdict
from alerter.detect import stacked
from alerter.engine.baselines import Baselines, BaselineSpec

log = logging.getLogger(__name__)
_T = TypeVar("_T")

Single = Callable[[int, detect.Detector | None], tuple[Observation, Verdict | None]]
"""Judge series ``i`` alone with this detector (the evaluator's per-series code)."""

Band = tuple[float, float, float, float]
"""(expected, lower, upper, value) at a verdict's last point with a value."""

_NO_WINDOW = "no samples in the trigger window"
_ERRORS = (AlerterError, ValueError, FloatingPointError)
"""What judging a series may raise and the evaluator turns into that series' error."""
MAX_PADDING = 4
"""A window grid may hold at most this many cells per real point (plus a little) before the
series are judged alone: series on different grids would make the arrays mostly padding."""


class Stacks:
    """Mutable, per rule: each fitted detector's row, and the stacks of the last evaluation.

    Owned by the rule's ``RuleCache``; only :func:`judge` reads and writes it.
    """

    __slots__ = ("_layout", "_plan", "_rows")

    def __init__(self) -> None:
        self._rows: dict[int, tuple[detect.Detector, stacked.Row | None]] = {}
        self._layout: tuple[tuple[detect.Detector, ...], _Layout] | None = None
        self._plan: tuple[tuple[tuple[int, ...], tuple[detect.Detector | None, ...]], _Plan] | None = None

    def row(self, detector: detect.Detector) -> stacked.Row | None:
        found = self._rows.get(id(detector))
        if found is not None and found[0] is detector:
            return found[1]
        made = stacked.row(detector)
        self._rows[id(detector)] = (detector, made)
        return made

    def plan(self, at: list[int], found: list[detect.Detector | None]) -> _Plan:
        """Split the series (answer indices ``at``, their detectors ``found``) into stacked and
        alone; the same detectors at the same places as last time give the same plan."""
        key = (tuple(at), tuple(found))
        if self._plan is not None and self._plan[0] == key:
            return self._plan[1]
        index: list[int] = []
        detectors: list[detect.Detector] = []
        rows: list[stacked.Row] = []
        alone: list[tuple[int, detect.Detector | None]] = []
        for i, det in zip(at, found, strict=True):
            made = self.row(det) if det is not None else None
            if made is None or det is None:
                alone.append((i, det))
            else:
                index.append(i)
                detectors.append(det)
                rows.append(made)
        self.prune(found)
        plan = _Plan(index, tuple(detectors), rows, alone)
        self._plan = (key, plan)
        return plan

    def layout(self, detectors: tuple[detect.Detector, ...], rows: Sequence[stacked.Row]) -> _Layout:
        """The stacks of these detectors' rows (in this order), rebuilt only when they changed."""
        if self._layout is not None and self._layout[0] == detectors:  # identity, element by element
            return self._layout[1]
        groups = stacked.group(rows)
        made = _Layout([(at, stacked.Stack([rows[i] for i in at])) for at in groups.values()])
        self._layout = (detectors, made)
        return made

    def prune(self, live: Sequence[detect.Detector | None]) -> None:
        """Forget the rows of detectors no longer in use (refitted, or their series gone)."""
        if len(self._rows) > 2 * len(live) + 64:
            keep = {id(d) for d in live if d is not None}
            self._rows = {k: v for k, v in self._rows.items() if k in keep}


@dataclass(frozen=True)
class _Plan:
    """Which of the series with a detector are stacked (answer index, detector, row) and which
    are judged alone."""

    index: list[int]
    detectors: tuple[detect.Detector, ...]
    rows: list[stacked.Row]
    alone: list[tuple[int, detect.Detector | None]]


@dataclass(frozen=True)
class _Layout:
    groups: list[tuple[npt.NDArray[np.intp], stacked.Stack]]


@dataclass
class _Arrays:
    """The stacked rows' window, verdict arrays and last-point numbers (row = stacked position)."""

    ts: FloatArray
    present: BoolArray
    values: FloatArray
    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    scores: FloatArray
    anomalous: BoolArray
    scale: FloatArray
    tiers: list[str]


class Judgement:
    """Every series of one evaluation, judged: observations, tiers, verdicts, bands, by position
    in the query's answer."""

    def __init__(self, n: int) -> None:
        self.observations: list[Observation | None] = [None] * n
        """Each series' observation; None for a stacked series judged normal (built when asked)."""
        self.tiers: list[str] = [""] * n
        self.has_verdict: list[bool] = [False] * n
        self._single: dict[int, Verdict] = {}
        self._position = np.full(n, -1, dtype=np.intp)
        self._arrays: _Arrays | None = None
        self._last: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
        self._numbers: list[tuple[float, float, float, float, float, float]] = []
        self._verdicts: dict[int, Verdict] = {}

    def stacked(self, i: int) -> bool:
        """Whether series ``i`` was judged by stack (else alone, or not at all)."""
        return bool(self._position[i] >= 0)

    def observation(self, i: int) -> Observation:
        """Series ``i``'s observation (a stacked normal one is built here)."""
        obs = self.observations[i]
        if obs is None:
            obs = self._observe(i, alerts.Signal.NORMAL)
        return obs

    def _observe(self, i: int, signal: alerts.Signal) -> Observation:
        """``Observation.from_verdict`` of a stacked series, from its numbers."""
        value, expected, lower, upper, score, fraction = self._numbers[int(self._position[i])]
        return Observation(
            signal,
            value=value,
            expected=expected,
            lower=lower,
            upper=upper,
            score=score,
            fraction=fraction,
            tier=self.tiers[i],
            reason="",
        )

    def verdict(self, i: int) -> Verdict:
        """Series ``i``'s verdict, as its detector's ``evaluate`` gives it (built once)."""
        single = self._single.get(i)
        if single is not None:
            return single
        built = self._verdicts.get(i)
        if built is not None:
            return built
        arrays, k = self._arrays, int(self._position[i])
        if arrays is None or k < 0:
            raise KeyError(i)
        keep = arrays.present[k]
        built = Verdict(
            timestamps=arrays.ts[keep],
            values=arrays.values[k, keep],
            expected=arrays.expected[k, keep],
            lower=arrays.lower[k, keep],
            upper=arrays.upper[k, keep],
            scores=arrays.scores[k, keep],
            anomalous=arrays.anomalous[k, keep],
            tier=arrays.tiers[k],
            scale=arrays.scale[k, keep],
            reason="",
        )
        self._verdicts[i] = built
        return built

    def band(self, i: int) -> Band:
        """(expected, lower, upper, value) at the last point with a value of series ``i``'s verdict."""
        single = self._single.get(i)
        if single is not None:
            return last_band(single)
        value, expected, lower, upper, _, _ = self._numbers[int(self._position[i])]
        return expected, lower, upper, value


class Verdicts(Mapping[str, Verdict]):
    """Alert fingerprint -> verdict, built from the judgement's arrays when first read.

    Iterates in the order its entries were added (the query's order), as the per-series path's
    dictionary does; adding a fingerprint again replaces its verdict and keeps its place.
    """

    def __init__(self, judgement: Judgement) -> None:
        self._judgement = judgement
        self._rows: dict[str, int] = {}

    def add(self, fingerprint: str, i: int) -> None:
        self._rows[fingerprint] = i

    def __getitem__(self, fingerprint: str) -> Verdict:
        return self._judgement.verdict(self._rows[fingerprint])

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def bands(self) -> dict[str, Band]:
        """Each verdict's last band, read from the arrays without building the verdicts."""
        band = self._judgement.band
        return {fp: band(i) for fp, i in self._rows.items()}


def last_band(verdict: Verdict) -> Band:
    """(expected, lower, upper, value) at the verdict's last point with a value (NaN: none)."""
    valid = np.flatnonzero(~np.isnan(verdict.values))
    if not valid.size:
        return np.nan, np.nan, np.nan, np.nan
    i = valid[-1]
    return (
        float(verdict.expected[i]),
        float(verdict.lower[i]),
        float(verdict.upper[i]),
        float(verdict.values[i]),
    )


def last_bands(verdicts: Mapping[str, Verdict]) -> dict[str, Band]:
    """:func:`last_band` of every verdict, from the arrays when they are :class:`Verdicts`."""
    if isinstance(verdicts, Verdicts):
        return verdicts.bands()
    return {fp: last_band(v) for fp, v in verdicts.items()}


def judge(
    answer: Sequence[Series],
    labels: Sequence[Labels],
    *,
    spec: BaselineSpec,
    baselines: Baselines,
    at: float,
    window: float,
    fraction: float,
    guard: Guard | None,
    single: Single,
    stacks: Stacks | None = None,
    rule: str = "",
) -> Judgement:
    """Judge every series of a baseline rule's answer at ``at``, as ``observe`` judges each.

    ``labels`` are the series' labels without ``__name__`` (fingerprints of their baselines);
    ``window`` is the trigger window and ``fraction`` its trigger fraction. ``single`` judges one
    series alone (the evaluator's per-series code) and is used for every series that does not
    stack. Detectors are asked for in the answer's order, for the series with a value in the
    window only, exactly as the per-series path asks (the cache's refit schedule depends on it).
    """
    n = len(answer)
    out = Judgement(n)
    if n == 0:
        return out
    stacks = stacks if stacks is not None else Stacks()
    lengths = np.fromiter((s.timestamps.shape[0] for s in answer), dtype=np.intp, count=n)
    ts = np.concatenate([s.timestamps for s in answer])
    vs = np.concatenate([s.values for s in answer])
    owner = np.repeat(np.arange(n, dtype=np.intp), lengths)
    in_window = ts > at - window
    has_value = np.zeros(n, dtype=bool)
    has_value[owner[in_window & ~np.isnan(vs)]] = True

    no_window = Observation.nodata(_NO_WINDOW)
    asked: list[int] = []
    found: list[detect.Detector | None] = []
    settled = baselines.settled(spec, at)
    for i, (has, own) in enumerate(zip(has_value.tolist(), labels, strict=True)):
        if not has:
            out.observations[i] = no_window
            out.tiers[i] = _NO_WINDOW
            continue
        det = settled.get(own.fingerprint) if settled is not None else None
        if det is None:
            try:
                det = baselines.detector(spec, own.fingerprint, at)
            except _ERRORS as exc:
                _failed(out, i, own, exc, rule)
                continue
            finally:
                settled = baselines.settled(spec, at)  # that call may have fitted the rule
        asked.append(i)
        found.append(det)

    # A trigger fraction outside (0, 1] is refused by Observation.from_verdict, series by series.
    plan = (
        stacks.plan(asked, found)
        if 0.0 < fraction <= 1.0
        else _Plan([], (), [], list(zip(asked, found, strict=True)))
    )
    alone = plan.alone
    if plan.index:
        refused = _stacked(out, plan, stacks, ts, vs, owner, in_window, fraction, guard)
        if refused:
            extra = [(i, det) for i, det in zip(plan.index, plan.detectors, strict=True) if i in refused]
            alone = sorted([*alone, *extra], key=lambda pair: pair[0])
    for i, det in alone:
        try:
            obs, verdict = single(i, det)
        except _ERRORS as exc:
            _failed(out, i, labels[i], exc, rule)
            continue
        out.observations[i] = obs
        out.tiers[i] = obs.tier or obs.reason
        if verdict is not None:
            out._single[i] = verdict
            out.has_verdict[i] = True
    return out


def _failed(out: Judgement, i: int, labels: Labels, exc: BaseException, rule: str) -> None:
    log.warning("series evaluation failed", extra={"rule": rule, "labels": repr(labels), "error": str(exc)})
    obs = Observation.error(f"evaluation failed: {exc}")
    out.observations[i] = obs
    out.tiers[i] = obs.reason


def _stacked(
    out: Judgement,
    plan: _Plan,
    stacks: Stacks,
    ts: FloatArray,
    vs: FloatArray,
    owner: npt.NDArray[np.intp],
    in_window: BoolArray,
    fraction: float,
    guard: Guard | None,
) -> set[int]:
    """Judge the series the plan stacks; returns the answer indices of those left to judge alone."""
    n = out._position.size
    index, detectors, rows = plan.index, plan.detectors, plan.rows
    picked = np.zeros(n, dtype=bool)
    picked[index] = True
    select = in_window & picked[owner]
    t, v, r = ts[select], vs[select], owner[select]
    # Detector.evaluate drops points without a finite time and sorts the rest: a series whose
    # window is not finite and strictly increasing is judged alone, where that happens.
    later = r[1:] == r[:-1]
    bad = np.concatenate([r[~np.isfinite(t)], r[1:][later & ~(t[1:] > t[:-1])]])
    refused: set[int] = set(bad.tolist())
    if refused:
        keep = [k for k, i in enumerate(index) if i not in refused]
        index = [index[k] for k in keep]
        detectors = tuple(detectors[k] for k in keep)
        rows = [rows[k] for k in keep]
        picked[list(refused)] = False
        select = in_window & picked[owner]
        t, v, r = ts[select], vs[select], owner[select]
    if not index:
        return refused
    grid = np.unique(t)
    count = len(index)
    if count * grid.size > MAX_PADDING * t.size + 1024:
        return refused | set(index)
    position = np.full(n, -1, dtype=np.intp)
    position[index] = np.arange(count, dtype=np.intp)
    rowpos, col = position[r], np.searchsorted(grid, t)
    values = np.full((count, grid.size), np.nan)
    values[rowpos, col] = v
    present = np.zeros((count, grid.size), dtype=bool)
    present[rowpos, col] = True

    layout = stacks.layout(detectors, rows)
    shape = (count, grid.size)
    expected, lower, upper = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    scores, scale = np.zeros(shape), np.zeros(shape)
    anomalous = np.zeros(shape, dtype=bool)
    judged = np.ones(count, dtype=bool)
    for at, stack in layout.groups:
        whole = at.size == count
        try:
            j = stack.judge(grid, values if whole else values[at])
        except _ERRORS:
            judged[at] = False  # judged alone, where the same error is the series' own
            continue
        if whole:
            expected, lower, upper = j.expected, j.lower, j.upper
            scores, anomalous, scale = j.scores, j.anomalous, j.scale
        else:
            expected[at], lower[at], upper[at] = j.expected, j.lower, j.upper
            scores[at], anomalous[at], scale[at] = j.scores, j.anomalous, j.scale

    # Observation.from_verdict's numbers, row by row: the last point with a value, the share
    # of points with a value that are out of band, the highest score.
    valid = ~np.isnan(values)
    share = (anomalous & valid).sum(axis=1) / valid.sum(axis=1)
    last = grid.size - 1 - np.argmax(valid[:, ::-1], axis=1)
    rowwise = np.arange(count)
    top = np.where(present & ~np.isnan(scores), scores, -np.inf).max(axis=1)
    top = np.where(top == -np.inf, 0.0, top)
    numbers = list(
        zip(
            values[rowwise, last].tolist(),
            expected[rowwise, last].tolist(),
            lower[rowwise, last].tolist(),
            upper[rowwise, last].tolist(),
            top.tolist(),
            share.tolist(),
            strict=True,
        )
    )
    tiers = [row.tier for row in rows]
    out._arrays = _Arrays(grid, present, values, expected, lower, upper, scores, anomalous, scale, tiers)
    out._numbers = numbers
    done = np.asarray(index, dtype=np.intp)[judged]
    out._position[done] = np.flatnonzero(judged)
    if judged.all():
        _scatter(out.tiers, done, tiers)
    else:
        refused.update(np.asarray(index)[~judged].tolist())
        _scatter(out.tiers, done, [tiers[k] for k in np.flatnonzero(judged).tolist()])
    _scatter(out.has_verdict, done, [True] * done.size)
    for k in np.flatnonzero((share + _FLOAT_TOLERANCE >= fraction) & judged).tolist():
        if guard is None or guard.holds(numbers[k][0]):
            out.observations[index[k]] = out._observe(index[k], alerts.Signal.ANOMALOUS)
    return refused


def _scatter(target: list[_T], at: npt.NDArray[np.intp], values: list[_T]) -> None:
    """``target[at[k]] = values[k]`` for every k, in one numpy assignment."""
    if not at.size:
        return
    cells = np.empty(len(target), dtype=object)
    cells[:] = target
    cells[at] = values
    target[:] = cells.tolist()
