"""The demo's processes: the Prometheus config it writes, the backfill, and stopping what it started."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from alerter.demo.stack import PROMTOOL, Children, backfill, prometheus_config, start_prometheus, wait_ready
from alerter.sim.fleet import Fleet


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent has not reaped it yet.
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    path = tmp_path / "prometheus.yml"
    path.write_text(prometheus_config("127.0.0.1:9400", 5.0))
    checked = subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "scrape_interval: 5s" in path.read_text()


def test_stop_all_ends_children_and_their_children(tmp_path: Path) -> None:
    children = Children()
    pidfile = tmp_path / "grandchild.pid"
    proc = children.start("shell", ["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"], tmp_path / "log")
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    assert _alive(grandchild)
    children.stop_all()
    assert proc.returncode is not None
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild), "the whole process group is stopped, not just the direct child"
    assert children.procs == []


def test_wait_ready_names_a_process_that_died(tmp_path: Path) -> None:
    children = Children()
    proc = children.start("false", ["false"], tmp_path / "log")
    with pytest.raises(RuntimeError, match="broken exited with code 1"):
        wait_ready("http://127.0.0.1:1/", timeout=10, what="broken", proc=proc)
    children.stop_all()


def test_backfilled_history_is_served_by_prometheus(tmp_path: Path) -> None:
    """A short history goes through promtool into blocks that a started Prometheus answers from."""
    end = 1_700_000_000.0 // 60 * 60
    samples = backfill(
        tmp_path / "prom" / "data", tmp_path / "history", Fleet(), start=end - 86400, end=end, step=300.0
    )
    assert samples > 0
    assert not list((tmp_path / "history").iterdir()), "converted files are removed"
    children = Children()
    try:
        url = start_prometheus(children, tmp_path / "prom", "http://127.0.0.1:1", 5.0)
        answer = requests.get(
            f"{url}/api/v1/query",
            params={
                "query": 'count(vllm:num_requests_running{job="sim",instance="sim:8000"})',
                "time": str(end),
            },
            timeout=10,
        ).json()
        assert answer["status"] == "success"
        assert int(answer["data"]["result"][0]["value"][1]) >= 3, "one series per simulated model"
    finally:
        children.stop_all()
