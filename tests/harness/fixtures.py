"""pytest fixtures over the real backends; registered for every test by ``tests/conftest.py``.

Session-scoped (built once, shared, read-only for tests):

- ``sim_history``: a ``SimHistory`` of 14 days at 1 minute for 2 models with one incident of
  every fault kind (``sim_history.truth_path`` is the ground-truth JSON).
- ``prometheus``: a real Prometheus backfilled with ``sim_history`` (``prometheus.url``); the
  blocks are cached in pytest's cache dir, so reruns within the same hour start in seconds.
- ``victoria``: a real VictoriaMetrics with the same history imported (``victoria.url``),
  cached the same way.
- ``prometheus_source`` / ``victoria_source``: ``PrometheusSource`` clients of the two.

Function-scoped:

- ``prometheus_factory(history=None, **kwargs)``: starts extra Prometheus servers (keyword
  arguments of ``backends.start_prometheus``), stopped after the test; for tests that stop a
  server, need special flags, or want history (e.g. ``history=sim_history``) and a live
  simulator (``scrape_targets=[...]``) in one server.
- ``sim_process``: ``python -m alerter.sim serve`` in a subprocess on a free port.
- ``garbage_server``: a ``GarbageServer`` whose ``reply`` a test sets.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerter.source.prometheus import PrometheusSource

from .backends import backfill_prometheus, loaded_victoria, start_prometheus
from .garbage import GarbageServer
from .history import SimHistory, build_history
from .processes import ManagedProcess, free_port


def _cache_dir(request: pytest.FixtureRequest, name: str) -> Path | None:
    """A directory in pytest's cache, or None when the cache plugin is off (``-p no:cacheprovider``)."""
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir(name)) if cache is not None else None


@pytest.fixture(scope="session")
def sim_history(tmp_path_factory: pytest.TempPathFactory) -> SimHistory:
    return build_history(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="session")
def prometheus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_history: SimHistory
) -> Iterator[ManagedProcess]:
    workdir = tmp_path_factory.mktemp("prometheus")
    # Blocks are kept in pytest's cache dir: reruns within the hour skip the backfill.
    cache = _cache_dir(request, "alerter-tsdb")
    backfill_prometheus(sim_history, workdir / "data", cache_dir=cache)
    server = start_prometheus(workdir)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def victoria(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sim_history: SimHistory
) -> Iterator[ManagedProcess]:
    cache = _cache_dir(request, "alerter-victoria")
    server = loaded_victoria(sim_history, tmp_path_factory.mktemp("victoria"), cache_dir=cache)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prometheus_source(prometheus: ManagedProcess) -> Iterator[PrometheusSource]:
    with PrometheusSource(prometheus.url, timeout=60) as source:
        yield source


@pytest.fixture(scope="session")
def victoria_source(victoria: ManagedProcess) -> Iterator[PrometheusSource]:
    with PrometheusSource(victoria.url, timeout=60) as source:
        yield source


@pytest.fixture
def prometheus_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., ManagedProcess]]:
    started: list[ManagedProcess] = []

    def start(history: SimHistory | None = None, **kwargs: Any) -> ManagedProcess:
        workdir = tmp_path / f"prometheus-{len(started)}"
        if history is not None:
            cache = _cache_dir(request, "alerter-tsdb")
            backfill_prometheus(history, workdir / "data", cache_dir=cache)
        server = start_prometheus(workdir, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[ManagedProcess]:
    port = free_port()
    argv = [sys.executable, "-m", "alerter.sim", "serve", "--port", str(port), "--models", "2", "--seed", "7"]
    server = ManagedProcess(
        "alerter sim serve", argv, f"http://127.0.0.1:{port}", tmp_path / "sim.log", "/healthz"
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def garbage_server() -> Iterator[GarbageServer]:
    with GarbageServer() as server:
        yield server
