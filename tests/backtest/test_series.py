"""replay_series and ArraySource: one rule over one in-memory series, through the engine's code path."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from alerter.backtest import Episode, replay_series
from alerter.backtest.record import Episodes
from alerter.backtest.series import ArraySource, clean_series, rule_bundle
from alerter.core.errors import AlerterError, ConfigErrors
from alerter.core.model import Labels, Series
from alerter.engine.baselines import Baselines
from alerter.engine.engine import Engine
from alerter.store.sqlite import Store

EPOCH = 1_795_010_400.0  # 2026-11-18T14:00Z, a fixed end for every history here
STEP = 300.0


def daily(days: float, seed: int, step: float = STEP) -> tuple[np.ndarray, np.ndarray]:
    """A noisy daily pattern ending at EPOCH."""
    ts = EPOCH - days * 86400 + step * np.arange(int(days * 86400 / step))
    rng = np.random.default_rng(seed)
    return ts, 100 + 30 * np.sin(2 * np.pi * ts / 86400) + rng.normal(0, 2, ts.size)


def incident(ts: np.ndarray, vs: np.ndarray, start: float, minutes: float, add: float) -> np.ndarray:
    out = vs.copy()
    out[(ts >= start) & (ts < start + minutes * 60)] += add
    return out


# -- ArraySource answers as Prometheus does for a plain selector ------------------------------


def test_a_range_query_takes_the_latest_sample_within_the_lookback_at_each_step() -> None:
    s = Series(Labels(job="a"), np.array([0.0, 60.0, 120.0, 900.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    (got,) = ArraySource((s,)).query_range("x", 0.0, 1000.0, 200.0)
    # 0 -> the sample at 0; 200 -> 120; 400 -> 120 (280 s old); 600 and 800 -> nothing (older
    # than 5m); 1000 -> 900
    assert got.timestamps.tolist() == [0.0, 200.0, 400.0, 1000.0]
    assert got.values.tolist() == [1.0, 3.0, 3.0, 4.0]


def test_a_range_query_starts_at_the_multiple_of_step_at_or_before_start() -> None:
    s = Series(Labels(), np.arange(0.0, 3600.0, 60.0), np.arange(60.0))
    (got,) = ArraySource((s,)).query_range("x", 130.0, 400.0, 120.0)
    assert got.timestamps.tolist() == [120.0, 240.0, 360.0]


def test_series_without_a_sample_in_range_are_left_out() -> None:
    s = Series(Labels(), np.array([0.0]), np.array([1.0]))
    assert ArraySource((s,)).query_range("x", 1000.0, 2000.0, 60.0) == []


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the prometheus binary")
def test_array_source_answers_like_a_real_prometheus(tmp_path: Path) -> None:
    """The same samples in a real Prometheus give the same range query results."""
    from alerter.ruletest.prometheus import SeriesData, ThrowawayPrometheus
    from alerter.source.prometheus import PrometheusSource

    rng = np.random.default_rng(3)
    start = EPOCH - 6 * 3600
    ts = np.sort(start + rng.choice(np.arange(0, 6 * 3600, 15.0), size=600, replace=False))
    ts = ts[(ts < start + 3600) | (ts > start + 3600 + 900)]  # a 15-minute gap
    vs = rng.normal(10, 3, ts.size).round(3)
    mine = ArraySource((Series(Labels(), ts, vs),))
    with ThrowawayPrometheus("prometheus") as prom:
        prom.push(
            [SeriesData({"__name__": "x"}, [(int(t * 1000), float(v)) for t, v in zip(ts, vs, strict=True)])]
        )
        with PrometheusSource(prom.url) as real:
            for step in (15.0, 60.0, 300.0, 420.0):
                (want,) = real.query_range("x", start, start + 6 * 3600, step)
                (got,) = mine.query_range("x", start, start + 6 * 3600, step)
                assert got.timestamps.tolist() == want.timestamps.tolist(), step
                assert got.values.tolist() == want.values.tolist(), step


# -- input hygiene ----------------------------------------------------------------------------


def test_clean_series_sorts_drops_missing_and_keeps_the_last_duplicate() -> None:
    ts, vs = clean_series([30.0, 10.0, 20.0, 20.0, np.nan, 40.0], [3.0, 1.0, 2.0, 2.5, 9.0, np.nan])
    assert ts.tolist() == [10.0, 20.0, 30.0]
    assert vs.tolist() == [1.0, 2.5, 3.0]


def test_clean_series_reads_datetime64() -> None:
    ts, _ = clean_series(np.array(["2026-11-18T14:00", "NaT"], dtype="datetime64[s]"), [1.0, 2.0])
    assert ts.tolist() == [EPOCH]


# -- replay_series ----------------------------------------------------------------------------


def test_an_incident_after_training_pages_once_and_resolves() -> None:
    ts, vs = daily(5, seed=1)
    at = EPOCH - 12 * 3600
    episodes = replay_series({"baseline": {"detector": "stl"}}, ts, incident(ts, vs, at, 45, 60.0))
    during = [e for e in episodes if e.fired_at is not None and at <= e.fired_at <= at + 45 * 60]
    assert len(during) == 1
    (page,) = during
    assert page.fired_at is not None and page.active_at <= page.fired_at
    assert page.resolved_at is not None and page.resolved_at >= at + 45 * 60
    assert page.peak_score > 0.5 and page.tier.startswith("stl")


def test_a_rule_without_baseline_is_replayed_with_the_default_baseline() -> None:
    # In a rule file it would be a threshold rule, active at every sample of a bare series.
    ts, vs = daily(5, seed=1)
    at = EPOCH - 12 * 3600
    spiked = incident(ts, vs, at, 45, 60.0)
    assert replay_series({"for": "5m"}, ts, spiked) == replay_series(
        {"for": "5m", "baseline": {}}, ts, spiked
    )
    assert len(replay_series({"for": "5m"}, ts, spiked)) < 10


def test_an_alert_that_never_outlasts_for_is_an_episode_without_a_page() -> None:
    ts, vs = daily(5, seed=2)
    at = EPOCH - 12 * 3600
    rule = {"baseline": {"detector": "stl"}, "for": "2h"}
    episodes = replay_series(rule, ts, incident(ts, vs, at, 30, 60.0))
    (blip,) = [e for e in episodes if at <= e.active_at <= at + 30 * 60]
    assert blip.fired_at is None
    assert blip.resolved_at is not None


def test_unsorted_input_with_duplicates_gives_the_same_episodes() -> None:
    ts, vs = daily(4, seed=4)
    vs = incident(ts, vs, EPOCH - 6 * 3600, 40, 50.0)
    order = np.random.default_rng(0).permutation(ts.size)
    shuffled = replay_series(
        {"baseline": {}}, np.concatenate([ts[order], ts[:5]]), np.concatenate([vs[order], vs[:5]])
    )
    assert shuffled == replay_series({"baseline": {}}, ts, vs)


def test_invalid_rule_keys_are_reported_by_field() -> None:
    ts, vs = daily(1, seed=5)
    with pytest.raises(ConfigErrors) as caught:
        replay_series({"baseline": {"sensitivity": -1}, "fro": "5m"}, ts, vs)
    text = str(caught.value)
    assert "rule 0" in text and "sensitivity" in text and "fro" in text
    assert "rules.yaml" not in text


def test_a_single_sample_cannot_be_replayed() -> None:
    with pytest.raises(AlerterError, match="two samples"):
        replay_series({"baseline": {}}, [EPOCH], [1.0])


def test_replay_series_equals_the_engine_ticking_on_the_same_data(tmp_path: Path) -> None:
    """The engine, driven tick by tick as the scheduler drives it, pages exactly as replay_series."""
    ts, vs = daily(4, seed=6)
    vs = incident(ts, vs, EPOCH - 10 * 3600, 50, 40.0)
    vs = incident(ts, vs, EPOCH - 30 * 3600, 20, -45.0)
    rule = {"alert": "Replay", "expr": "series", "baseline": {}, "for": "10m"}
    expected = replay_series(rule, ts, vs)

    series = Series(Labels(), ts, vs)
    source = ArraySource((series,))
    seen = Episodes(pending=True)
    store = Store(tmp_path / "state.db")
    try:
        bundle = rule_bundle([rule], STEP, tmp_path)
        engine = Engine(
            bundle,
            source,
            store,
            Baselines(source, store),
            sink=lambda alerts, now: _ignore(seen.observe_tick(alerts, now, "replay")),
            now=float(ts[0]),
        )
        for k in range(int((ts[-1] - ts[0]) // STEP) + 1):
            engine.tick("replay", float(ts[0]) + k * STEP)
    finally:
        store.close()
    got = seen.all()
    assert any(e.fired_at is not None for e in got), "the incidents must page for the comparison to mean much"
    assert [_plain(e) for e in got] == [_plain(e) for e in expected]


def _plain(e: Episode) -> dict[str, object]:
    return {k: v for k, v in dataclasses.asdict(e).items() if k != "chart"}


# -- alerter backtest --csv --truth ---------------------------------------------------------------

TRUTH_RULES = """\
groups:
  - name: exported
    interval: 5m
    rules:
      - alert: LatencyAnomaly
        expr: ignored_with_csv
        baseline: {detector: stl, history: 3d}
