"""A rule's unit: the ``unit:`` key, checked at file:line, or inferred from the metric names."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.config import load, units
from alerter.config.rules import Rule
from alerter.core.errors import ConfigErrors


@pytest.mark.parametrize(
    ("expr", "unit"),
    [
        # Histograms: the buckets' unit, through histogram_quantile; the mean of sum over count.
        (
            "histogram_quantile(0.99, sum by (le, model_name) "
            "(rate(vllm:time_to_first_token_seconds_bucket[5m])))",
            "seconds",
        ),
        ("rate(x_seconds_sum[5m]) / rate(x_seconds_count[5m])", "seconds"),
        ("x_seconds_sum / x_seconds_count", "seconds"),
        ("sum(rate(x_bucket[5m]))", None),  # buckets counted, not a quantile
        ("rate(x_seconds_count[5m])", "count/s"),
        # Gauges by their suffix, kept through aggregation, offsets, comparisons and +/-.
        ("process_resident_memory_bytes", "bytes"),
        ("avg_over_time(request_latency_seconds[10m])", "seconds"),
        ("max by (pod) (x_ratio offset 1h)", "ratio"),
        ("latency_seconds > 0.5", "seconds"),
        ("litellm_budget_remaining_usd - 0", "usd"),
        ("queue_wait_milliseconds", "ms"),
        # Counters: per second when rated, an amount when increased or read as they are.
        ("rate(http_requests_total[5m])", "requests/s"),
        ("sum(irate(vllm:generation_tokens_total[1m]))", "tokens/s"),
        ("rate(litellm_spend_usd_total[5m])", "usd/s"),
        ("sum(increase(litellm_spend_usd_total[1h]))", "usd"),
        ("rate(node_network_receive_bytes_total[5m])", "bytes/s"),
        ("rate(jobs_done_total[5m])", "count/s"),
        ("litellm_spend_metric_total", "count"),
        # Ratios and percents: counts over counts, like over like.
        ("sum(rate(http_requests_total{code=~'5..'}[5m])) / sum(rate(http_requests_total[5m]))", "ratio"),
        ("sum(rate(errors_total[5m])) / sum(rate(requests_total[5m]))", "ratio"),
        ("1 - (rate(ok_total[5m]) / rate(all_total[5m]))", "ratio"),
        ("container_memory_bytes / on(pod) group_left container_limit_bytes", "ratio"),
        ("100 * rate(errors_total[5m]) / rate(requests_total[5m])", "percent"),
        # Unsure: no unit.
        ("rate(process_cpu_seconds_total[5m])", None),  # busy time per second
        ("rate(a_bytes_total[5m]) / rate(b_requests_total[5m])", None),  # bytes per request
        ("x_seconds * 1000", None),
        ("rate(http_requests_total[5m]) * 60", None),
        ("x_ratio * 100", "percent"),
        ("x_seconds * 100", None),
        ("x_bytes * y_bytes", None),
        ("x_seconds % 60", None),
        ("count(up)", None),
        ("up == 0", None),
        ("x_seconds > bool 1", None),
        ("time() - node_boot_time_seconds", None),
        ("process_start_time_seconds", None),
        ("vllm:gpu_cache_usage_perc", None),
        ("temperature_celsius", None),
        ("x_seconds + y_bytes", None),
        ("rate(x_seconds[5m])", None),  # rate of a gauge
        ("deriv(x_bytes[10m])", None),
        ("{__name__=~'x_.*'}", None),
        ("sum(x", None),  # not PromQL
        ("vector(1)", None),
    ],
)
def test_inference(expr: str, unit: str | None) -> None:
    assert units.infer(expr) == unit


def rule(**fields: object) -> Rule:
    return Rule.model_validate({"alert": "A", "expr": "x_seconds", **fields})


def test_the_unit_key_wins_over_inference() -> None:
    assert units.of_rule(rule()) == "seconds"
    assert units.of_rule(rule(unit="ms")) == "ms"
    assert units.of_rule(rule(expr="litellm_spend_metric_total", unit="usd")) == "usd"


def test_facts_carry_what_the_explanation_needs() -> None:
    facts = units.facts(
        rule(baseline={"detector": "stl"}, trigger={"window": "10m"}, when={"above": 0.5}, unit="s")
    )
    assert facts.unit is not None and facts.unit.kind == "seconds"
    assert (facts.window, facts.above, facts.below) == (600.0, 0.5, None)
    assert facts.baseline == {"detector": "stl"}
    threshold = units.facts(rule(expr="x_seconds > 1"))
    assert threshold.baseline is None and threshold.window is None


def test_a_bad_unit_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "groups:\n  - name: g\n    rules:\n"
        "      - alert: A\n        expr: x_seconds\n        unit: ''\n"
        "      - alert: B\n        expr: x_seconds\n        unit: a very long unit that is really a sentence\n"
    )
    with pytest.raises(ConfigErrors) as caught:
        load(None, [path])
    found = sorted((e.location.line, str(e)) for e in caught.value.errors)
    assert [line for line, _ in found] == [6, 9]
    assert "unit" in found[0][1] and "must not be empty" in found[0][1]
    assert "at most 32 characters" in found[1][1]
