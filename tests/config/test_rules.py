"""Rule models: what a rule runs with when the file leaves a key out."""

from __future__ import annotations

import pytest

from alerter.config.rules import BASELINE_KEEP_FIRING, Rule


def rule(**keys: object) -> Rule:
    return Rule.model_validate({"alert": "A", "expr": "x", **keys})


def test_a_baseline_rule_without_keep_firing_for_keeps_firing_for_the_default() -> None:
    assert rule(baseline={}).keeps_firing_for == BASELINE_KEEP_FIRING == 1800.0


@pytest.mark.parametrize(("written", "seconds"), [("0s", 0.0), ("10m", 600.0), ("2h", 7200.0)])
def test_a_written_keep_firing_for_is_kept_even_when_zero(written: str, seconds: float) -> None:
    assert rule(baseline={}, keep_firing_for=written).keeps_firing_for == seconds


def test_a_threshold_rule_keeps_prometheus_default_of_zero() -> None:
    assert rule().keeps_firing_for == 0.0
    assert rule(keep_firing_for="5m").keeps_firing_for == 300.0


def test_a_static_baseline_is_a_threshold_and_keeps_prometheus_default_of_zero() -> None:
    assert rule(baseline={"detector": "static", "above": 10}).keeps_firing_for == 0.0
    assert rule(baseline={"detector": "static", "above": 10}, keep_firing_for="5m").keeps_firing_for == 300.0
    assert rule(baseline={"detector": "ewma"}).keeps_firing_for == BASELINE_KEEP_FIRING
