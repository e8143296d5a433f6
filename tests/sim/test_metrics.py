"""Metric samples: vLLM/LiteLLM names, live-equals-history, counter and histogram invariants."""

from __future__ import annotations

import numpy as np
import pytest

from alerter.sim.faults import Fault
from alerter.sim.fleet import DEFAULT_MODELS, MONDAY, WEEK, Fleet
from alerter.sim.metrics import Family, fleet_samples, live_samples

SUNDAY_NOON = MONDAY + 3000 * WEEK - 12 * 3600
FAULTS = (
    Fault("silent", "llama-3.1-70b", SUNDAY_NOON + 3 * 3600, 1800),
    Fault("error_surge", "llama-3.1-8b", SUNDAY_NOON + 2 * 3600, 3600),
)
FLEET = Fleet(DEFAULT_MODELS, seed=11, faults=FAULTS)
GRID = SUNDAY_NOON + np.arange(0, 24 * 3600, 30.0)  # crosses the Monday restart, half-tick steps


@pytest.fixture(scope="module")
def families() -> list[Family]:
    return fleet_samples(FLEET, GRID)


def test_exposes_the_vllm_and_litellm_names_the_rules_use(families: list[Family]) -> None:
    names = {s.name for f in families for s in f.samples}
    for metric in (
        "time_to_first_token_seconds",
        "inter_token_latency_seconds",
        "e2e_request_latency_seconds",
        "request_queue_time_seconds",
    ):
        assert {f"vllm:{metric}_bucket", f"vllm:{metric}_sum", f"vllm:{metric}_count"} <= names
    assert {
        "vllm:num_requests_waiting",
        "vllm:num_requests_running",
        "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:num_preemptions_total",
        "vllm:request_success_total",
        "litellm_spend_metric_total",
        "litellm_proxy_failed_requests_metric_total",
        "litellm_llm_api_time_to_first_token_metric_bucket",
        "litellm_input_tokens_metric_total",
        "litellm_output_tokens_metric_total",
    } <= names
    vllm_labels = {
        dict(s.labels).get("model_name") for f in families for s in f.samples if s.name.startswith("vllm:")
    }
    assert vllm_labels == {m.name for m in DEFAULT_MODELS}


@pytest.mark.parametrize("index", [0, 1, 719, 720, 721, 1441, len(GRID) - 1])
def test_a_live_scrape_equals_the_history_at_that_instant(families: list[Family], index: int) -> None:
    live = fleet_samples(FLEET, GRID[index : index + 1])
    flat = {(s.name, s.labels): s for f in families for s in f.samples}
    for family in live:
        for sample in family.samples:
            full = flat[(sample.name, sample.labels)]
            assert sample.values[0] == full.values[index], sample.name
            assert (full.present is None or bool(full.present[index])) == (
                sample.present is None or bool(sample.present[0])
            )


def test_counters_only_grow_except_at_the_weekly_restart(families: list[Family]) -> None:
    restart = int(np.searchsorted(GRID, MONDAY + 3000 * WEEK))
    for family in families:
        if family.kind == "gauge":
            continue
        for sample in family.samples:
            steps = np.diff(sample.values)
            assert (np.delete(steps, restart - 1) >= 0).all(), sample.name
            if sample.values[restart - 1] > 1:
                assert steps[restart - 1] < 0, sample.name  # restarted: from a value to ~0
            if sample.integer:
                np.testing.assert_array_equal(sample.values, np.floor(sample.values))


def test_histogram_buckets_are_cumulative(families: list[Family]) -> None:
    for family in (f for f in families if f.kind == "histogram"):
        by_series: dict[tuple[tuple[str, str], ...], list[tuple[float, np.ndarray]]] = {}
        counts = {}
        for s in family.samples:
            labels = tuple(kv for kv in s.labels if kv[0] != "le")
            if s.name.endswith("_bucket"):
                le = float(dict(s.labels)["le"])
                by_series.setdefault(labels, []).append((le, s.values))
            elif s.name.endswith("_count"):
                counts[labels] = s.values
        for labels, buckets in by_series.items():
            stacked = np.array([v for _, v in sorted(buckets, key=lambda b: b[0])])
            assert (np.diff(stacked, axis=0) >= 0).all(), family.name
            np.testing.assert_array_equal(stacked[-1], counts[labels])


def test_silent_model_is_absent_and_error_surge_shows_in_the_gateway(families: list[Family]) -> None:
    fault = FAULTS[0]
    inside = (fault.start <= GRID) & (fault.end > GRID)
    running = next(f for f in families if f.name == "vllm:num_requests_running")
    for sample in running.samples:
        if dict(sample.labels)["model_name"] == fault.model:
            assert sample.present is not None and np.array_equal(~sample.present, inside)
        else:
            assert sample.present is None
    failed = next(f for f in families if f.name == "litellm_proxy_failed_requests_metric")
    (oom,) = [
        s
        for s in failed.samples
        if dict(s.labels)
        == {
            "exception_class": "InternalServerError",
            "exception_status": "500",
            "requested_model": "llama-3.1-8b",
            "team": "platform",
        }
    ]
    surge = FAULTS[1]
    per_minute = np.diff(oom.values[::2])
    minutes = GRID[::2][1:]
    during = (minutes > surge.start + 60) & (minutes <= surge.end)
    assert per_minute[during].mean() > 20 * max(per_minute[~during & (minutes < surge.start)].mean(), 0.1)


