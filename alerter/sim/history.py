"""Write days of simulated fleet history, plus the ground truth of the incidents injected into it.

Called by ``alerter sim history`` and by the test harness (``tests/harness``), which backfills
Prometheus with ``promtool tsdb create-blocks-from openmetrics`` and VictoriaMetrics through its
``/api/v1/import/prometheus`` endpoint. The ground-truth JSON lists each incident's kind, model,
start, end and the series it disturbs, for benchmarks and tests to score detections against.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alerter.sim.exposition import render_history
from alerter.sim.faults import FAULT_KINDS, Fault
from alerter.sim.fleet import Fleet, normal_noise
from alerter.sim.metrics import fleet_samples

__all__ = ["PROMTOOL_BLOCK", "History", "history_times", "random_faults", "write_history", "write_truth"]

PROMTOOL_BLOCK = 18 * 3600.0
"""The block length promtool uses when asked for ``--max-block-duration=24h``."""


@dataclass(frozen=True)
class History:
    """What was written: files, time range and grid, and the number of samples."""

    paths: tuple[Path, ...]
    truth_path: Path | None
    start: float
    end: float
    step: float
    samples: int


def history_times(start: float, end: float, step: float) -> np.ndarray[Any, Any]:
    """Scrape instants: multiples of ``step`` from the first at or after ``start`` up to ``end``."""
    if not (step > 0 and math.isfinite(step)):
        raise ValueError(f"step must be a positive number of seconds, got {step!r}")
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise ValueError(f"need finite start <= end, got {start!r}, {end!r}")
    first = math.ceil(start / step) * step
    count = math.floor((end - first) / step + 1e-9) + 1
    if count <= 0:
        raise ValueError(f"no multiple of step {step:g}s lies between {start} and {end}")
    return first + np.arange(count, dtype=np.float64) * step


def random_faults(
    fleet: Fleet, start: float, end: float, count: int, *, min_gap: float = 6 * 3600.0
) -> tuple[Fault, ...]:
    """``count`` faults spread over [start, end), fixed by the fleet's seed, one kind after another.

    Incidents are spaced at least ``min_gap`` apart so that each can be scored on its own.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if count == 0:
        return ()
    slot = (end - start) / count
    longest = 900.0 + 300.0 * 9
    if slot < min_gap + longest:
        raise ValueError(
            f"{count} faults do not fit into {end - start:.0f}s with {min_gap:.0f}s between them"
        )
    draws = normal_noise(fleet.seed, 9_999, np.arange(count * 3))
    uniform = 0.5 * (1 + np.tanh(draws))
    faults = []
    for i in range(count):
        kind = FAULT_KINDS[(i + fleet.seed) % len(FAULT_KINDS)]
        model = fleet.models[int(uniform[3 * i] * len(fleet.models)) % len(fleet.models)].name
        duration = 900.0 + 300.0 * round(uniform[3 * i + 1] * 9)
        # Half a gap of margin on each side of the slot keeps neighbours min_gap apart.
        offset = min_gap / 2 + (slot - min_gap - duration) * uniform[3 * i + 2]
        faults.append(Fault(kind, model, float(round(start + i * slot + offset, -1)), duration))
    return tuple(faults)


def write_truth(fleet: Fleet, start: float, end: float, step: float, path: Path) -> None:
    """The ground-truth JSON: time range, grid, fleet and every incident overlapping the range."""
    incidents = [
        f.to_json() for f in sorted(fleet.faults, key=lambda f: f.start) if f.start < end and f.end > start
    ]
    doc = {
        "start": start,
        "end": end,
        "step": step,
        "seed": fleet.seed,
        "models": [m.name for m in fleet.models],
        "incidents": incidents,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def write_history(
    fleet: Fleet,
    start: float,
    end: float,
    step: float,
    path: Path,
    *,
    truth_path: Path | None = None,
    fmt: str = "openmetrics",
    extra_labels: dict[str, str] | None = None,
    split: float | None = None,
) -> History:
    """Write the fleet's samples on the ``step`` grid within [start, end] to ``path``.

    With ``split`` (seconds), ``path`` is a directory that receives one file per multiple of
    ``split`` since the epoch (``history-<unix start>.om``). promtool re-reads its whole input
    once per block it creates, so two weeks in one file cost minutes; files aligned with its
    blocks cost seconds. With ``--max-block-duration=24h`` promtool cuts 18h blocks (it rounds
    down to 2h times a power of 3), hence ``PROMTOOL_BLOCK``. Each piece is computed from
    scratch from the pure model, so splitting leaves no trace in the values.
    """
    times = history_times(start, end, step)
    if split is not None:
        if not split > 0:
            raise ValueError(f"split must be a positive number of seconds, got {split!r}")
        path.mkdir(parents=True, exist_ok=True)
        window = np.floor(times / split)
        cuts = np.flatnonzero(np.diff(window)) + 1
        suffix = "om" if fmt == "openmetrics" else "prom"
        pieces = [(path / f"history-{int(p[0] // split * split)}.{suffix}", p) for p in np.split(times, cuts)]
    else:
        pieces = [(path, times)]
    samples = 0
    for target, piece in pieces:
        with target.open("w", encoding="utf-8") as out:
            samples += render_history(
                fleet_samples(fleet, piece), piece, out, fmt=fmt, extra_labels=extra_labels
            )
    if truth_path is not None:
        write_truth(fleet, float(times[0]), float(times[-1]), step, truth_path)
    return History(tuple(p for p, _ in pieces), truth_path, float(times[0]), float(times[-1]), step, samples)
