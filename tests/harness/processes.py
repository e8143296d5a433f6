"""Start a server binary as a child process, wait until it answers, and stop it again.

Used by the Prometheus, VictoriaMetrics and simulator functions of this package. Every process
binds 127.0.0.1 on a port picked free by the OS, logs to a file next to its data (shown when it
fails to become ready), and is stopped with SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests

__all__ = ["ManagedProcess", "free_port", "wait_until"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], object], *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``check()`` until it returns true; real processes take real time to start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout:g}s")


@dataclass
class ManagedProcess:
    """A running server: its command, log file and base URL; ``env`` is added to this process's
    environment for it (e.g. the ``POD_NAME`` a replica reads its id from)."""

    name: str
    argv: Sequence[str]
    url: str
    log_path: Path
    ready_path: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    env: Mapping[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 30.0) -> ManagedProcess:
        log = self.log_path.open("ab")
        env = {**os.environ, **self.env} if self.env else None
        self.process = subprocess.Popen(list(self.argv), stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        try:
            wait_until(
                self._ready, timeout=timeout, what=f"{self.name} readiness at {self.url}{self.ready_path}"
            )
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{self.name} did not start; log:\n{self.log_tail()}") from None
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}; log:\n{self.log_tail()}")
        try:
            return requests.get(self.url + self.ready_path, timeout=1.0).status_code == 200
        except requests.RequestException:
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
