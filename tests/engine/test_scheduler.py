"""Group phases are stable and spread; the scheduler runs real APScheduler jobs."""

from __future__ import annotations

import pytest

from alerter.engine.scheduler import first_run, offset


def test_offset_is_stable_and_within_the_interval() -> None:
    assert offset("vllm-latency", 60) == offset("vllm-latency", 60)
    phases = {round(offset(f"group-{i}", 60), 3) for i in range(50)}
    assert all(0 <= p < 60 for p in phases)
    assert len(phases) > 40, "groups should not share a phase"


@pytest.mark.parametrize("now", [0.0, 59.9, 1_800_000_000.0, 1_800_000_031.5])
def test_first_run_is_the_next_tick_on_the_group_phase(now: float) -> None:
    t = first_run("g", 60, now)
    assert now <= t < now + 60
    assert (t - offset("g", 60)) % 60 == pytest.approx(0, abs=1e-6) or (
        t - offset("g", 60)
    ) % 60 == pytest.approx(60)
