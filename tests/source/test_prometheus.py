"""PrometheusSource against real Prometheus and VictoriaMetrics loaded with 14 simulated days."""

from __future__ import annotations

import numpy as np
import pytest
from harness import DEFAULT_LABELS, SimHistory

from alerter.model import Labels
from alerter.source.prometheus import PrometheusSource

BACKENDS = ["prometheus_source", "victoria_source"]


@pytest.fixture(params=BACKENDS)
def source(request: pytest.FixtureRequest) -> PrometheusSource:
    return request.getfixturevalue(request.param)


def _quiet_model(history: SimHistory) -> str:
    """A model that never goes silent, so its series have a point at every step."""
    silent = {f.model for f in history.fleet.faults if f.kind == "silent"}
    return next(name for name in history.model_names if name not in silent)


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("vllm:kv_cache_usage_perc", {}),
        ("vllm:generation_tokens_total", {}),
        ("vllm:time_to_first_token_seconds_bucket", {"le": "0.25"}),
        ("vllm:e2e_request_latency_seconds_sum", {}),
    ],
)
def test_fourteen_days_come_back_exactly(
    source: PrometheusSource, sim_history: SimHistory, name: str, extra: dict[str, str]
) -> None:
    model = _quiet_model(sim_history)
    labels = {"model_name": model, **extra}
    selector = name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    got = source.query_range(selector, sim_history.start, sim_history.end, sim_history.step)
    want_t, want_v = sim_history.expected(name, labels)
    assert len(got) == 1
    assert got[0].labels == Labels({"__name__": name, **labels, **DEFAULT_LABELS})
    assert len(want_t) > 20_000  # beyond the 11,000-point limit: the range was chunked
    np.testing.assert_array_equal(got[0].timestamps, want_t)
    np.testing.assert_array_equal(got[0].values, want_v)
