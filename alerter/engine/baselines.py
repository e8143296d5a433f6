"""The baseline cache: which fitted detector judges each series, and when to refit it.

Called by the evaluator at every tick (``detector``) and by the engine after each tick
(``note_firing``). A rule's baselines are fitted together from one history query (``history``
at ``resolution``), refitted every ``refit``, persisted in the store so a restart neither
retrains for hours nor alerts blindly, and fitted on a background worker so a tick never waits
for statsmodels: until a series has a baseline, the evaluator judges it by its static guard or
reports ``nodata``. Training leaves out maintenance windows and the rule's own firing periods,
since learning an incident as normal would hide the next one, except the periods people
confirmed were not incidents (``note_normal``, a "Not an incident" press): those were normal
behaviour the baseline failed to expect, and the next refit trains on them.

Refits never bunch (``spread``): each series has a refit slot within the refit interval, a
deterministic offset from its fingerprint, and each rule refits in ``spread`` batches per
interval at boundaries offset by its key, fitting the series whose slot has passed. A batch
sends the rule's one history query (a query cannot select series by fingerprint), so a few
batches per interval keep the extra fetches small while the fits of a 100,000-series replica
no longer all land on one tick. The fits themselves run in a bounded process pool
(``processes``) so they use another core instead of sharing the GIL with the ticks: a worker
receives the spec and each series' arrays and returns the fitted detector's bytes, which is
exactly what the store keeps and what a restart restores, so a baseline fitted in the pool is
the one a synchronous fit of the same data gives.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alerter import detect
from alerter.core.errors import AlerterError, DetectorError, SourceError
from alerter.core.model import Labels
from alerter.detect.spec import check as check_spec
from alerter.source import Source
from alerter.store.sqlite import Store

log = logging.getLogger(__name__)

Interval = tuple[float, float]
Exclusions = Callable[[Labels, float, float], Sequence[Interval]]
"""(series labels, start, end) -> periods inside [start, end] to keep out of training."""

RETRY_MISSING = 600.0
"""Seconds before another early fit for a series whose last fit could not give it a baseline.

A series the rule has never tried to fit (a new model, a new pod) is fitted at once instead:
one early fit of the series without a baseline, not a refit of the whole rule."""

SPREAD = 4
"""Refit batches per refit interval of a background cache (see the module docstring).

Each batch costs one history query of the whole rule; with the 14-day 5-minute history of a
daily STL that query costs about a sixth of fitting the rule's series (measured by
``benchmarks/throughput.py``), so 4 batches add about two thirds of a fetch per series and
interval and divide the largest batch by 4."""

FIT_PROCESSES = 1
"""Worker processes of a background cache: the second core of a 2-core replica."""

CHUNK = 32
"""Series per task sent to a fit worker: large enough to amortise pickling, small enough that
closing the cache waits at most a second or two for the task a worker is running."""

Chunk = list[tuple[str, np.ndarray[Any, Any], np.ndarray[Any, Any], list[Interval]]]


SEASONAL_REFIT = 3 * 3600.0
"""Refit interval of a series a seasonal tier judges, when its rule sets no ``refit``.