"""


def test_csv_backtest_scores_its_alerts_against_a_truth_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alerter.backtest import main

    ts, vs = daily(4, seed=11)
    start = EPOCH - 8 * 3600
    vs = incident(ts, vs, start, 60, 80)
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("time,p99\n" + "".join(f"{t:.0f},{v:.3f}\n" for t, v in zip(ts, vs, strict=True)))
    (tmp_path / "rules.yaml").write_text(TRUTH_RULES)
    incidents = [
        {
            "kind": "latency_regression",
            "model": "m",
            "start": start,
            "end": start + 3600,
            "series": [{"labels": {"series": "p99"}}],
        },
        {
            "kind": "queue_buildup",
            "model": "m",
            "start": EPOCH - 20 * 3600,
            "end": EPOCH - 19 * 3600,
            "series": [{"labels": {"series": "p99"}}],
        },
    ]
    (tmp_path / "truth.json").write_text(json.dumps({"incidents": incidents}))
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    args = ["--csv", str(csv_path), "--rules", str(tmp_path / "rules.yaml"), "--from", str(EPOCH - 86400)]
    args += ["--truth", str(tmp_path / "truth.json"), "--truth-tolerance", "15m"]
    assert main([*args, "--json", str(out_json), "--report", str(out_html), "--no-charts"]) == 0
    truth = json.loads(out_json.read_text())["a"]["truth"]
    missed, caught = truth["incidents"]  # in order of start
    assert caught["caught"] and 0 <= caught["delay"] <= 15 * 60
    assert caught["first_page"]["rule"] == "LatencyAnomaly"
    assert not missed["caught"] and truth["tolerance"] == 15 * 60
    assert truth["per_rule"]["LatencyAnomaly"]["caught"] == 1
    out = capsys.readouterr().out
    assert "truth (" in out and "1 of 2 incidents caught" in out and "MISSED  queue_buildup" in out
    page = out_html.read_text()
    assert "ground truth" in page and 'class="missed"' in page


def test_a_bad_truth_file_fails_before_the_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from alerter.backtest import main

    (tmp_path / "rules.yaml").write_text(TRUTH_RULES)
    (tmp_path / "x.csv").write_text("time,v\n1,1\n2,2\n")
    (tmp_path / "truth.json").write_text('{"incidents": [{"kind": "k", "model": "m", "start": "later"}]}')
    args = ["--csv", str(tmp_path / "x.csv"), "--rules", str(tmp_path / "rules.yaml")]
    assert main([*args, "--truth", str(tmp_path / "truth.json")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'truth.json'}:1:" in err and "incidents[0].start" in err


def _ignore(_: object) -> None:
    """A sink returns nothing; what the episodes tracker returns is read from it later."""
