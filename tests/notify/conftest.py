"""Fixtures for notification tests: alert factories and a real Alertmanager (the Slack stand-in
is the ``sink`` fixture of ``harness.fixtures``)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerter.core.model import Alert, AlertState, Labels

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC

AlertFactory = Callable[..., Alert]


def _alert(
    rule: str = "TTFTAnomaly",
    state: AlertState = AlertState.FIRING,
    *,
    group: str = "llm",
    fired_at: float = T0 - 600,
    **labels: Any,
) -> Alert:
    names = {"alertname": rule, "severity": "page", "model_name": "llama3-70b", **labels}
    return Alert(
        rule=rule,
        group=group,
        labels=Labels({k: str(v) for k, v in names.items()}),
        state=state,
        active_at=fired_at - 300,
        fired_at=fired_at,
        resolved_at=T0 if state is AlertState.RESOLVED else None,
        value=0.82,
        expected=0.31,
        lower=0.22,
        upper=0.40,
        score=0.97,
        fraction=0.9,
        tier="stl",
        annotations={
            "summary": f"p99 TTFT of {names['model_name']} is 820ms (expected 310ms)",
            "runbook_url": "https://runbooks.example/ttft",
        },
    )


@pytest.fixture
def make_alert() -> AlertFactory:
    return _alert


AM_CONFIG = "route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Alertmanager on 127.0.0.1 (Debian's prometheus-alertmanager, installed by `make debs`)."""
    binary = shutil.which("prometheus-alertmanager")
    assert binary is not None, "prometheus-alertmanager is not installed: run `make debs`"
    root = tmp_path_factory.mktemp("alertmanager")
    (root / "am.yml").write_text(AM_CONFIG)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "am.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={root / 'am.yml'}",
                f"--storage.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        _wait_ready(url, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Startup polling: this is a real server, so waiting for it is the only way to know."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"alertmanager exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"alertmanager did not become ready in 30s: {log.read_text()[-2000:]}")


def _amtool_alerts(url: str, *matchers: str) -> list[dict[str, Any]]:
    binary = shutil.which("amtool")
    assert binary is not None, "amtool is not installed: run `make debs`"
    out = subprocess.run(
        [binary, "alert", "query", f"--alertmanager.url={url}", "-o", "json", *matchers],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return list(json.loads(out or "[]"))


@pytest.fixture
def amtool() -> Callable[..., list[dict[str, Any]]]:
    """``amtool(url, *matchers)``: the active alerts amtool reports."""
    return _amtool_alerts
