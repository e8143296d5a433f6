"""Fault values, their command-line form and the ground truth they describe."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from harness import SimHistory

from alerter.sim.faults import DEFAULT_MAGNITUDE, FAULT_KINDS, Fault, affected_series, parse_fault
from alerter.source.prometheus import PrometheusSource

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


SIGNALS = {
    "latency_regression": (
        'histogram_quantile(0.5, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket{{model_name="{m}"}}[5m])))',
        2.0,
    ),
    "error_surge": (
        'sum(rate(litellm_proxy_failed_requests_metric_total{{requested_model="{m}",exception_status="500"}}[5m]))'
        ' / sum(rate(litellm_proxy_total_requests_metric_total{{requested_model="{m}"}}[5m]))',
        20.0,
    ),
    "bad_input_spike": (
        'sum(rate(litellm_proxy_failed_requests_metric_total{{requested_model="{m}",exception_status="400"}}[5m]))'
        ' / sum(rate(litellm_proxy_total_requests_metric_total{{requested_model="{m}"}}[5m]))',
        20.0,
    ),
    "queue_buildup": (
        'histogram_quantile(0.99, sum by (le) (rate(vllm:request_queue_time_seconds_bucket{{model_name="{m}"}}[5m])))',
        3.0,
    ),
    "throughput_drop": ('sum(rate(vllm:generation_tokens_total{{model_name="{m}"}}[5m]))', 1 / 2.0),
    "spend_runaway": ('sum(rate(litellm_spend_metric_total{{model="{m}"}}[5m]))', 2.0),
    "silent": ('count(vllm:num_requests_running{{model_name="{m}"}})', 0.0),
}


def test_every_incident_in_the_truth_file_shows_through_promql(
    prometheus_source: PrometheusSource, sim_history: SimHistory
) -> None:
    """The ground truth is usable: each incident moves its signal by a clear factor, in PromQL."""
    incidents = json.loads(sim_history.truth_path.read_text())["incidents"]
    assert {i["kind"] for i in incidents} == set(SIGNALS)
    for incident in incidents:
        query, factor = SIGNALS[incident["kind"]]
        expr = query.format(m=incident["model"])
        # The last 10 minutes of the incident against the hour before it.
        during = prometheus_source.query_range(expr, incident["end"] - 600, incident["end"] - 60, 60)
        before = prometheus_source.query_range(expr, incident["start"] - 3600, incident["start"] - 600, 60)
        base = float(np.nanmean(before[0].values))
        if factor == 0.0:
            assert during == [] or len(during[0]) == 0, incident
        elif factor < 1:
            assert float(np.nanmean(during[0].values)) < factor * base, incident
        else:
            assert float(np.nanmean(during[0].values)) > factor * max(base, 1e-4), incident