@pytest.mark.parametrize(
    "times", [np.array([]), np.array([2.0, 1.0]), np.array([1.0, np.nan]), np.zeros((2, 2))]
)
def test_bad_times_are_refused(times: np.ndarray) -> None:
    with pytest.raises(ValueError, match="times"):
        fleet_samples(FLEET, times)


def test_resumed_live_scrapes_equal_fresh_ones() -> None:
    """Scrapes every 20 s across the weekly restart, with a clock jumping back and a fault injection."""
    times = list(SUNDAY_NOON + 11 * 3600 + 40 * 60 + np.arange(0, 40 * 60, 20.0))
    times[30] = times[29] - 600  # a clock going backwards cannot resume
    fleet, resume = FLEET, None
    for i, at in enumerate(times):
        if i == 80:
            fleet = fleet.with_fault(Fault("latency_regression", "mistral-7b", at - 300, 900))
        live, resume = live_samples(fleet, at, resume)
        if i % 6 and i not in (31, 80, 81):
            continue  # a fresh computation near the end of a week is slow; check a sample of scrapes
        fresh = fleet_samples(fleet, np.array([at]))
        assert [(s.name, s.labels) for f in live for s in f.samples] == [
            (s.name, s.labels) for f in fresh for s in f.samples
        ]
        for a, b in zip(
            (s for f in live for s in f.samples), (s for f in fresh for s in f.samples), strict=True
        ):
            assert a.values[0] == b.values[0], (at, a.name, a.labels)
    assert resume is not None and resume.fleet == fleet and len(resume.sums) > 50


def _values(families: list[Family]) -> dict[tuple[str, tuple[tuple[str, str], ...]], np.ndarray]:
    return {(s.name, tuple(sorted(s.labels))): s.values for f in families for s in f.samples}


@pytest.mark.parametrize("phase", [60.0, 3 * 86400.0 + 7 * 3600.0, -WEEK - 600.0])
def test_a_phased_fleet_replays_the_unshifted_one_shifted_in_time(phase: float) -> None:
    """Traffic, noise and the weekly counter restart all follow the fleet's own clock."""
    plain = _values(fleet_samples(Fleet(DEFAULT_MODELS, seed=11), GRID + phase))
    phased = _values(fleet_samples(Fleet(DEFAULT_MODELS, seed=11, phase=phase), GRID))
    assert plain.keys() == phased.keys()
    for key, values in plain.items():
        np.testing.assert_array_equal(phased[key], values, err_msg=str(key))


def test_faults_of_a_phased_fleet_stay_on_the_real_clock() -> None:
    fault = Fault("silent", "llama-3.1-70b", float(GRID[10]), 600)
    (family,) = [
        f
        for f in fleet_samples(Fleet(DEFAULT_MODELS, 11, (fault,), phase=86400.0), GRID)
        if f.name == "vllm:num_requests_running"
    ]
    (sample,) = [s for s in family.samples if dict(s.labels)["model_name"] == "llama-3.1-70b"]
    assert sample.present is not None
    assert not sample.present[10:30].any() and sample.present[:10].all() and sample.present[30:].all()


@pytest.mark.parametrize("phase", [30.0, float("nan")])
def test_a_phase_that_is_not_whole_ticks_is_refused(phase: float) -> None:
    with pytest.raises(ValueError, match="phase must be a whole number"):
        Fleet(DEFAULT_MODELS, phase=phase)


def test_series_carry_the_labels_real_servers_set_and_the_packs_query(families: list[Family]) -> None:
    """vLLM's V1 engine labels by model and engine index (vllm/v1/metrics/loggers.py); LiteLLM's
    gateway series carry the calling key's team, and it exports the total request latency
    (litellm/integrations/prometheus.py) that rules/gateway-latency.yaml and spend.yaml read."""
    by_name = {f.name: f for f in families}
    for sample in by_name["vllm:num_requests_running"].samples:
        assert dict(sample.labels).keys() == {"model_name", "engine"} and dict(sample.labels)["engine"] == "0"
    for name in (
        "litellm_spend_metric",
        "litellm_request_total_latency_metric",
        "litellm_proxy_failed_requests_metric",
    ):
        assert all("team" in dict(s.labels) for s in by_name[name].samples), name
    latency = {s.name for s in by_name["litellm_request_total_latency_metric"].samples}
    assert latency == {f"litellm_request_total_latency_metric_{x}" for x in ("bucket", "count", "sum")}
