"""The fleet model: deterministic noise, seasonality, load-dependent latency and fault effects."""

from __future__ import annotations

import numpy as np
import pytest

from alerter.sim.faults import Fault
from alerter.sim.fleet import DEFAULT_MODELS, MONDAY, TICK, WEEK, Fleet, ModelSpec, model_state, normal_noise

MONDAY_0 = MONDAY + 2900 * WEEK  # a Monday 00:00 UTC in 2025
DAY = np.arange(int(MONDAY_0 / TICK), int(MONDAY_0 / TICK) + 1440)
WEEK_TICKS = np.arange(int(MONDAY_0 / TICK), int((MONDAY_0 + WEEK) / TICK))


def test_noise_is_a_function_of_seed_stream_and_tick() -> None:
    a = normal_noise(1, 0, DAY)
    np.testing.assert_array_equal(a, normal_noise(1, 0, DAY))
    np.testing.assert_array_equal(a[100:200], normal_noise(1, 0, DAY[100:200]))
    assert not np.array_equal(a, normal_noise(2, 0, DAY))
    assert not np.array_equal(a, normal_noise(1, 1, DAY))
    assert abs(a.mean()) < 0.1 and 0.9 < a.std() < 1.1


def test_traffic_peaks_in_the_afternoon_and_dips_at_weekends() -> None:
    rps = model_state(Fleet(seed=3), 0, WEEK_TICKS).gateway_rps.reshape(7, 24, 60).mean(axis=2)
    weekday = rps[:5].mean(axis=0)
    assert weekday.argmax() in range(13, 18) and weekday.argmin() in range(1, 6)
    assert weekday.max() > 2 * weekday.min()
    assert rps[5:].mean() < 0.75 * rps[:5].mean()


def test_latency_and_queueing_rise_with_load() -> None:
    state = model_state(Fleet(seed=3), 0, DAY)
    load_order = np.argsort(state.forwarded_rps)
    quiet, busy = load_order[:100], load_order[-100:]
    for quantity in (state.ttft, state.queue, state.itl, state.e2e, state.running, state.kv_usage):
        assert quantity[busy].mean() > quantity[quiet].mean()


def test_no_fault_means_low_error_shares() -> None:
    state = model_state(Fleet(seed=3), 1, DAY)
    assert state.share_5xx.max() < 0.01 and state.share_4xx.max() < 0.02


def _with_and_without(kind: str, magnitude: float = float("nan")) -> tuple[object, object, np.ndarray]:
    model = DEFAULT_MODELS[0].name
    fault = Fault(kind, model, MONDAY_0 + 12 * 3600, 3600, magnitude)
    base = model_state(Fleet(seed=5), 0, DAY)
    hit = model_state(Fleet(seed=5, faults=(fault,)), 0, DAY)
    during = (fault.start <= DAY * TICK) & (fault.end > DAY * TICK)
    return base, hit, during


@pytest.mark.parametrize(
    ("kind", "field", "factor"),
    [
        ("latency_regression", "ttft", 2.5),
        ("latency_regression", "itl", 1.8),
        ("error_surge", "share_5xx", 20),
        ("bad_input_spike", "share_4xx", 20),
        ("queue_buildup", "waiting", 5),
        ("queue_buildup", "queue", 10),
        ("spend_runaway", "prompt_tokens", 2),
        ("spend_runaway", "gateway_rps", 1.4),
    ],
)
def test_faults_raise_their_signal_only_while_active(kind: str, field: str, factor: float) -> None:
    base, hit, during = _with_and_without(kind)
    before, after = getattr(base, field), getattr(hit, field)
    assert after[during].mean() > factor * max(before[during].mean(), 1e-9)
    np.testing.assert_array_equal(after[~during], before[~during])


def test_throughput_drop_cuts_traffic() -> None:
    base, hit, during = _with_and_without("throughput_drop")
    ratio = hit.success_rps[during] / base.success_rps[during]  # type: ignore[attr-defined]
    np.testing.assert_allclose(ratio, 0.3, rtol=0.05)


def test_error_surge_takes_successes_down_and_bad_input_does_not() -> None:
    base, surge, during = _with_and_without("error_surge")
    _, bad, _ = _with_and_without("bad_input_spike")
    assert surge.success_rps[during].mean() < 0.8 * base.success_rps[during].mean()  # type: ignore[attr-defined]
    assert bad.share_5xx[during].max() < 0.01  # type: ignore[attr-defined]


def test_silent_mask_covers_exactly_the_fault() -> None:
    fault = Fault("silent", "mistral-7b", 1000.0, 500.0)
    fleet = Fleet(seed=0, faults=(fault,))
    times = np.array([999.0, 1000.0, 1499.0, 1500.0])
    assert fleet.silent_mask("mistral-7b", times).tolist() == [False, True, True, False]
    assert not fleet.silent_mask("llama-3.1-8b", times).any()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Fleet(models=()), "at least one"),
        (lambda: Fleet(models=(DEFAULT_MODELS[0], DEFAULT_MODELS[0])), "unique"),
        (lambda: Fleet(faults=(Fault("silent", "gpt-5", 0, 1),)), "unknown model"),
        (lambda: ModelSpec("a:b", 1, 2, 0.1, 0.01, 10, 10, 0, 0), "colons"),
        (lambda: ModelSpec("m", 0, 2, 0.1, 0.01, 10, 10, 0, 0), "base_rps"),
    ],
)
def test_invalid_fleets_are_refused(make: object, message: str) -> None:
    assert callable(make)
    with pytest.raises(ValueError, match=message):
        make()
