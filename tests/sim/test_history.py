"""History files: the time grid, splitting for promtool, the ground truth, seeded incidents."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from alerter.sim.faults import FAULT_KINDS, Fault
from alerter.sim.fleet import DEFAULT_MODELS, Fleet
from alerter.sim.history import PROMTOOL_BLOCK, history_times, random_faults, write_history

DAY0 = 1_780_012_800.0  # a UTC midnight
FLEET = Fleet(DEFAULT_MODELS[:1], seed=2, faults=(Fault("error_surge", "llama-3.1-8b", DAY0 + 3600, 600),))


@pytest.mark.parametrize(
    ("start", "end", "step", "first", "count"),
    [(0, 600, 60, 0, 11), (1, 600, 60, 60, 10), (0, 599, 60, 0, 10), (30, 30, 15, 30, 1)],
)
def test_history_times(start: float, end: float, step: float, first: float, count: int) -> None:
    times = history_times(start, end, step)
    assert times[0] == first and len(times) == count and np.all(np.diff(times) == step)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 100, 0), "step"),
        ((0, 100, float("nan")), "step"),
        ((100, 0, 10), "start <= end"),
        ((1, 9, 10), "no multiple"),
    ],
)
def test_history_times_refuses_bad_grids(args: tuple[float, float, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        history_times(*args)


def test_split_files_hold_the_same_samples_as_one_file(tmp_path: Path) -> None:
    end = DAY0 + 2 * 86400
    whole = write_history(FLEET, DAY0, end, 300, tmp_path / "all.om", truth_path=tmp_path / "truth.json")
    parts = write_history(FLEET, DAY0, end, 300, tmp_path / "parts", split=PROMTOOL_BLOCK)
    windows = {int(t // PROMTOOL_BLOCK) for t in history_times(DAY0, end, 300)}
    assert len(parts.paths) == len(windows) == 4 and parts.samples == whole.samples
    for path in parts.paths:
        stamps = [
            float(line.rsplit(" ", 1)[1])
            for line in path.read_text().splitlines()
            if not line.startswith("#")
        ]
        assert len({int(t // PROMTOOL_BLOCK) for t in stamps}) == 1
        assert path.read_text().endswith("# EOF\n")

    def lines(paths: tuple[Path, ...]) -> set[str]:
        return {line for p in paths for line in p.read_text().splitlines() if not line.startswith("#")}

    assert lines(parts.paths) == lines(whole.paths)


def test_truth_lists_the_incidents_in_range(tmp_path: Path) -> None:
    outside = Fault("silent", "llama-3.1-8b", DAY0 + 5 * 86400, 600)
    fleet = Fleet(FLEET.models, FLEET.seed, (*FLEET.faults, outside))
    write_history(fleet, DAY0, DAY0 + 86400, 60, tmp_path / "h.om", truth_path=tmp_path / "t.json")
    truth = json.loads((tmp_path / "t.json").read_text())
    assert (truth["start"], truth["end"], truth["step"], truth["seed"]) == (DAY0, DAY0 + 86400, 60, 2)
    assert truth["models"] == ["llama-3.1-8b"]
    assert [i["kind"] for i in truth["incidents"]] == ["error_surge"]
    assert truth["incidents"][0]["start"] == DAY0 + 3600 and truth["incidents"][0]["end"] == DAY0 + 4200


def test_promtool_turns_a_history_file_into_blocks(tmp_path: Path) -> None:
    history = write_history(FLEET, DAY0, DAY0 + 6 * 3600, 60, tmp_path / "h.om")
    result = subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
            str(history.paths[0]),
            str(tmp_path / "blocks"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    metas = [json.loads(p.read_text()) for p in (tmp_path / "blocks").glob("*/meta.json")]
    assert sum(m["stats"]["numSamples"] for m in metas) == history.samples


def test_random_faults_are_seeded_spaced_and_cover_every_kind() -> None:
    fleet = Fleet(DEFAULT_MODELS, seed=3)
    start, end = DAY0, DAY0 + 14 * 86400
    faults = random_faults(fleet, start, end, 7)
    assert faults == random_faults(fleet, start, end, 7)
    assert faults != random_faults(Fleet(DEFAULT_MODELS, seed=4), start, end, 7)
    assert {f.kind for f in faults} == set(FAULT_KINDS)
    assert all(start <= f.start and f.end <= end for f in faults)
    assert all(b.start - a.end >= 6 * 3600 for a, b in itertools.pairwise(faults))
    assert random_faults(fleet, start, end, 0) == ()
    with pytest.raises(ValueError, match="do not fit"):
        random_faults(fleet, start, start + 86400, 10)
