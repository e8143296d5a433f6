"""``alerter sim`` on the command line, and ``python -m alerter.sim serve`` scraped by a real Prometheus."""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import requests
from harness import HISTORY_END, ManagedProcess, build_history, wait_until

from alerter.sim.cli import main, register
from alerter.sim.metrics import fleet_samples
from alerter.source.prometheus import PrometheusSource

END = 1_780_012_800.0


def test_history_command_writes_history_and_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "history",
            "--out",
            str(tmp_path / "h.om"),
            "--truth",
            str(tmp_path / "t.json"),
            "--days",
            "1",
            "--step",
            "5m",
            "--end",
            str(END),
            "--models",
            "1",
            "--seed",
            "3",
            "--fault",
            "error_surge:*:2h:30m",
            "--random-faults",
            "2",
            "--label",
            "job=sim",
        ]
    )
    assert code == 0
    assert "wrote" in capsys.readouterr().out
    text = (tmp_path / "h.om").read_text()
    assert text.endswith("# EOF\n") and 'job="sim"' in text
    truth = json.loads((tmp_path / "t.json").read_text())
    assert truth["start"] == END - 86400 and truth["end"] == END and truth["step"] == 300
    assert len(truth["incidents"]) == 3
    assert {"kind": "error_surge", "start": END - 86400 + 7200}.items() <= truth["incidents"][0].items()


def test_history_command_splits_into_files(tmp_path: Path) -> None:
    assert (
        main(
            [
                "history",
                "--out",
                str(tmp_path / "parts"),
                "--days",
                "2",
                "--end",
                str(END),
                "--split",
                "18h",
                "--models",
                "1",
                "--format",
                "prometheus",
                "--step",
                "10m",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "parts").glob("history-*.prom"))) == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["history", "--out", "x.om", "--days", "0"], "--days must be positive"),
        (["history", "--out", "x.om", "--fault", "error_surge:gpt-5:1h:1h"], "unknown model"),
        (["history", "--out", "/nonexistent/dir/x.om", "--days", "0.01"], "No such file"),
    ],
)
def test_history_command_reports_bad_input(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["history"],
        ["serve", "--port", "x"],
        ["history", "--out", "x", "--step", "1x"],
        ["history", "--out", "x", "--label", "nolabel"],
        ["nope"],
    ],
)
def test_argument_errors_exit_with_usage(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_register_adds_sim_to_another_parser() -> None:
    parser = argparse.ArgumentParser(prog="alerter")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sim", "serve", "--port", "0", "--models", "1"])
    assert (args.command, args.sim_command, args.port, args.models) == ("sim", "serve", 0, 1)
    assert callable(args.func)


@pytest.mark.slow
def test_served_simulator_is_scraped_by_prometheus(
    sim_process: ManagedProcess, prometheus_factory: Callable[..., ManagedProcess]
) -> None:
    target = sim_process.url.removeprefix("http://")
    prometheus = prometheus_factory(scrape_targets=[target], scrape_interval="1s")
    selector = 'vllm:num_requests_running{job="sim", instance="sim:8000"}'
    with PrometheusSource(prometheus.url, timeout=5) as source:

        def models() -> set[str]:
            return {s.labels["model_name"] for s in source.query(selector, time.time())}

        wait_until(lambda: len(models()) == 2, timeout=30, what="two simulated models in Prometheus")
        (up,) = source.query('up{job="sim"}', time.time())
        assert up.values.tolist() == [1.0]
        response = requests.post(
            f"{sim_process.url}/inject", params={"kind": "silent", "model": "llama-3.1-70b"}, timeout=5
        )
        assert response.status_code == 201
        wait_until(lambda: models() == {"llama-3.1-8b"}, timeout=30, what="the silenced model going stale")


def test_live_scrapes_continue_the_backfilled_series(
    sim_process_factory: Callable[..., ManagedProcess],
    prometheus_factory: Callable[..., ManagedProcess],
    tmp_path: Path,
) -> None:
    """A history that ends now, continued by the live simulator, both replaying HISTORY_END's hours."""
    end = math.floor(time.time() / 60) * 60
    phase = HISTORY_END - end
    history = build_history(tmp_path / "history", days=0.125, end=end, incidents=0, phase=phase)
    sim = sim_process_factory("--phase", f"{phase:.0f}")
    target = sim.url.removeprefix("http://")
    prometheus = prometheus_factory(history=history, scrape_targets=[target], scrape_interval="1s")
    selector = 'vllm:kv_cache_usage_perc{model_name="llama-3.1-8b"}'
    with PrometheusSource(prometheus.url, timeout=10) as source:
        wait_until(lambda: bool(source.query(selector, time.time())), timeout=30, what="a live sample")
        now = time.time()
        (live,) = source.query(selector, now)
        series = source.query_range(selector, end - 3600, now, 60)
    assert len(series) == 1  # history and live samples share one label set
    assert series[0].timestamps[0] == end - 3600
    want_t, want_v = history.expected("vllm:kv_cache_usage_perc", {"model_name": "llama-3.1-8b"})
    backfilled = series[0].timestamps <= end
    np.testing.assert_array_equal(series[0].values[backfilled], want_v[np.isin(want_t, series[0].timestamps)])
    # the live server plays the phased scenario too: the last scrape shows the phased fleet's
    # value of the minute it was taken in (or of the minute before, if it was taken just before one)
    minute = math.floor(now / 60) * 60
    (gauge,) = [
        f
        for f in fleet_samples(history.fleet, np.array([minute - 59.0, minute + 1.0]))
        if f.name == "vllm:kv_cache_usage_perc"
    ]
    (sample,) = [s for s in gauge.samples if dict(s.labels)["model_name"] == "llama-3.1-8b"]
    assert live.values[-1] in sample.values.tolist(), (live.values, sample.values)
