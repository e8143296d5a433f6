"""Rendering: live text parsed by prometheus_client's parser, history lines in the order promtool needs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from alerter.sim.exposition import format_value, render_history, render_instant
from alerter.sim.faults import Fault
from alerter.sim.fleet import DEFAULT_MODELS, Fleet
from alerter.sim.metrics import fleet_samples

T0 = 1_780_000_020.0
FLEET = Fleet(DEFAULT_MODELS[:2], seed=4, faults=(Fault("silent", "llama-3.1-70b", T0 + 60, 120),))


def _families_by_name(text: str, parser: object) -> dict[str, object]:
    assert callable(parser)
    return {f.name: f for f in parser(text)}


def test_live_text_is_valid_prometheus_exposition() -> None:
    text = render_instant(fleet_samples(FLEET, np.array([T0])))
    families = _families_by_name(text, parse_text)
    ttft = families["vllm:time_to_first_token_seconds"]
    assert ttft.type == "histogram"  # type: ignore[attr-defined]
    assert families["vllm:prompt_tokens"].type == "counter"  # type: ignore[attr-defined]
    models = {s.labels["model_name"] for s in ttft.samples}  # type: ignore[attr-defined]
    assert models == {"llama-3.1-8b", "llama-3.1-70b"}


def test_silent_model_is_missing_from_the_live_text() -> None:
    text = render_instant(fleet_samples(FLEET, np.array([T0 + 90])))
    assert 'model_name="llama-3.1-70b"' not in text and 'model_name="llama-3.1-8b"' in text
    assert 'requested_model="llama-3.1-70b"' in text  # the gateway still reports on it


def test_one_instant_of_history_is_strict_openmetrics() -> None:
    out = io.StringIO()
    render_history(fleet_samples(FLEET, np.array([T0])), np.array([T0]), out, extra_labels={"job": "sim"})
    families = list(parse_openmetrics(out.getvalue()))
    assert all(s.labels["job"] == "sim" and s.timestamp is not None for f in families for s in f.samples)


def _series_times(text: str) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, value, stamp = line.rsplit(" ", 2)
        float(value)
        seen.setdefault(series, []).append(float(stamp))
    return seen


@pytest.mark.parametrize(("fmt", "scale"), [("openmetrics", 1.0), ("prometheus", 1000.0)])
def test_history_has_each_series_ascending_and_drops_silent_points(fmt: str, scale: float) -> None:
    times = T0 + np.arange(0, 600, 60.0)
    out = io.StringIO()
    written = render_history(fleet_samples(FLEET, times), times, out, fmt=fmt)
    text = out.getvalue()
    assert text.endswith("# EOF\n") == (fmt == "openmetrics")
    seen = _series_times(text)
    assert sum(len(v) for v in seen.values()) == written
    for series, stamps in seen.items():
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), series
        if 'model_name="llama-3.1-70b"' in series:
            assert stamps == [t * scale for t in times if not T0 + 60 <= t < T0 + 180]
        else:
            assert stamps == [t * scale for t in times]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="openmetrics or prometheus"):
        render_history([], np.array([T0]), io.StringIO(), fmt="json")


@pytest.mark.parametrize(
    ("value", "integer", "text"),
    [
        (3.0, True, "3"),
        (0.25, False, "0.25"),
        (float("nan"), False, "NaN"),
        (float("inf"), False, "+Inf"),
        (float("-inf"), False, "-Inf"),
    ],
)
def test_format_value(value: float, integer: bool, text: str) -> None:
    assert format_value(value, integer) == text
