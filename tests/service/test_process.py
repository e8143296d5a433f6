"""``alerter run`` as a real process: SIGKILL while an alert fires, restart, nothing lost or repeated."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import HISTORY_END, ManagedProcess, build_history, free_port, wait_until

RULES = """
groups:
  - name: live
    interval: 2s
    rules:
      - alert: ModelServing
        expr: sum by (model_name) (vllm:num_requests_running)
        baseline: {detector: static, above: -1}
        trigger: {window: 10s, fraction: 0.5}
        labels: {severity: info}
      - alert: TTFTAnomaly
        expr: histogram_quantile(0.99, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket[5m])))
        baseline: {detector: auto, history: 2d}
        trigger: {window: 30s, fraction: 0.8}
"""


@pytest.fixture
def engine_process(
    tmp_path: Path,
    sim_process_factory: Callable[..., ManagedProcess],
    prometheus_factory: Callable[..., ManagedProcess],
) -> Iterator[Callable[[], ManagedProcess]]:
    # Two days of history that end now, continued by the live simulator, both replaying the
    # hours before HISTORY_END (Fleet.phase), so the scenario is the same whenever the test runs.
    end = math.floor(time.time() / 60) * 60
    phase = HISTORY_END - end
    history = build_history(tmp_path / "history", days=2.5, end=end, incidents=0, phase=phase)
    sim = sim_process_factory("--phase", f"{phase:.0f}")
    prometheus = prometheus_factory(history=history, scrape_targets=[sim.url.removeprefix("http://")])
    port = free_port()
    (tmp_path / "rules.yaml").write_text(RULES)
    config = tmp_path / "alerter.yaml"
    config.write_text(
        f"prometheus: {{url: {prometheus.url}}}\nrule_files: [rules.yaml]\nstorage: {{path: state.db}}\n"
        f"server: {{listen: 127.0.0.1:{port}}}\n"
    )
    argv = [sys.executable, "-m", "alerter", "run", "--config", str(config)]
    processes: list[ManagedProcess] = []

    def start() -> ManagedProcess:
        process = ManagedProcess(
            "alerter run", argv, f"http://127.0.0.1:{port}", tmp_path / "alerter.log", "/readyz"
        )
        processes.append(process.start())
        return process

    yield start
    for process in processes:
        process.stop()


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _firing(url: str) -> list[dict[str, Any]]:
    return [
        a
        for a in _json(url + "/api/v1/alerts")["alerts"]
        if a["state"] == "firing" and a["rule"] == "ModelServing"
    ]


def _fitted_at(url: str) -> float | None:
    for group in _json(url + "/api/v1/rules")["groups"]:
        for rule in group["rules"]:
            if rule["name"] == "TTFTAnomaly" and rule["baseline"]["series"]:
                return float(rule["baseline"]["fitted_at"])
    return None


@pytest.mark.slow
def test_sigkill_while_firing_loses_and_repeats_nothing(engine_process: Callable[[], ManagedProcess]) -> None:
    first = engine_process()
    wait_until(lambda: len(_firing(first.url)) == 2, timeout=60, what="both models firing")
    wait_until(lambda: _fitted_at(first.url) is not None, timeout=120, what="baselines fitted")
    before = {a["fingerprint"]: a for a in _firing(first.url)}
    fitted_at = _fitted_at(first.url)
    assert first.process is not None
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)

    second = engine_process()
    after = {a["fingerprint"]: a for a in _firing(second.url)}
    assert after.keys() == before.keys(), "firing alerts are restored before the first tick"
    for fingerprint, alert in before.items():
        assert after[fingerprint]["fired_at"] == alert["fired_at"]
    wait_until(lambda: _fitted_at(second.url) is not None, timeout=30, what="baselines loaded")
    assert _fitted_at(second.url) == fitted_at, "baselines come from the store, not a refit"
    wait_until(
        lambda: all(a["last_eval"] > before[a["fingerprint"]]["last_eval"] for a in _firing(second.url)),
        timeout=30,
        what="an evaluation after the restart",
    )
    for alert in _firing(second.url):
        assert alert["fired_at"] == before[alert["fingerprint"]]["fired_at"], "not re-announced as new"
    assert second.process is not None and second.process.poll() is None
