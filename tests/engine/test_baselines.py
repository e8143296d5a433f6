"""The baseline cache: spread refits, fits in a process pool, and the same baseline either way.

Time is passed in (fixed epochs); nothing here reads the clock or depends on load.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alerter import detect
from alerter.backtest.series import ArraySource
from alerter.core.model import Labels, Series
from alerter.engine.baselines import Baselines, BaselineSpec, FitStats, last_slot, refit_offset
from alerter.store.sqlite import Store

EPOCH = 1_795_010_400.0  # 2026-11-18T14:00Z
DAY = 86_400.0
STEP = 300.0
HOUR = 3600.0


def fleet(count: int, days: float = 3.0, seed: int = 5) -> ArraySource:
    """``count`` daily-seasonal series ending at EPOCH, each of its own level and noise."""
    ts = EPOCH - days * DAY + STEP * np.arange(int(days * DAY / STEP) + 1, dtype=np.float64)
    rng = np.random.default_rng(seed)
    series = []
    for i in range(count):
        level = 1.0 + 0.1 * i
        values = level * (1 + 0.3 * np.sin(2 * np.pi * ts / DAY)) + rng.normal(0, 0.02 * level, ts.size)
        series.append(Series(Labels(pod=f"p{i}"), ts, values))
    return ArraySource(tuple(series))


def spec_of(detector: str, **extra: object) -> BaselineSpec:
    return BaselineSpec.for_rule("g", "R", "x", {"detector": detector, "history": "3d", **extra})


def fingerprints(source: ArraySource) -> list[str]:
    return [s.labels.fingerprint for s in source.query_range("x", EPOCH - HOUR, EPOCH, STEP)]


@pytest.mark.parametrize("detector", ["stl", "ewma", "auto"])
def test_a_baseline_fitted_in_the_pool_is_the_one_fitted_in_process(tmp_path: Path, detector: str) -> None:
    """Same data, same spec: the same bytes in the store, and the same verdicts."""
    source = fleet(5)
    spec = spec_of(detector)
    stores = {mode: Store(tmp_path / f"{mode}.db") for mode in ("here", "pool")}
    here = Baselines(source, stores["here"])
    pool = Baselines(source, stores["pool"], processes=1)
    try:
        for baselines in (here, pool):
            baselines.detector(spec, "-", EPOCH)
        stored = {mode: store.load_baselines(spec.key) for mode, store in stores.items()}
        assert len(stored["here"]) == 5 and stored["here"] == stored["pool"]
        window = source.query_range("x", EPOCH - 1800, EPOCH, STEP)
        for series in window:
            fp = series.labels.fingerprint
            a, b = here.detector(spec, fp, EPOCH), pool.detector(spec, fp, EPOCH)
            assert a is not None and b is not None and a.to_bytes() == b.to_bytes()
            va, vb = (
                a.evaluate(series.timestamps, series.values),
                b.evaluate(series.timestamps, series.values),
            )
            assert np.array_equal(va.expected, vb.expected) and np.array_equal(va.upper, vb.upper)
    finally:
        pool.close()
        for store in stores.values():
            store.close()


def test_refit_offsets_are_deterministic_and_cover_the_interval() -> None:
    fps = [Labels(pod=f"p{i}").fingerprint for i in range(2000)]
    offsets = [refit_offset(fp, HOUR) for fp in fps]
    assert offsets == [refit_offset(fp, HOUR) for fp in fps]
    assert all(0 <= o < HOUR for o in offsets)
    quarters = np.histogram(offsets, bins=4, range=(0, HOUR))[0]
    assert quarters.min() > 400, quarters  # 500 expected in each
    assert (
        last_slot(EPOCH + 10, 10.0, HOUR) == EPOCH + 10
        and last_slot(EPOCH + 9, 10.0, HOUR) == EPOCH + 10 - HOUR
    )


def test_spread_refits_fit_each_series_after_its_slot_in_a_few_batches(tmp_path: Path) -> None:
    """Over two hours of one-minute ticks: 4 batches an hour, each series once per hour, never all at once."""
    source = fleet(40)
    spec = spec_of("ewma")
    batches: list[FitStats] = []
    store = Store(tmp_path / "state.db")
    baselines = Baselines(source, store, spread=4, on_fit=batches.append)
    fps = fingerprints(source)
    try:
        for fp in fps:
            baselines.detector(spec, fp, EPOCH)  # the first fit: every series at once
        assert [b.series for b in batches] == [40]
        history: dict[str, list[float]] = {fp: [EPOCH] for fp in fps}
        for minute in range(1, 121):
            now = EPOCH + 60.0 * minute
            for fp in fps:
                baselines.detector(spec, fp, now)
            for fp, (fitted_at, _) in store.load_baselines(spec.key).items():
                if fitted_at != history[fp][-1]:
                    history[fp].append(fitted_at)
        sizes = [b.series for b in batches[1:]]
        assert len(sizes) in (8, 9) and max(sizes) < 20, sizes  # 4 boundaries an hour, ~10 each
        assert sum(sizes) == sum(len(times) - 1 for times in history.values())
        for fp, times in history.items():
            offset = refit_offset(fp, HOUR)
            for before, after in itertools.pairwise(times):
                # fitted at the first batch boundary at or after the slot that followed its last fit
                slot = last_slot(after, offset, HOUR)
                assert before < slot <= after < slot + HOUR / 4 + 60, (fp, before, after, slot)
            assert len(times) >= 2 and max(np.diff(times)) <= HOUR + HOUR / 4 + 60
    finally:
        store.close()


@pytest.mark.parametrize(
    ("detector", "extra", "interval"),
    [("stl", {}, 3 * HOUR), ("stl", {"refit": "1h"}, HOUR), ("ewma", {}, HOUR)],
    ids=["seasonal-default", "seasonal-named-refit", "cold-start-tier"],
)
def test_seasonal_tiers_refit_every_3h_unless_the_rule_names_its_refit(
    tmp_path: Path, detector: str, extra: dict[str, object], interval: float
) -> None:
    source = fleet(12)
    spec = spec_of(detector, **extra)
    assert spec.refit == HOUR
    store = Store(tmp_path / "state.db")
    baselines = Baselines(source, store, spread=4)
    fps = fingerprints(source)
    try:
        history: dict[str, list[float]] = {fp: [] for fp in fps}
        for minute in range(0, 7 * 60 + 1, 5):
            now = EPOCH + 60.0 * minute
            for fp in fps:
                baselines.detector(spec, fp, now)
            for fp, (fitted_at, _) in store.load_baselines(spec.key).items():
                if not history[fp] or fitted_at != history[fp][-1]:
                    history[fp].append(fitted_at)
        for fp, times in history.items():
            gaps = np.diff(times)
            # the first refit comes at the series' slot after the first fit; then once per its
            # own interval, at its slot (a batch boundary comes every 15 min)
            assert len(gaps) >= 2 and gaps[0] <= interval + HOUR / 4 + 300, (fp, gaps)
            assert (abs(gaps[1:] - interval) <= HOUR / 4 + 300).all(), (fp, gaps)
    finally:
        store.close()


def test_without_spread_a_rule_refits_whole_every_refit(tmp_path: Path) -> None:
    source = fleet(6)
    spec = spec_of("ewma")
    batches: list[FitStats] = []
    baselines = Baselines(source, on_fit=batches.append)
    fps = fingerprints(source)
    for minute in range(0, 121):
        for fp in fps:
            baselines.detector(spec, fp, EPOCH + 60.0 * minute)
    assert [(b.series, b.at) for b in batches] == [(6, EPOCH), (6, EPOCH + HOUR), (6, EPOCH + 2 * HOUR)]


def test_the_background_cache_fits_in_a_worker_process_and_closes_it(tmp_path: Path) -> None:
    source = fleet(3)
    spec = spec_of("stl")
    store = Store(tmp_path / "state.db")
    baselines = Baselines.background(source, store)
    before = set(multiprocessing.active_children())
    try:
        baselines.detector(spec, fingerprints(source)[0], EPOCH)  # schedules the fit
        baselines.wait(timeout=120)
        assert baselines.status(spec.key)[1:] == ("", 3)
        assert set(multiprocessing.active_children()) - before, "no fit worker was started"
        restored = detect.from_bytes(next(iter(store.load_baselines(spec.key).values()))[1])
        assert restored.tier == "stl(1d)"
    finally:
        baselines.close()
        store.close()
    assert not set(multiprocessing.active_children()) - before, "a fit worker outlived close()"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="spread and processes must be >= 0"):
        Baselines(fleet(1), spread=-1)


def test_a_confirmed_false_page_is_trained_on_and_taking_it_back_excludes_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rule's own firing periods stay out of training, except one people said was not an
    incident ("Not an incident" in Slack): the next refit trains on it, even though the engine
    notes it as firing again at every tick its resolved alert is kept. "It was real" undoes that."""
    from alerter.engine import baselines as module

    seen: list[dict[str, list[tuple[float, float]]]] = []
    real_fit = module._fit_chunk

    def spy(
        spec: Mapping[str, Any], chunk: module.Chunk, encode: bool = False
    ) -> list[tuple[str, module.Fit | None]]:
        seen.append({fp: list(exclude) for fp, _, _, exclude in chunk})
        return real_fit(spec, chunk, encode)

    monkeypatch.setattr(module, "_fit_chunk", spy)
    source = fleet(2)
    spec = spec_of("ewma")
    fp, other = fingerprints(source)
    noise, incident = (EPOCH - 2 * HOUR, EPOCH - HOUR), (EPOCH - 5 * HOUR, EPOCH - 4 * HOUR)
    baselines = Baselines(source)
    for start, end in (incident, noise):
        baselines.note_firing(spec.key, fp, start, end)
        baselines.note_firing(spec.key, other, *noise)  # the same start on another series
    baselines.note_normal(spec.key, fp, noise[0], noise[1])
    baselines.note_firing(spec.key, fp, *noise)  # the retained resolved alert, noted again
    baselines.detector(spec, fp, EPOCH)
    assert seen[-1] == {fp: [incident], other: [noise]}

    baselines.note_normal(spec.key, fp, noise[0], noise[1], normal=False)
    baselines.detector(spec, fp, EPOCH + HOUR)  # the next refit
    assert seen[-1] == {fp: [incident, noise], other: [noise]}
