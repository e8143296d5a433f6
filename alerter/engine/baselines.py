"""The baseline cache: which fitted detector judges each series, and when to refit it.

Called by the evaluator at every tick (``detector``) and by the engine after each tick
(``note_firing``). A rule's baselines are fitted together from one history query (``history``
at ``resolution``), refitted every ``refit``, persisted in the store so a restart neither
retrains for hours nor alerts blindly, and fitted on a background worker so a tick never waits
for statsmodels: until a series has a baseline, the evaluator judges it by its static guard or
reports ``nodata``. Training leaves out maintenance windows and the rule's own firing periods,
since learning an incident as normal would hide the next one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class BaselineSpec:
    """What a rule asks of its baselines; ``key`` changes whenever the expression or spec does."""

    key: str
    expr: str
    spec: Mapping[str, Any]
    history: float
    resolution: float
    refit: float

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
        )


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
    last_error: str = ""


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
    ) -> None:
        """``executor`` None fits synchronously inside ``detector`` (backtests, tests)."""
        self._source = source
        self._store = store
        self._exclusions = exclusions
        self._executor = executor
        self._on_fit = on_fit
        self._rules: dict[str, _RuleBaselines] = {}
        self._lock = threading.RLock()

    @classmethod
    def background(cls, source: Source, store: Store | None = None, **kwargs: Any) -> Baselines:
        """A cache fitting on one background thread (the engine's normal mode)."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="baseline-fit")
        return cls(source, store, executor=executor, **kwargs)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

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
            state.fitted_at = fitted_at if state.fitted_at is None else min(state.fitted_at, fitted_at)
        state.attempted_at = state.fitted_at

    def detector(self, spec: BaselineSpec, fingerprint: str, now: float) -> detect.Detector | None:
        """The detector judging this series now (None while it has no baseline yet).

        Schedules a refit of the rule when it is due, or early when a new series has appeared.
        """
        state = self._state(spec)
        with self._lock:
            found = state.detectors.get(fingerprint)
            due = state.fitted_at is None or now - state.fitted_at >= spec.refit
            retry = found is None and (
                fingerprint not in state.tried
                or state.attempted_at is None
                or now - state.attempted_at >= RETRY_MISSING
            )
            busy = state.pending is not None and not state.pending.done()
            missing_only = retry and not due
            if (due or retry) and not busy:
                state.attempted_at = now
                state.tried.add(fingerprint)
                if self._executor is None:
                    state.pending = None
                else:
                    state.pending = self._executor.submit(self._fit_rule, spec, now, missing_only)
        if (due or retry) and not busy and self._executor is None:
            self._fit_rule(spec, now, missing_only)
            with self._lock:
                found = state.detectors.get(fingerprint)
        if found is None:
            with self._lock:
                if state.interim is None:
                    state.interim = detect.history_free(spec.spec)
                found = state.interim
        return found

    def wait(self, timeout: float | None = None) -> None:
        """Block until every scheduled fit has finished (tests and backtests)."""
        with self._lock:
            pending = [s.pending for s in self._rules.values() if s.pending is not None]
        for future in pending:
            future.result(timeout=timeout)

    def note_firing(self, key: str, fingerprint: str, start: float, end: float) -> None:
        """Remember that this series had an incident over [start, end]; later refits leave it out."""
        with self._lock:
            periods = self._rules.setdefault(key, _RuleBaselines()).firing.setdefault(fingerprint, [])
            if periods and periods[-1][0] == start:
                periods[-1] = (start, end)
            else:
                periods.append((start, end))

    def _excluded(
        self, state: _RuleBaselines, fingerprint: str, labels: Labels, start: float, end: float
    ) -> list[Interval]:
        with self._lock:
            periods = [p for p in state.firing.get(fingerprint, []) if p[1] >= start]
            state.firing[fingerprint] = periods
        if self._exclusions is not None:
            periods = periods + list(self._exclusions(labels, start, end))
        return periods

    def _fit_rule(self, spec: BaselineSpec, now: float, missing_only: bool = False) -> None:
        """Fit every series of the rule, or with ``missing_only`` those without a baseline."""
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
        fitted: dict[str, detect.Detector] = {}
        failed = 0
        for series in history:
            labels = series.labels.without("__name__")
            if missing_only and labels.fingerprint in state.detectors:
                continue
            exclude = self._excluded(state, labels.fingerprint, labels, start, now)
            try:
                fitted[labels.fingerprint] = detect.build(spec.spec).fit(
                    series.timestamps, series.values, exclude=exclude
                )
            except DetectorError:
                failed += 1  # not enough clean history yet: judged by the guard until next refit
        if self._store is not None and fitted:
            with self._store.transaction():
                for fingerprint, detector in fitted.items():
                    self._store.save_baseline(spec.key, fingerprint, now, detector.to_bytes())
        with self._lock:
            state.detectors.update(fitted)
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
