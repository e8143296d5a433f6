"""The live simulator over HTTP: /metrics at the server's clock, fault injection, ground truth."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from alerter.sim.exposition import render_instant
from alerter.sim.fleet import DEFAULT_MODELS, Fleet
from alerter.sim.metrics import fleet_samples
from alerter.sim.server import SimServer

NOW = 1_790_000_000.0


@pytest.fixture
def sim() -> Iterator[SimServer]:
    server = SimServer(Fleet(DEFAULT_MODELS[:2], seed=9), clock=lambda: NOW).start()
    yield server
    server.stop()


def test_metrics_are_the_model_at_the_server_clock(sim: SimServer) -> None:
    response = requests.get(f"{sim.url}/metrics", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith(
        "text/plain; version=0.0.4"
    )
    assert response.text == render_instant(fleet_samples(Fleet(DEFAULT_MODELS[:2], seed=9), np.array([NOW])))
    names = {f.name for f in text_string_to_metric_families(response.text)}
    assert "vllm:time_to_first_token_seconds" in names and "litellm_spend_metric" in names


def test_injected_fault_changes_metrics_and_is_listed(sim: SimServer) -> None:
    response = requests.post(
        f"{sim.url}/inject", params={"kind": "silent", "model": "llama-3.1-70b", "duration": "10m"}, timeout=5
    )
    assert response.status_code == 201
    fault = response.json()
    assert (fault["kind"], fault["model"], fault["start"], fault["end"]) == (
        "silent",
        "llama-3.1-70b",
        NOW,
        NOW + 600,
    )
    text = requests.get(f"{sim.url}/metrics", timeout=5).text
    assert 'model_name="llama-3.1-70b"' not in text and 'model_name="llama-3.1-8b"' in text
    listed = requests.get(f"{sim.url}/faults", timeout=5).json()
    assert [f["kind"] for f in listed] == ["silent"] and listed[0]["series"]
    assert requests.post(f"{sim.url}/clear", timeout=5).json() == {"faults": 0}
    assert 'model_name="llama-3.1-70b"' in requests.get(f"{sim.url}/metrics", timeout=5).text


def test_inject_with_seconds_magnitude_and_start(sim: SimServer) -> None:
    params = {"kind": "latency_regression", "duration": "300", "magnitude": "5", "start": str(NOW - 60)}
    fault = requests.post(f"{sim.url}/inject", params=params, timeout=5).json()
    assert (fault["model"], fault["duration"], fault["magnitude"], fault["start"]) == (
        "llama-3.1-8b",
        300,
        5,
        NOW - 60,
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "missing query parameter 'kind'"),
        ({"kind": "meteor"}, "unknown fault kind"),
        ({"kind": "silent", "model": "gpt-5"}, "unknown model"),
        ({"kind": "silent", "duration": "ten minutes"}, "invalid duration"),
        ({"kind": "silent", "magnitude": "-2"}, "magnitude"),
    ],
)
def test_bad_injections_are_refused_with_a_reason(
    sim: SimServer, params: dict[str, str], message: str
) -> None:
    response = requests.post(f"{sim.url}/inject", params=params, timeout=5)
    assert response.status_code == 400 and message in response.json()["error"]
    assert sim.fleet.faults == ()


def test_unknown_paths_are_404(sim: SimServer) -> None:
    assert requests.get(f"{sim.url}/nope", timeout=5).status_code == 404
    assert requests.post(f"{sim.url}/metrics", timeout=5).status_code == 404
    assert requests.get(f"{sim.url}/healthz", timeout=5).text == "ok\n"
