"""Real Prometheus and VictoriaMetrics servers on 127.0.0.1, loaded with simulated history.

- ``start_prometheus(workdir, ...)``: a fresh Prometheus (Debian ``prometheus``) with its own
  data dir and free port; optional scrape targets (e.g. a live simulator, relabelled so its
  series continue the backfilled history) and extra flags such as ``--query.max-samples``.
- ``backfill_prometheus(history, data_dir)``: ``promtool tsdb create-blocks-from openmetrics``,
  one process per 18h piece, two at a time, overlapping with writing the next piece.
- ``start_victoria(workdir, ...)`` and ``import_victoria(url, history)``: VictoriaMetrics and
  its ``/api/v1/import/prometheus`` endpoint (millisecond timestamps); ``loaded_victoria``
  does both, with a cache like the Prometheus backfill's.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import requests

from .history import DEFAULT_LABELS, SimHistory
from .processes import ManagedProcess, free_port

__all__ = ["backfill_prometheus", "import_victoria", "loaded_victoria", "start_prometheus", "start_victoria"]

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
VICTORIA = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"


def _scrape_config(targets: Sequence[str], interval: str) -> str:
    if not targets:
        return "scrape_configs: []\n"
    listed = ", ".join(f'"{t}"' for t in targets)
    relabel = "".join(
        f'      - {{target_label: {name}, replacement: "{value}"}}\n'
        for name, value in DEFAULT_LABELS.items()
    )
    return (
        f"global: {{scrape_interval: {interval}, evaluation_interval: {interval}}}\n"
        "scrape_configs:\n"
        "  - job_name: sim\n"
        f"    static_configs: [{{targets: [{listed}]}}]\n"
        "    relabel_configs:\n" + relabel
    )


def start_prometheus(
    workdir: Path,
    *,
    data_dir: Path | None = None,
    scrape_targets: Sequence[str] = (),
    scrape_interval: str = "1s",
    extra_args: Sequence[str] = (),
) -> ManagedProcess:
    """Start Prometheus on a free port; returns once ``/-/ready`` answers 200.

    Series scraped from ``scrape_targets`` get ``job``/``instance`` rewritten to the values the
    backfilled history carries, so live samples extend the same series.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir or workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(_scrape_config(scrape_targets, scrape_interval))
    port = free_port()
    argv = [
        PROMETHEUS,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=100y",
        # Backfilled 18h blocks stay as they are instead of being compacted during the tests.
        "--storage.tsdb.max-block-duration=18h",
        "--log.level=warn",
        *extra_args,
    ]
    process = ManagedProcess(
        "prometheus", argv, f"http://127.0.0.1:{port}", workdir / "prometheus.log", "/-/ready"
    )
    return process.start()


def backfill_prometheus(
    history: SimHistory, data_dir: Path, *, parallel: int = 2, cache_dir: Path | None = None
) -> int:
    """Turn the history into TSDB blocks in ``data_dir``; returns the number of blocks.

    With ``cache_dir``, blocks built for the same history (same ``fingerprint``: parameters
    and simulator code) are copied from there instead of being built again, and a fresh build
    replaces whatever the cache held before.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    cached = _cached(cache_dir, history)
    if cached is not None:
        for block in cached.iterdir():
            if block.is_dir():
                shutil.copytree(block, data_dir / block.name)
        return _count_blocks(data_dir)
    _build_blocks(history, data_dir, parallel)
    if cache_dir is not None:
        _keep(cache_dir, history, data_dir, "")
    return _count_blocks(data_dir)


CACHE_ENTRIES = 16
"""Histories kept per cache: enough for every end of ``make test-sweep`` and the default one."""


def _cached(cache_dir: Path | None, history: SimHistory) -> Path | None:
    """The complete cache entry of ``history``, marked as just used; None when there is none."""
    entry = cache_dir / history.fingerprint() if cache_dir is not None else None
    if entry is None or not (entry / "complete").exists():
        return None
    (entry / "complete").touch()
    return entry


def _keep(cache_dir: Path, history: SimHistory, source: Path, name: str) -> None:
    """Copy ``source`` into the cache as ``history``'s entry (under ``name``, or as the entry itself),
    dropping the least recently used entries beyond ``CACHE_ENTRIES``."""
    entries = sorted(
        (p for p in cache_dir.iterdir() if (p / "complete").exists()),
        key=lambda p: (p / "complete").stat().st_mtime,
    )
    for old in [*entries[: max(0, len(entries) - CACHE_ENTRIES + 1)], *cache_dir.glob("*.tmp")]:
        shutil.rmtree(old, ignore_errors=True)
    entry = cache_dir / history.fingerprint()
    staging = cache_dir / f"{entry.name}.tmp"
    shutil.copytree(source, staging / name if name else staging)
    (staging / "complete").touch()
    shutil.rmtree(entry, ignore_errors=True)
    staging.rename(entry)


def _count_blocks(data_dir: Path) -> int:
    return sum(1 for p in data_dir.iterdir() if (p / "meta.json").exists())


def _build_blocks(history: SimHistory, data_dir: Path, parallel: int) -> None:
    running: list[tuple[Path, subprocess.Popen[bytes]]] = []

    def reap(limit: int) -> None:
        while len(running) > limit:
            path, proc = running.pop(0)
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"promtool failed on {path}: {err.decode(errors='replace')[-2000:]}")
            path.unlink()

    for path in history.openmetrics_files():
        reap(parallel - 1)
        command = [
            PROMTOOL,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
            str(path),
            str(data_dir),
        ]
        running.append((path, subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    reap(0)


def start_victoria(workdir: Path, *, extra_args: Sequence[str] = ()) -> ManagedProcess:
    """Start VictoriaMetrics on a free port; returns once ``/health`` answers 200.

    The response cache is off so that data imported after a query is visible to the next one.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        VICTORIA,
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={workdir / 'data'}",
        "-retentionPeriod=100y",
        "-search.disableCache",
        "-search.latencyOffset=0s",
        "-loggerLevel=ERROR",
        *extra_args,
    ]
    process = ManagedProcess(
        "victoria-metrics", argv, f"http://127.0.0.1:{port}", workdir / "vm.log", "/health"
    )
    return process.start()


def import_victoria(url: str, history: SimHistory) -> int:
    """Import the history through ``/api/v1/import/prometheus``; returns the bytes sent."""
    sent = 0
    with requests.Session() as session:
        for body in history.prometheus_texts():
            response = session.post(f"{url}/api/v1/import/prometheus", data=body, timeout=120)
            if response.status_code not in (200, 204):
                raise RuntimeError(
                    f"VictoriaMetrics import failed: HTTP {response.status_code} {response.text[:500]}"
                )
            sent += len(body)
        session.get(f"{url}/internal/force_flush", timeout=60).raise_for_status()
    return sent


def loaded_victoria(history: SimHistory, workdir: Path, *, cache_dir: Path | None = None) -> ManagedProcess:
    """A running VictoriaMetrics holding ``history``, imported or copied from ``cache_dir``.

    After a fresh import the server is stopped once so that its data directory can be copied
    into the cache in a consistent state, then started again on the same directory.
    """
    cached = _cached(cache_dir, history)
    if cached is not None:
        shutil.copytree(cached / "data", workdir / "data")
        return start_victoria(workdir)
    server = start_victoria(workdir)
    import_victoria(server.url, history)
    if cache_dir is None:
        return server
    server.stop()
    _keep(cache_dir, history, workdir / "data", "data")
    return start_victoria(workdir)
