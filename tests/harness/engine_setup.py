"""Engine test setup: a config and rule file on disk, and an engine over a real Prometheus (fixtures
``engine_kit`` and ``private_prometheus``, registered for every test by ``tests/conftest.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from alerter.config import Bundle, load
from alerter.engine.baselines import Baselines
from alerter.engine.engine import Engine
from alerter.source import Source
from alerter.store.sqlite import Store
from harness import ManagedProcess

TTFT_RULE = """
groups:
  - name: latency
    interval: 1m
    rules:
      - alert: TTFTAnomaly
        expr: histogram_quantile(0.99, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket[5m])))
        baseline: {{detector: auto, sensitivity: 4, direction: up, history: 3d}}
        trigger: {{window: 5m, fraction: 0.6}}
        for: {for_}
        keep_firing_for: {keep}
        labels: {{severity: page}}
        annotations:
          summary: "p99 TTFT of {{{{ labels.model_name }}}} is {{{{ value | duration }}}} (expected {{{{ expected | duration }}}})"
"""


def write_config(directory: Path, prometheus_url: str, rules: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(rules)
    config = directory / "alerter.yaml"
    config.write_text(
        f"prometheus: {{url: {prometheus_url}}}\nrule_files: [rules.yaml]\n"
        f"storage: {{path: state.db}}\nserver: {{listen: 127.0.0.1:0}}\n"
    )
    return config


def incident(truth_path: Path, kind: str) -> dict[str, Any]:
    return next(i for i in json.loads(truth_path.read_text())["incidents"] if i["kind"] == kind)


@dataclass
class EngineKit:
    """An engine over a real source, fitting synchronously so every tick is deterministic."""

    bundle: Bundle
    store: Store
    engine: Engine

    def walk(self, start: float, end: float, step: float = 60.0, group: str = "latency") -> list[float]:
        ticks = []
        t = start
        while t <= end:
            self.engine.tick(group, t)
            ticks.append(t)
            t += step
        return ticks


@pytest.fixture
def engine_kit(tmp_path: Path) -> Iterator[Callable[..., EngineKit]]:
    stores: list[Store] = []

    def make(
        source: Source, rules: str, *, now: float, url: str = "http://127.0.0.1:1", db: Path | None = None
    ) -> EngineKit:
        config = write_config(tmp_path / "cfg", url, rules)
        bundle = load(config)
        store = Store(db or tmp_path / "state.db")
        stores.append(store)
        engine = Engine(bundle, source, store, Baselines(source, store), now=now)
        return EngineKit(bundle, store, engine)

    yield make
    for store in stores:
        store.close()


def copy_blocks(prometheus: ManagedProcess, target: Path) -> Path:
    """A private copy of a running Prometheus' persisted blocks (immutable, so safe to copy live)."""
    import shutil

    source = Path(next(a.split("=", 1)[1] for a in prometheus.argv if a.startswith("--storage.tsdb.path=")))
    target.mkdir(parents=True, exist_ok=True)
    for block in source.iterdir():
        if (block / "meta.json").exists():
            shutil.copytree(block, target / block.name)
    return target


@pytest.fixture
def private_prometheus(prometheus: ManagedProcess, tmp_path: Path) -> Iterator[Callable[..., ManagedProcess]]:
    """Start Prometheus servers holding the session's history that a test may stop and restart."""
    from harness import start_prometheus

    started: list[ManagedProcess] = []

    def start(**kwargs: Any) -> ManagedProcess:
        workdir = tmp_path / f"private-{len(started)}"
        data = copy_blocks(prometheus, workdir / "data")
        server = start_prometheus(workdir, data_dir=data, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
