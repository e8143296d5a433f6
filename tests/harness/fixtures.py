"""pytest fixtures over the real backends; registered for every test by ``tests/conftest.py``.

Session-scoped (built once, shared, read-only for tests):

- ``sim_history``: a ``SimHistory`` of 14 days at 1 minute for 2 models with one incident of
  every fault kind (``sim_history.truth_path`` is the ground-truth JSON), ending at the fixed
  ``HISTORY_END`` or at ``--history-end`` (``make test-sweep`` runs the history tests at many ends).
  Tests that use it are marked ``history``.
- ``prometheus``: a real Prometheus backfilled with ``sim_history`` (``prometheus.url``); the
  blocks are cached in pytest's cache dir, so reruns start in seconds.
- ``victoria``: a real VictoriaMetrics with the same history imported (``victoria.url``),
  cached the same way.
- ``prometheus_source`` / ``victoria_source``: ``PrometheusSource`` clients of the two.

Function-scoped:

- ``prometheus_factory(history=None, **kwargs)``: starts extra Prometheus servers (keyword
  arguments of ``backends.start_prometheus``), stopped after the test; for tests that stop a
  server, need special flags, or want history (e.g. ``history=sim_history``) and a live
  simulator (``scrape_targets=[...]``) in one server.
- ``sim_process``: ``python -m alerter.sim serve`` in a subprocess on a free port; ``sim_process_factory``
  starts one with extra arguments (e.g. ``--phase``).
- ``garbage_server``: a ``GarbageServer`` whose ``reply`` a test sets.
- ``sink``: the Slack Web API stand-in (``alerter.testing.slack``) accepting ``SLACK_TOKEN``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerter.source.prometheus import PrometheusSource
from alerter.testing.slack import SlackSink

from .backends import backfill_prometheus, loaded_victoria, start_prometheus
from .garbage import GarbageServer
from .history import HISTORY_END, SimHistory, build_history, parse_end
from .processes import ManagedProcess, free_port


def _cache_dir(request: pytest.FixtureRequest, name: str) -> Path | None:
    """A directory in pytest's cache, or None when the cache plugin is off (``-p no:cacheprovider``)."""
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir(name)) if cache is not None else None


HISTORY_FIXTURES = frozenset(
    {"sim_history", "prometheus", "victoria", "prometheus_source", "victoria_source"}
)
"""A test that uses any of these sees the session history: it is marked ``history``."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--history-end",
        type=parse_end,
        default=HISTORY_END,
        metavar="TIME",
        help="where the session's simulated history ends: unix seconds or e.g. 2026-11-18T14:00Z "
        "(default: the fixed HISTORY_END of tests/harness/history.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "history: uses the simulated session history (make test-sweep)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HISTORY_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.history)


@pytest.fixture(scope="session")
def sim_history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SimHistory:
    end: float = request.config.getoption("--history-end")
    return build_history(tmp_path_factory.mktemp("history"), end=end)


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
def sim_process_factory(tmp_path: Path) -> Iterator[Callable[..., ManagedProcess]]:
    started: list[ManagedProcess] = []

    def start(*extra: str) -> ManagedProcess:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "alerter.sim",
            "serve",
            "--port",
            str(port),
            "--models",
            "2",
            "--seed",
            "7",
        ]
        log = tmp_path / f"sim-{len(started)}.log"
        server = ManagedProcess(
            "alerter sim serve", [*argv, *extra], f"http://127.0.0.1:{port}", log, "/healthz"
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sim_process(sim_process_factory: Callable[..., ManagedProcess]) -> ManagedProcess:
    return sim_process_factory()


@pytest.fixture
def garbage_server() -> Iterator[GarbageServer]:
    with GarbageServer() as server:
        yield server


SLACK_TOKEN = "xoxb-test-0123456789-secret"
"""The bot token the ``sink`` fixture accepts."""


@pytest.fixture
def sink() -> Iterator[SlackSink]:
    """The Slack Web API stand-in on a free port, with channels #alerts (C0001) and #other (C0002)."""
    with SlackSink(token=SLACK_TOKEN, channels={"#alerts": "C0001", "#other": "C0002"}) as running:
        yield running