A daily profile fitted on 14 days barely moves in an hour: ``benchmarks/refit_drift.py`` on
simulator series measured the expected value of a fresh STL fit moving by a median 1.3 % of
the band's half-width after 1h and 3.4 % after 3h, with no point judged differently at 3h
(1.5 % of points at 6h). The cold-start tiers move much faster (ewma: 44 % of points judged
differently after 6h), so they keep the hourly default. Seasonal refits are most of a
replica's steady cost; at 3h they cost a third of what they did hourly.
"""
SEASONAL_TIERS = ("stl", "mstl")
"""Tier names (``Detector.tier``) that learn a seasonal profile."""


def refit_offset(key: str, refit: float) -> float:
    """Seconds into each refit interval at which ``key`` (a fingerprint or rule key) is refitted.

    Deterministic (a hash, not a random draw), so every replica and every restart agrees.
    """
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 * refit


def last_slot(now: float, offset: float, period: float) -> float:
    """The latest instant ``offset + k * period`` (integer k) at or before ``now``."""
    return now - (now - offset) % period


Fit = tuple[detect.Detector, bytes]
"""A fitted detector and its bytes for the store (empty: not encoded yet)."""


def _fit_chunk(spec: Mapping[str, Any], chunk: Chunk, encode: bool = False) -> list[tuple[str, Fit | None]]:
    """Fit each series of ``chunk`` (None where its history is too short).

    Runs in a worker process (``encode``: the store's bytes are made there too) or in the
    caller. A worker's detector comes back pickled: pickle keeps the fitted state exactly,
    while the store's encoding rounds some learned arrays, so only the pickled object judges as
    an in-process fit of the same data does.
    """
    out: list[tuple[str, Fit | None]] = []
    for fingerprint, timestamps, values, exclude in chunk:
        try:
            detector = detect.build(spec).fit(timestamps, values, exclude=exclude)
        except DetectorError:
            out.append((fingerprint, None))
            continue
        out.append((fingerprint, (detector, detector.to_bytes() if encode else b"")))
    return out


@dataclass(frozen=True)
class BaselineSpec:
    """What a rule asks of its baselines; ``key`` changes whenever the expression or spec does."""

    key: str
    expr: str
    spec: Mapping[str, Any]
    history: float
    resolution: float
    refit: float
    seasonal_refit: float = 0.0
    """Refit interval of a series judged by a seasonal tier (0: ``refit``); see ``SEASONAL_REFIT``."""

    @classmethod
    def for_rule(cls, group: str, alert: str, expr: str, spec: Mapping[str, Any]) -> BaselineSpec:
        params, problems = check_spec(spec)
        if problems:
            raise DetectorError("; ".join(str(p) for p in problems))
        digest = hashlib.blake2b(
            json.dumps([expr, dict(spec)], sort_keys=True, default=str).encode(), digest_size=6
        ).hexdigest()
        return cls(
            key=f"{group}/{alert}:{digest}",
            expr=expr,
            spec=dict(spec),
            history=float(params["history"]),
            resolution=float(params["resolution"]),
            refit=float(params["refit"]),
            # A rule that names its refit gets it for every tier; otherwise seasonal tiers
            # refit at SEASONAL_REFIT, the cold-start tiers at the default.
            seasonal_refit=float(params["refit"])
            if "refit" in spec
            else max(float(params["refit"]), SEASONAL_REFIT),
        )

    def interval_for(self, detector: detect.Detector | None) -> float:
        """How often a series judged by ``detector`` is refitted (the cold-start default while
        it has none yet)."""
        if detector is not None and self.seasonal_refit and detector.tier.startswith(SEASONAL_TIERS):
            return self.seasonal_refit
        return self.refit


@dataclass
class _RuleBaselines:
    detectors: dict[str, detect.Detector] = field(default_factory=dict)
    fitted_at: float | None = None
    attempted_at: float | None = None
    loaded: bool = False
    pending: Future[None] | None = None
    tried: set[str] = field(default_factory=set)
    """Series an early fit was already scheduled for; they wait RETRY_MISSING for another."""
    interim: detect.Detector | None = None
    """What judges a series without a baseline yet (static thresholds), built once per rule."""
    firing: dict[str, list[Interval]] = field(default_factory=dict)
    normal: dict[str, set[float]] = field(default_factory=dict)
    """Per series, the starts of firing periods confirmed as false pages: never excluded."""
    last_error: str = ""
    series_fitted: dict[str, float] = field(default_factory=dict)
    """When each series' baseline was fitted (spread refits)."""
    offsets: dict[tuple[str, float], float] = field(default_factory=dict)
    """Each series' refit offset, computed once."""
    batch_at: float = -np.inf
    """The batch boundary whose refit was last scheduled (spread refits)."""


@dataclass(frozen=True)
class FitStats:
    """What the last fit of a rule did, for /metrics and the status API."""

    key: str
    series: int
    failed: int
    seconds: float
    at: float


class Baselines:
    """Fitted detectors per (rule, series); thread-safe."""

    def __init__(
        self,
        source: Source,
        store: Store | None = None,
        *,
        exclusions: Exclusions | None = None,
        executor: Executor | None = None,
        on_fit: Callable[[FitStats], None] | None = None,
        spread: int = 0,
        processes: int = 0,
    ) -> None:
        """``executor`` None fits synchronously inside ``detector`` (backtests, tests).

        ``spread`` 0 refits a whole rule every ``refit`` after its last fit; ``spread`` k >= 1
        refits it in k batches per interval, each series after its own slot (module docstring).
        ``processes`` > 0 fits in a pool of that many worker processes, 0 in the caller.
        """
        if spread < 0 or processes < 0:
            raise ValueError(f"spread and processes must be >= 0, got {spread} and {processes}")
        self._source = source
        self._store = store
        self._exclusions = exclusions
        self._executor = executor
        self._on_fit = on_fit
        self._spread = spread
        self._processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        self._rules: dict[str, _RuleBaselines] = {}
        self._lock = threading.RLock()

    @classmethod
    def background(
        cls,
        source: Source,
        store: Store | None = None,
        *,
        spread: int = SPREAD,
        processes: int = FIT_PROCESSES,
        **kwargs: Any,
    ) -> Baselines:
        """A cache fitting on one background thread (``baseline-fit``) and a process pool (the
        engine's normal mode), with spread refits."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="baseline-fit")
        return cls(source, store, executor=executor, spread=spread, processes=processes, **kwargs)

    def close(self) -> None:
        """Stop fitting: queued fits are dropped, a worker's current task is waited for."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _worker_pool(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._processes == 0 or self._closed:
                return None
            if self._pool is None:
                # forkserver: the workers are not forked from this multi-threaded process
                context = multiprocessing.get_context("forkserver")
                self._pool = ProcessPoolExecutor(max_workers=self._processes, mp_context=context)
            return self._pool

    def _state(self, spec: BaselineSpec) -> _RuleBaselines:
        with self._lock:
            state = self._rules.setdefault(spec.key, _RuleBaselines())
            if not state.loaded:
                state.loaded = True
                self._load(spec, state)
            return state

    def _load(self, spec: BaselineSpec, state: _RuleBaselines) -> None:
        if self._store is None:
            return
        stored = self._store.load_baselines(spec.key)
        for fingerprint, (fitted_at, blob) in stored.items():
            try:
                state.detectors[fingerprint] = detect.from_bytes(blob)
            except (AlerterError, ValueError, KeyError) as exc:
                log.warning(
                    "stored baseline unreadable, refitting", extra={"rule": spec.key, "error": str(exc)}
                )
                continue
            state.series_fitted[fingerprint] = fitted_at
            state.fitted_at = fitted_at if state.fitted_at is None else min(state.fitted_at, fitted_at)
        state.attempted_at = state.fitted_at

    def detector(self, spec: BaselineSpec, fingerprint: str, now: float) -> detect.Detector | None:
        """The detector judging this series now (None while it has no baseline yet).

        Schedules a refit of the rule when it is due, or early when a new series has appeared.
        """
        state = self._state(spec)
        with self._lock:
            found = state.detectors.get(fingerprint)
            boundary: float | None = None
            if state.fitted_at is None or not self._spread:
                due = state.fitted_at is None or now - state.fitted_at >= spec.refit
            else:
                boundary = self._boundary(spec, now)
                due = (
                    boundary > state.batch_at
                    and found is not None
                    and self._slot_passed(state, spec, fingerprint, boundary)
                )
            retry = found is None and (
                fingerprint not in state.tried
                or state.attempted_at is None
                or now - state.attempted_at >= RETRY_MISSING
            )
            busy = state.pending is not None and not state.pending.done()
            missing_only = retry and not due
            batch = boundary if due and boundary is not None else None
            if (due or retry) and not busy:
                state.attempted_at = now
                state.tried.add(fingerprint)
                if batch is not None:
                    state.batch_at = batch
                if self._executor is None:
                    state.pending = None
                else:
                    state.pending = self._executor.submit(self._fit_rule, spec, now, missing_only, batch)
        if (due or retry) and not busy and self._executor is None:
            self._fit_rule(spec, now, missing_only, batch)
            with self._lock:
                found = state.detectors.get(fingerprint)
        if found is None:
            with self._lock:
                if state.interim is None:
                    state.interim = detect.history_free(spec.spec)
                found = state.interim
        return found

    def settled(self, spec: BaselineSpec, now: float) -> Mapping[str, detect.Detector] | None:
        """The rule's fitted detectors by fingerprint, when ``detector(spec, fp, now)`` would
        schedule no fit for any series that has one and so return just that detector; else None.

        The batch evaluator looks up thousands of series per tick: this lets it skip the lock and
        the refit schedule for each of them. A series without a detector still goes through
        ``detector`` (it may be due an early fit), and so does every series while this is None.
        The mapping is the cache's own, updated in place when a fit lands: read it, never write it.
        """
        state = self._state(spec)
        with self._lock:
            busy = state.pending is not None and not state.pending.done()
            if not busy:
                if state.fitted_at is None:
                    return None
                if not self._spread:
                    if now - state.fitted_at >= spec.refit:
                        return None
                elif self._boundary(spec, now) > state.batch_at:
                    return None
            return state.detectors

    def _boundary(self, spec: BaselineSpec, now: float) -> float:
        """The rule's latest refit batch boundary at or before ``now``."""
        period = spec.refit / self._spread
        return last_slot(now, refit_offset(spec.key, period), period)

    def _slot_passed(
        self, state: _RuleBaselines, spec: BaselineSpec, fingerprint: str, boundary: float
    ) -> bool:
        """Whether the series' refit slot came after its last fit and by ``boundary``."""
        interval = spec.interval_for(state.detectors.get(fingerprint))
        offset = state.offsets.get((fingerprint, interval))
        if offset is None:
            offset = state.offsets[(fingerprint, interval)] = refit_offset(fingerprint, interval)
        fitted = state.series_fitted.get(fingerprint, state.fitted_at or 0.0)
        return last_slot(boundary, offset, interval) > fitted

    def wait(self, timeout: float | None = None) -> None:
        """Block until every scheduled fit has finished (tests and backtests)."""
        with self._lock:
            pending = [s.pending for s in self._rules.values() if s.pending is not None]
        for future in pending:
            future.result(timeout=timeout)

    def note_firing(self, key: str, fingerprint: str, start: float, end: float) -> None:
        """Remember that this series had an incident over [start, end]; later refits leave it out."""
        with self._lock:
            state = self._rules.setdefault(key, _RuleBaselines())
            if start in state.normal.get(fingerprint, ()):
                return
            periods = state.firing.setdefault(fingerprint, [])
            if periods and periods[-1][0] == start:
                periods[-1] = (start, end)
            else:
                periods.append((start, end))

    def note_normal(
        self, key: str, fingerprint: str, start: float, end: float | None, normal: bool = True
    ) -> None:
        """People said the firing period starting at ``start`` was not an incident (``normal``), or
        took that back: a normal period is trained on from the next refit, even when the engine
        notes it as firing again; taken back, it is excluded again as every firing period is."""
        with self._lock:
            state = self._rules.setdefault(key, _RuleBaselines())
            starts = state.normal.setdefault(fingerprint, set())
            if normal:
                starts.add(start)
                periods = state.firing.get(fingerprint, [])
                state.firing[fingerprint] = [p for p in periods if p[0] != start]
                return
            starts.discard(start)
        if end is not None:
            self.note_firing(key, fingerprint, start, end)

    def _excluded(
        self, state: _RuleBaselines, fingerprint: str, labels: Labels, start: float, end: float
    ) -> list[Interval]:
        with self._lock:
            periods = [p for p in state.firing.get(fingerprint, []) if p[1] >= start]
            state.firing[fingerprint] = periods
        if self._exclusions is not None:
            periods = periods + list(self._exclusions(labels, start, end))
        return periods

    def _fit_rule(
        self, spec: BaselineSpec, now: float, missing_only: bool = False, batch: float | None = None
    ) -> None:
        """Fit every series of the rule, or with ``missing_only`` those without a baseline, or
        with ``batch`` (a batch boundary) those too and those whose refit slot has passed."""
        started = time.perf_counter()
        state = self._state(spec)
        start = now - spec.history
        try:
            history = self._source.query_range(spec.expr, start, now, spec.resolution)
        except SourceError as exc:
            with self._lock:
                state.last_error = f"history query failed: {exc}"
            log.warning("baseline history query failed", extra={"rule": spec.key, "error": str(exc)})
            return
        chunk: Chunk = []
        for series in history:
            labels = series.labels.without("__name__")
            fingerprint = labels.fingerprint
            if (missing_only or batch is not None) and fingerprint in state.detectors:
                with self._lock:
                    if batch is None or not self._slot_passed(state, spec, fingerprint, batch):
                        continue
            exclude = self._excluded(state, fingerprint, labels, start, now)
            chunk.append((fingerprint, series.timestamps, series.values, exclude))
        try:
            results = self._fit_all(spec, chunk)
        except CancelledError:
            return  # the cache was closed meanwhile
        fitted = {fp: fit for fp, fit in results.items() if fit is not None}
        failed = len(results) - len(fitted)  # not enough clean history yet: judged by the guard
        if self._closed:
            return
        if self._store is not None and fitted:
            with self._store.transaction():
                for fingerprint, (detector, blob) in fitted.items():
                    self._store.save_baseline(spec.key, fingerprint, now, blob or detector.to_bytes())
        with self._lock:
            state.detectors.update({fp: detector for fp, (detector, _) in fitted.items()})
            for fingerprint in fitted:
                state.series_fitted[fingerprint] = now
            if not missing_only:
                state.fitted_at = now
            state.last_error = ""
        stats = FitStats(spec.key, len(fitted), failed, time.perf_counter() - started, now)
        log.info(
            "baselines fitted",
            extra={
                "rule": spec.key,
                "series": len(fitted),
                "failed": failed,
                "seconds": round(stats.seconds, 3),
            },
        )
        if self._on_fit is not None:
            self._on_fit(stats)

    def _fit_all(self, spec: BaselineSpec, chunk: Chunk) -> dict[str, Fit | None]:
        """Each series' fitted detector and, from a worker, its bytes (None: too little history).

        In the pool if there is one, else here. A pool that broke (a worker killed, e.g. out
        of memory) is dropped and this batch is fitted here; the next batch starts a new pool.
        """
        pool = self._worker_pool()
        if pool is not None and chunk:
            try:
                futures = [
                    pool.submit(_fit_chunk, spec.spec, chunk[i : i + CHUNK], self._store is not None)
                    for i in range(0, len(chunk), CHUNK)
                ]
                return {fp: fit for future in futures for fp, fit in future.result()}
            except BrokenProcessPool as exc:
                log.warning(
                    "baseline fit worker died, fitting in-process",
                    extra={"rule": spec.key, "error": str(exc)},
                )
                with self._lock:
                    if self._pool is pool:
                        self._pool = None
            except RuntimeError:
                if not self._closed:  # submit after shutdown: the cache is closing
                    raise
                raise CancelledError from None
        return dict(_fit_chunk(spec.spec, chunk))

    def status(self, key: str) -> tuple[float | None, str, int]:
        """(fitted_at, last error, number of series with a baseline) of a rule."""
        with self._lock:
            state = self._rules.get(key)
            if state is None:
                return None, "", 0
            return state.fitted_at, state.last_error, len(state.detectors)

    def forget(self, keep: set[str]) -> None:
        """Drop cached rules not in ``keep`` (after a reload removed or changed them)."""
        with self._lock:
            for key in [k for k in self._rules if k not in keep]:
                del self._rules[key]
