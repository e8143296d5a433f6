"""The reference pagers of benchmarks/_pagers.py: their point flags, and paging as the engine pages."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import _pagers
from _detection_metrics import judge, label_events

from alerter.backtest import replay_series

DAY = 86400.0


def _noisy_day(days: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    ts = np.arange(0.0, days * DAY, 60.0)
    rng = np.random.default_rng(5)
    return ts, 100 + 20 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, 1, ts.size)


@pytest.mark.parametrize("flags", [_pagers.rolling_zscore_flags, _pagers.seasonal_naive_flags])
def test_a_spike_is_flagged_and_a_constant_never(flags: object) -> None:
    ts, vs = _noisy_day()
    spiked = vs.copy()
    spiked[2 * 1440 + 100 : 2 * 1440 + 110] += 500
    got = flags(ts, spiked)  # type: ignore[operator]
    assert got[2 * 1440 + 100 : 2 * 1440 + 110].all()
    assert not flags(ts, np.full(ts.size, 7.0)).any()  # type: ignore[operator]


def test_seasonal_naive_ignores_an_exactly_repeating_day() -> None:
    ts = np.arange(0.0, 4 * DAY, 60.0)
    square = np.where((ts % DAY) / 3600 < 12, 20.0, 80.0)
    assert not _pagers.seasonal_naive_flags(ts, square).any()


def test_a_flagged_run_pages_once_the_trigger_window_is_80_percent_out() -> None:
    ts = np.arange(0.0, 100 * 60.0, 60.0)
    flags = np.zeros(ts.size, dtype=bool)
    flags[50:60] = True
    [page] = _pagers.pages(ts, flags, 60.0, _pagers.Semantics.of({"keep_firing_for": "0s"}))
    # 5 points per 5-minute window: the 4th flagged one fills 80% of it; the 2nd point after
    # the run leaves 60% and resolves.
    assert page.fired_at == ts[53]
    assert page.resolved_at == ts[61]
    # A default baseline rule holds it 30 minutes longer.
    [held] = _pagers.pages(ts, flags, 60.0, _pagers.Semantics.defaults())
    assert (held.fired_at, held.resolved_at) == (ts[53], ts[61] + 1800.0)


RULES = [
    (
        {"baseline": {"detector": "static", "above": 1.5}},
        _pagers.Semantics.of({"baseline": {"detector": "static", "above": 1.5}}),
    ),
    (
        {"baseline": {"detector": "static", "above": 1.5}, "keep_firing_for": "30m"},
        _pagers.Semantics.defaults(),
    ),
    (
        {
            "baseline": {"detector": "static", "above": 1.5},
            "trigger": {"window": "10m", "fraction": 0.5},
            "for": "3m",
            "keep_firing_for": "5m",
        },
        _pagers.Semantics(600.0, 0.5, 180.0, 300.0, 3600.0, 6),
    ),
]


@pytest.mark.parametrize(
    ("rule", "semantics"), RULES, ids=["static-defaults", "baseline-defaults", "window-for-keep"]
)
def test_pages_like_the_engine(rule: dict[str, object], semantics: _pagers.Semantics) -> None:
    """Flags of a static threshold page exactly as the engine pages that threshold rule."""
    rng = np.random.default_rng(3)
    ts = np.arange(0.0, 2500 * 60.0, 60.0)
    vs = rng.random(ts.size)
    vs[500:520] = 2  # one clear incident
    vs[800:900:3] = 2  # one in three points out: pages only with the looser trigger
    vs[1000:1100] = np.where(rng.random(100) < 0.85, 2, 0)  # flapping
    vs[1500:1530] = np.nan  # a gap in the data...
    vs[1531:1540] = 2  # ...then an incident
    episodes = replay_series(rule, ts, vs)
    engine = [(e.active_at, e.fired_at, e.resolved_at) for e in episodes if e.fired_at is not None]
    finite = np.isfinite(vs)
    mine = _pagers.pages(ts[finite], vs[finite] > 1.5, 60.0, semantics)
    assert [(p.active_at, p.fired_at, p.resolved_at) for p in mine] == engine
    assert len(engine) >= 3


def test_judge_classifies_pages() -> None:
    ts = np.arange(0.0, 100_000.0, 60.0)
    labels = np.zeros(ts.size, dtype=bool)
    labels[[100, 101, 103, 1000]] = True  # 6000-6180 is one event (one point missing), 60000 another
    events = label_events(ts, labels, gap=180.0)
    assert events == [(6000.0, 6180.0), (60000.0, 60000.0)]
    pages = [3000.0, 6060.0, 6100.0, 7000.0, 20000.0, 30000.0]
    out = judge("s", 0.0, ts[-1], events, pages, 60.0, 1.0, ignore=[(29000.0, 31000.0)])
    # 7000 is within the 15 minutes after the first event's end; 30000 is ignored.
    assert (out.caught, out.true_pages, out.false_pages) == (1, 3, 2)
    assert out.pages == pages[:-1]
    assert out.delays == [60.0]
