"""Simulated history for the real backends: written once per session, loaded into each backend.

``build_history`` fixes a small fleet, a seed and one incident of every fault kind, and renders
the history piece by piece (pieces aligned with promtool's 18h blocks, see
``alerter.sim.history.PROMTOOL_BLOCK``). ``SimHistory.expected`` recomputes any series from the
pure model, which is what "the data came back exactly" is checked against.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from alerter.core.model import Labels
from alerter.sim.exposition import render_history
from alerter.sim.fleet import DEFAULT_MODELS, Fleet
from alerter.sim.history import PROMTOOL_BLOCK, history_times, random_faults, write_history, write_truth
from alerter.sim.metrics import Family, fleet_samples

__all__ = ["DEFAULT_LABELS", "HISTORY_END", "SimHistory", "build_history", "parse_end", "sweep_ends"]

HISTORY_END = 1795010400.0
"""2026-11-18T14:00Z (a Wednesday): where the session history ends unless ``--history-end`` says
otherwise. Fixed, so that every test sees the same traffic whatever the date and hour of the run."""

SWEEP_STEP = 29 * 3600.0
"""Between two ends of ``make test-sweep``: 29 h moves the end five hours and a weekday each time."""

DEFAULT_LABELS: Mapping[str, str] = {"job": "sim", "instance": "sim:8000"}
"""Labels on every backfilled series; the live-scrape configuration relabels the simulator to match."""


@dataclass(frozen=True)
class SimHistory:
    """A simulated history: the fleet (with its faults), the time grid and where it was written."""

    fleet: Fleet
    start: float
    end: float
    step: float
    directory: Path
    extra_labels: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LABELS))

    @property
    def truth_path(self) -> Path:
        return self.directory / "truth.json"

    @property
    def times(self) -> np.ndarray[Any, Any]:
        return history_times(self.start, self.end, self.step)

    @property
    def model_names(self) -> list[str]:
        return [m.name for m in self.fleet.models]

    def pieces(self) -> Iterator[np.ndarray[Any, Any]]:
        """The grid cut at promtool's block boundaries."""
        times = self.times
        cuts = np.flatnonzero(np.diff(np.floor(times / PROMTOOL_BLOCK))) + 1
        yield from np.split(times, cuts)

    def openmetrics_files(self) -> Iterator[Path]:
        """Write one OpenMetrics file per piece, yielding each as soon as it is complete."""
        for i, piece in enumerate(self.pieces()):
            path = self.directory / f"history-{i:03d}.om"
            write_history(
                self.fleet, piece[0], piece[-1], self.step, path, extra_labels=dict(self.extra_labels)
            )
            yield path

    def prometheus_texts(self) -> Iterator[bytes]:
        """Prometheus text with millisecond timestamps, one body per piece (VictoriaMetrics import)."""
        for piece in self.pieces():
            out = io.StringIO()
            render_history(
                fleet_samples(self.fleet, piece),
                piece,
                out,
                fmt="prometheus",
                extra_labels=dict(self.extra_labels),
            )
            yield out.getvalue().encode()

    def fingerprint(self) -> str:
        """Identifies what would be written: parameters, faults and the simulator's source code."""
        import alerter.sim

        digest = hashlib.sha256(
            repr((self.fleet, self.start, self.end, self.step, sorted(self.extra_labels.items()))).encode()
        )
        for source in sorted(Path(alerter.sim.__file__).parent.glob("*.py")):
            digest.update(source.read_bytes())
        return digest.hexdigest()[:20]

    @cached_property
    def families(self) -> list[Family]:
        return fleet_samples(self.fleet, self.times)

    def expected(
        self, name: str, labels: Mapping[str, str]
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Timestamps and values the model wrote for one series (without the extra labels).

        ``labels`` may leave out ``engine``: the simulated vLLM runs one engine (``engine="0"``).
        """
        wanted = Labels(labels)
        for family in self.families:
            for sample in family.samples:
                written = dict(sample.labels)
                if "engine" not in labels:
                    written.pop("engine", None)
                if sample.name == name and Labels(written) == wanted:
                    mask = np.ones(len(self.times), bool) if sample.present is None else sample.present
                    return self.times[mask], sample.values[mask]
        raise KeyError(f"no simulated series {name}{wanted!r}")

    def series_labels(self, name: str) -> list[Labels]:
        """Label sets (with the extra labels) of every written series called ``name``."""
        return [
            Labels({**dict(s.labels), **self.extra_labels, "__name__": name})
            for f in self.families
            for s in f.samples
            if s.name == name
        ]


def parse_end(text: str) -> float:
    """``--history-end``: unix seconds or an ISO-8601 UTC time such as 2026-11-18T14:00Z."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--history-end takes unix seconds or a time like 2026-11-18T14:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def sweep_ends(count: int, first: float = HISTORY_END) -> list[float]:
    """``count`` history ends, ``SWEEP_STEP`` apart going back from ``first``: every hour of the
    day they land on differs, and they cover every weekday."""
    return [first - i * SWEEP_STEP for i in range(count)]


def build_history(
    directory: Path,
    *,
    days: float = 14.0,
    step: float = 60.0,
    models: int = 2,
    seed: int = 7,
    end: float = HISTORY_END,
    incidents: int = 7,
    phase: float = 0.0,
    quiet: float = 0.0,
) -> SimHistory:
    """A history of ``days`` ending at ``end``, with its truth file.

    ``incidents`` faults are spread over the range after its first ``quiet`` seconds (a
    benchmark keeps the rules' training window free of them), cycling through every fault kind. Files
    are written lazily by ``openmetrics_files``/``prometheus_texts``; the truth file right away.
    ``phase`` is the fleet's (``Fleet.phase``): a history that must end now, for a live scrape
    to continue it, replays the scenario of another end with ``phase = that_end - end``.
    """
    if end % step:
        raise ValueError(f"the history's end must be a multiple of its step {step:g}s, got {end!r}")
    start = end - days * 86400.0
    base = Fleet(DEFAULT_MODELS[:models], seed, phase=phase)
    fleet = Fleet(base.models, seed, random_faults(base, start + quiet, end, incidents), phase)
    directory.mkdir(parents=True, exist_ok=True)
    times = history_times(start, end, step)
    write_truth(fleet, float(times[0]), float(times[-1]), step, directory / "truth.json")
    return SimHistory(fleet, float(times[0]), float(times[-1]), step, directory)
