"""The processes behind ``make demo``: history backfill, a Prometheus, and stopping what was started.

Used by ``alerter.demo.run`` (the orchestrator); kept apart so that the narration stays readable and
so that these pieces, which touch the operating system, can be tested on their own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from alerter.core.durations import format_duration
from alerter.sim.fleet import Fleet
from alerter.sim.history import PROMTOOL_BLOCK, write_history

__all__ = [
    "SIM_LABELS",
    "Children",
    "backfill",
    "free_port",
    "prometheus_config",
    "start_prometheus",
    "wait_ready",
]

SIM_LABELS = {"job": "sim", "instance": "sim:8000"}
"""Labels of the backfilled series; the live scrape is relabelled to match, so it continues them."""
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prometheus_config(target: str, scrape: float) -> str:
    """Scrape the live simulator, relabelled so its series extend the backfilled ones."""
    relabel = "".join(f'      - {{target_label: {k}, replacement: "{v}"}}\n' for k, v in SIM_LABELS.items())
    interval = format_duration(scrape)
    return (
        f"global: {{scrape_interval: {interval}, evaluation_interval: {interval}}}\n"
        "scrape_configs:\n  - job_name: sim\n"
        f'    static_configs: [{{targets: ["{target}"]}}]\n'
        "    relabel_configs:\n" + relabel
    )


def backfill(data_dir: Path, scratch: Path, fleet: Fleet, *, start: float, end: float, step: float) -> int:
    """``fleet``'s history of [start, end] into Prometheus blocks; returns the samples written.

    Files are cut at promtool's block length and converted two at a time (see ``write_history``).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    written = write_history(fleet, start, end, step, scratch, extra_labels=SIM_LABELS, split=PROMTOOL_BLOCK)
    running: list[tuple[Path, subprocess.Popen[bytes]]] = []
    for path in [*written.paths, None]:
        while running and (path is None or len(running) >= 2):
            done, proc = running.pop(0)
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"promtool failed on {done}: {err.decode(errors='replace')[-1000:]}")
            done.unlink()
        if path is not None:
            argv = [
                PROMTOOL,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=24h",
                str(path),
                str(data_dir),
            ]
            running.append((path, subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    return written.samples


class Children:
    """Child processes in their own sessions: Ctrl-C reaches only the demo, which stops them in order."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(
        self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.procs.append((name, proc))
        return proc

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM each process group (newest first), SIGKILL what is still there after ``timeout``."""
        while self.procs:
            _, proc = self.procs.pop()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def wait_ready(url: str, *, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early, naming ``what``, when its process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; see its log under .demo/")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready at {url} within {timeout:.0f}s")


def start_prometheus(children: Children, workdir: Path, target_url: str, scrape: float) -> str:
    """A Prometheus over ``workdir/data`` scraping ``target_url``; returns its URL once ready."""
    config = workdir / "prometheus.yml"
    config.write_text(prometheus_config(target_url.removeprefix("http://"), scrape), encoding="utf-8")
    port = free_port()
    argv = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=100y",
        "--log.level=warn",
    ]
    proc = children.start("prometheus", argv, workdir / "prometheus.log")
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/-/ready", timeout=60, what="prometheus", proc=proc)
    return url
