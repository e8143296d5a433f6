"""vLLM- and LiteLLM-compatible metric samples of the simulated fleet at any set of instants.

The one place that names metrics: the live server (``alerter.sim.server``) calls
``fleet_samples`` with the current time, the history writer (``alerter.sim.history``) with a
grid of scrape times, and both render the same ``Family`` values, so a live scrape and the
written history agree exactly.

Counters are cumulative since the model's last restart, which happens every Monday 00:00 UTC
(a weekly deploy); within a tick they interpolate linearly. Request, token and histogram
bucket counts are whole numbers, as real clients expose them. Latencies are log-normal around
the fleet model's per-tick medians; bucket boundaries are the ones vLLM ships.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerter.sim.fleet import MONDAY, TICK, WEEK, Fleet, State, model_state

__all__ = ["BUCKETS", "Family", "Sample", "fleet_samples"]

Array = np.ndarray[Any, Any]

BUCKETS = {
    "ttft": (
        0.001,
        0.005,
        0.01,
        0.02,
        0.04,
        0.06,
        0.08,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        2.5,
        5.0,
        7.5,
        10.0,
        20.0,
        40.0,
        80.0,
        160.0,
        640.0,
        2560.0,
    ),
    "itl": (
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.3,
        0.4,
        0.5,
        0.75,
        1.0,
        2.5,
        5.0,
        7.5,
        10.0,
        20.0,
        40.0,
        80.0,
    ),
    "request": (
        0.3,
        0.5,
        0.8,
        1.0,
        1.5,
        2.0,
        2.5,
        5.0,
        10.0,
        15.0,
        20.0,
        30.0,
        40.0,
        50.0,
        60.0,
        120.0,
        240.0,
        480.0,
        960.0,
        1920.0,
        7680.0,
    ),
    "gateway": (0.005, 0.0125, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
}
_SIGMA = {"ttft": 0.6, "itl": 0.35, "e2e": 0.45, "queue": 0.9}
_FINISHED = (("stop", 0.88), ("length", 0.11), ("abort", 0.01))
_FAILURES = (("InternalServerError", "500"), ("BadRequestError", "400"), ("RateLimitError", "429"))


@dataclass(frozen=True)
class Sample:
    """One exposed series: its full sample name, labels in output order, a value per instant.

    ``present`` is False where the series is absent (its model is silent); None means always.
    """

    name: str
    labels: tuple[tuple[str, str], ...]
    values: Array
    integer: bool
    present: Array | None = None


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    help: str
    samples: tuple[Sample, ...]


class _Clock:
    """Maps instants onto ticks, and per-tick increments onto cumulative counter values."""

    def __init__(self, times: Array) -> None:
        self.times = times
        tick_of = np.floor(times / TICK).astype(np.int64)
        week_start = np.floor((times - MONDAY) / WEEK) * WEEK + MONDAY
        first = int(np.floor(week_start.min() / TICK))
        self.ticks = np.arange(first, int(tick_of.max()) + 1, dtype=np.int64)
        self.index = tick_of - first
        self.fraction = (times - tick_of * TICK) / TICK
        restarts = ((self.ticks * TICK - MONDAY) % WEEK) == 0
        self.bounds = [*np.flatnonzero(restarts).tolist(), len(self.ticks)]
        if self.bounds[0] != 0:
            self.bounds.insert(0, 0)

    def counter(self, per_second: Array) -> Array:
        """Cumulative value at each instant of a per-tick rate (1-D, or 2-D with a column per bucket)."""
        increments = per_second * TICK
        before = np.zeros_like(increments)
        for lo, hi in zip(self.bounds[:-1], self.bounds[1:], strict=True):
            if hi - lo > 1:
                before[lo + 1 : hi] = np.cumsum(increments[lo : hi - 1], axis=0)
        frac = self.fraction if increments.ndim == 1 else self.fraction[:, None]
        out: Array = before[self.index] + frac * increments[self.index]
        return out


def _normal_cdf(z: Array) -> Array:
    """Standard normal CDF (Abramowitz-Stegun 7.1.26, error < 2e-7), to stay off scipy."""
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return np.clip(0.5 * (1.0 + np.sign(z) * erf), 0.0, 1.0)


def _histogram(
    clock: _Clock,
    name: str,
    help_: str,
    labels: tuple[tuple[str, str], ...],
    rate: Array,
    median: Array,
    sigma: float,
    buckets: tuple[float, ...],
    present: Array | None,
) -> Family:
    edges = np.log(np.array(buckets))
    cdf = _normal_cdf((edges[None, :] - np.log(median)[:, None]) / sigma)
    counts = np.floor(clock.counter(rate[:, None] * cdf))
    total = np.floor(clock.counter(rate))
    total_sum = np.round(clock.counter(rate * median * math.exp(sigma**2 / 2)), 3)
    samples = [
        Sample(f"{name}_bucket", (*labels, ("le", repr(float(le)))), counts[:, i], True, present)
        for i, le in enumerate(buckets)
    ]
    samples.append(Sample(f"{name}_bucket", (*labels, ("le", "+Inf")), total, True, present))
    samples.append(Sample(f"{name}_count", labels, total, True, present))
    samples.append(Sample(f"{name}_sum", labels, total_sum, False, present))
    return Family(name, "histogram", help_, tuple(samples))


def _vllm(clock: _Clock, model: str, s: State, present: Array | None) -> Iterator[Family]:
    lab = (("model_name", model),)
    at = clock.index

    def gauge(name: str, help_: str, values: Array) -> Family:
        return Family(name, "gauge", help_, (Sample(name, lab, values[at], False, present),))

    def counter(name: str, help_: str, rate: Array) -> Family:
        values = np.floor(clock.counter(rate))
        return Family(name, "counter", help_, (Sample(f"{name}_total", lab, values, True, present),))

    yield gauge("vllm:num_requests_running", "Number of requests in model execution batches.", s.running)
    yield gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", s.waiting)
    yield gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", s.kv_usage)
    yield counter(
        "vllm:prompt_tokens", "Number of prefill tokens processed.", s.forwarded_rps * s.prompt_tokens
    )
    yield counter(
        "vllm:generation_tokens", "Number of generation tokens processed.", s.success_rps * s.output_tokens
    )
    yield counter(
        "vllm:num_preemptions", "Cumulative number of preemptions.", s.forwarded_rps * s.preemption_share
    )
    yield Family(
        "vllm:request_success",
        "counter",
        "Count of successfully processed requests.",
        tuple(
            Sample(
                "vllm:request_success_total",
                (("finished_reason", reason), *lab),
                np.floor(clock.counter(s.success_rps * share)),
                True,
                present,
            )
            for reason, share in _FINISHED
        ),
    )
    yield _histogram(
        clock,
        "vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        lab,
        s.forwarded_rps,
        s.ttft,
        _SIGMA["ttft"],
        BUCKETS["ttft"],
        present,
    )
    yield _histogram(
        clock,
        "vllm:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        lab,
        s.success_rps * (s.output_tokens - 1),
        s.itl,
        _SIGMA["itl"],
        BUCKETS["itl"],
        present,
    )
    yield _histogram(
        clock,
        "vllm:e2e_request_latency_seconds",
        "Histogram of end to end request latency in seconds.",
        lab,
        s.success_rps,
        s.e2e,
        _SIGMA["e2e"],
        BUCKETS["request"],
        present,
    )
    yield _histogram(
        clock,
        "vllm:request_queue_time_seconds",
        "Histogram of time spent in WAITING phase.",
        lab,
        s.forwarded_rps,
        s.queue + 1e-4,
        _SIGMA["queue"],
        BUCKETS["request"],
        present,
    )


def _gateway(
    clock: _Clock, models: list[tuple[str, State]], prices: dict[str, tuple[float, float]]
) -> Iterator[Family]:
    def per_model(name: str, help_: str, label: str, rate_of: Any, integer: bool = True) -> Family:
        samples = []
        for model, s in models:
            raw = clock.counter(rate_of(model, s))
            values = np.floor(raw) if integer else np.round(raw, 6)
            samples.append(Sample(f"{name}_total", ((label, model),), values, integer))
        return Family(name, "counter", help_, tuple(samples))

    yield per_model(
        "litellm_proxy_total_requests_metric",
        "Total number of requests made to the proxy server.",
        "requested_model",
        lambda m, s: s.gateway_rps,
    )
    shares = {"500": "share_5xx", "400": "share_4xx", "429": "share_429"}
    failed = []
    for model, s in models:
        for cls, status in _FAILURES:
            base = s.forwarded_rps if status == "500" else s.gateway_rps
            values = np.floor(clock.counter(base * getattr(s, shares[status])))
            labels = (("exception_class", cls), ("exception_status", status), ("requested_model", model))
            failed.append(Sample("litellm_proxy_failed_requests_metric_total", labels, values, True))
    yield Family(
        "litellm_proxy_failed_requests_metric",
        "counter",
        "Total number of failed responses from proxy.",
        tuple(failed),
    )
    yield per_model(
        "litellm_spend_metric",
        "Total spend on LLM requests.",
        "model",
        lambda m, s: s.success_rps * (s.prompt_tokens * prices[m][0] + s.output_tokens * prices[m][1]) / 1e6,
        integer=False,
    )
    yield per_model(
        "litellm_input_tokens_metric",
        "Total number of input tokens from LLM requests.",
        "model",
        lambda m, s: s.forwarded_rps * s.prompt_tokens,
    )
    yield per_model(
        "litellm_output_tokens_metric",
        "Total number of output tokens from LLM requests.",
        "model",
        lambda m, s: s.success_rps * s.output_tokens,
    )
    ttft = [
        _histogram(
            clock,
            "litellm_llm_api_time_to_first_token_metric",
            "",
            (("model", model),),
            s.success_rps,
            s.ttft + 0.02,
            _SIGMA["ttft"],
            BUCKETS["gateway"],
            None,
        )
        for model, s in models
    ]
    yield Family(
        "litellm_llm_api_time_to_first_token_metric",
        "histogram",
        "Time to first token for LLM API call.",
        tuple(sample for family in ttft for sample in family.samples),
    )


def fleet_samples(fleet: Fleet, times: Array) -> list[Family]:
    """Every metric family of the fleet, with one value per instant in ``times`` (ascending)."""
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise ValueError("times must be a non-empty 1-D array of finite unix seconds")
    if times.size > 1 and not bool(np.all(np.diff(times) > 0)):
        raise ValueError("times must be strictly ascending")
    clock = _Clock(times)
    states = [(spec.name, model_state(fleet, i, clock.ticks)) for i, spec in enumerate(fleet.models)]
    by_name: dict[str, list[Family]] = {}
    for model, state in states:
        silent = fleet.silent_mask(model, times)
        present = ~silent if silent.any() else None
        for family in _vllm(clock, model, state, present):
            by_name.setdefault(family.name, []).append(family)
    families = [
        Family(group[0].name, group[0].kind, group[0].help, tuple(s for f in group for s in f.samples))
        for group in by_name.values()
    ]
    prices = {m.name: (m.price_in, m.price_out) for m in fleet.models}
    return families + list(_gateway(clock, states, prices))
