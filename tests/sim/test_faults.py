"""Fault values, their command-line form and the ground truth they describe."""

from __future__ import annotations

import math

import pytest

from alerter.sim.faults import DEFAULT_MAGNITUDE, FAULT_KINDS, Fault, affected_series, parse_fault

MODELS = ("llama-3.1-8b", "mistral-7b")


def test_every_kind_has_a_default_magnitude_and_affected_series() -> None:
    assert set(FAULT_KINDS) == {
        "latency_regression",
        "error_surge",
        "bad_input_spike",
        "queue_buildup",
        "throughput_drop",
        "spend_runaway",
        "silent",
    }
    for kind in FAULT_KINDS:
        fault = Fault(kind, "mistral-7b", 100.0, 60.0)
        assert fault.magnitude == DEFAULT_MAGNITUDE[kind] and fault.end == 160.0
        series = affected_series(fault)
        assert series and all("mistral-7b" in s["selector"] for s in series)


def test_ground_truth_record() -> None:
    record = Fault("bad_input_spike", "llama-3.1-8b", 1000.0, 600.0, 0.5).to_json()
    assert record == {
        "kind": "bad_input_spike",
        "model": "llama-3.1-8b",
        "start": 1000.0,
        "duration": 600.0,
        "magnitude": 0.5,
        "end": 1600.0,
        "series": [
            {
                "metric": "litellm_proxy_failed_requests_metric_total",
                "labels": {"requested_model": "llama-3.1-8b", "exception_status": "400"},
                "selector": 'litellm_proxy_failed_requests_metric_total{exception_status="400",requested_model="llama-3.1-8b"}',
            }
        ],
    }


def test_histogram_series_are_selected_by_their_buckets() -> None:
    selectors = [s["selector"] for s in affected_series(Fault("latency_regression", "m", 0, 1))]
    assert 'vllm:time_to_first_token_seconds_bucket{model_name="m"}' in selectors
    assert 'litellm_llm_api_time_to_first_token_metric_bucket{model="m"}' in selectors


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("error_surge:*:2h:30m", Fault("error_surge", "llama-3.1-8b", 1000 + 7200, 1800)),
        ("silent:mistral-7b:1d:1h", Fault("silent", "mistral-7b", 1000 + 86400, 3600)),
        ("latency_regression:mistral-7b:0s:10m:5", Fault("latency_regression", "mistral-7b", 1000, 600, 5.0)),
    ],
)
def test_parse_fault(spec: str, want: Fault) -> None:
    assert parse_fault(spec, origin=1000.0, models=MODELS) == want


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("error_surge:*:2h", "kind:model:start:duration"),
        ("meteor_strike:*:2h:1h", "unknown fault kind"),
        ("error_surge:gpt-5:2h:1h", "unknown model"),
        ("error_surge:*:2x:1h", "invalid duration"),
        ("error_surge:*:2h:0s", "duration positive"),
        ("error_surge:*:2h:1h:-1", "magnitude"),
        ("error_surge:*:2h:1h:lots", "could not convert"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault(spec, origin=0.0, models=MODELS)


def test_fault_needs_a_model_and_finite_times() -> None:
    with pytest.raises(ValueError, match="model"):
        Fault("silent", "", 0, 1)
    with pytest.raises(ValueError, match="finite"):
        Fault("silent", "m", math.inf, 1)
