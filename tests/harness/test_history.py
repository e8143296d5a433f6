"""The harness's simulated history: grid, pieces for promtool, expected series, cache fingerprint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from alerter.sim.history import PROMTOOL_BLOCK
from harness import build_history

END = 1_780_012_800.0


def test_history_has_one_incident_of_every_kind_and_a_truth_file(tmp_path: Path) -> None:
    history = build_history(tmp_path, days=14, end=END)
    assert (history.start, history.end, history.step) == (END - 14 * 86400, END, 60.0)
    assert len({f.kind for f in history.fleet.faults}) == 7
    assert history.truth_path.exists()


def test_pieces_follow_promtool_blocks_and_cover_the_grid(tmp_path: Path) -> None:
    history = build_history(tmp_path, days=2, end=END, incidents=0)
    pieces = list(history.pieces())
    assert all(len({int(t // PROMTOOL_BLOCK) for t in p}) == 1 for p in pieces)
    np.testing.assert_array_equal(np.concatenate(pieces), history.times)


def test_expected_series_and_unknown_series(tmp_path: Path) -> None:
    history = build_history(tmp_path, days=0.5, end=END, models=1, incidents=0)
    times, values = history.expected("vllm:num_requests_running", {"model_name": "llama-3.1-8b"})
    assert len(times) == len(values) == 721
    with pytest.raises(KeyError, match="no simulated series"):
        history.expected("vllm:num_requests_running", {"model_name": "gpt-5"})


def test_fingerprint_changes_with_what_would_be_written(tmp_path: Path) -> None:
    history = build_history(tmp_path, days=1, end=END, incidents=0)
    assert history.fingerprint() == build_history(tmp_path, days=1, end=END, incidents=0).fingerprint()
    assert history.fingerprint() != replace(history, end=END - 60).fingerprint()
    assert (
        history.fingerprint() != build_history(tmp_path, days=1, end=END, seed=8, incidents=0).fingerprint()
    )
