"""Synthetic history for the throughput benchmark: N gauge series with a daily season, in Prometheus.

Used by ``benchmarks/throughput.py``. Each series ``bench_latency{rule="rK", series="i", ...}``
carries ten labels, as a vLLM metric scraped through Kubernetes service discovery does, and is a
level plus a daily sine (peak in the afternoon) plus Gaussian noise, sampled every ``step``
seconds and written at full float precision (as Prometheus stores it); series are spread
evenly over the rules. A ``firing`` share of the series steps up fourfold ``shift`` seconds
before the end, so that alerts fire and notifications are sent. The history is written as OpenMetrics text
in pieces and turned into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics``,
then served by a real Prometheus (``tests/harness.start_prometheus``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

PROMTOOL = "/usr/bin/promtool"
METRIC = "bench_latency"
DAY = 86_400.0


def rule_of(series: int, rules: int) -> str:
    return f"r{series % rules}"


def firing(index: int, share: float) -> bool:
    """Whether series ``index`` is one of the stepped (alerting) share, spread over the rules."""
    return share > 0 and index % max(1, round(1 / share)) == 7 % max(1, round(1 / share))


def _lines(
    index: int,
    rules: int,
    cold: int,
    ts: np.ndarray[Any, Any],
    rng: np.random.Generator,
    step_at: float | None,
) -> str:
    level = 0.2 + 0.05 * (index % 17)
    phase = 2 * np.pi * (ts % DAY) / DAY
    values = level * (1.0 + 0.4 * np.sin(phase - np.pi / 2)) + rng.normal(0.0, 0.02 * level, ts.size)
    if step_at is not None:
        values = np.where(ts >= step_at, values * 4.0, values)
    cohort = "cold" if index < cold else "warm"
    pod = f"vllm-{index // 8:05d}-{index % 8}"
    head = (
        f'{METRIC}{{cohort="{cohort}",rule="{rule_of(index, rules)}",series="{index}",'
        f'namespace="inference",pod="{pod}",instance="10.{index // 65536 % 256}.{index // 256 % 256}.'
        f'{index % 256}:8000",job="vllm",model_name="model-{index % 23}",'
        f'endpoint="metrics",region="eu-west-{index % 3}"}} '
    )
    # repr: the shortest text that reads back as the same float, i.e. full precision
    return "".join(f"{head}{v!r} {t:.0f}\n" for v, t in zip(values.tolist(), ts.tolist(), strict=True))


def _pieces(series: int, per_file: int) -> Iterator[range]:
    for first in range(0, series, per_file):
        yield range(first, min(series, first + per_file))


def backfill(
    data_dir: Path,
    work: Path,
    *,
    series: int,
    rules: int,
    cold: int,
    start: float,
    end: float,
    step: float,
    share: float = 0.0,
    shift: float = 0.0,
) -> int:
    """Write ``series`` series over [start, end] and build blocks in ``data_dir``; returns samples.

    The first ``cold`` series carry ``cohort="cold"`` (the cold-start fit selects them), the
    others ``cohort="warm"``. The ``share`` of series chosen by ``firing`` step up at
    ``end - shift``.
    """
    ts = np.arange(np.ceil(start / step) * step, end + 1e-9, step)
    rng = np.random.default_rng(7)
    data_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    running: list[subprocess.Popen[bytes]] = []
    per_file = max(1, 2_000_000 // ts.size)
    for n, piece in enumerate(_pieces(series, per_file)):
        path = work / f"piece-{n}.om"
        with path.open("w") as out:
            out.write(f"# TYPE {METRIC} gauge\n")
            for index in piece:
                step_at = end - shift if firing(index, share) else None
                out.write(_lines(index, rules, cold, ts, rng, step_at))
            out.write("# EOF\n")
        while len(running) >= 2:
            _reap(running.pop(0))
        running.append(
            subprocess.Popen(
                [
                    PROMTOOL,
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    "--max-block-duration=168h",
                    str(path),
                    str(data_dir),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
    for process in running:
        _reap(process)
    return series * ts.size


def _reap(process: subprocess.Popen[bytes]) -> None:
    _, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"promtool failed: {err.decode(errors='replace')[-2000:]}")
