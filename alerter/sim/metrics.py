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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from alerter.sim.fleet import MONDAY, TICK, WEEK, Fleet, ModelSpec, State, model_state

__all__ = ["BUCKETS", "Family", "Resume", "Sample", "fleet_samples", "live_samples"]

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


@dataclass(frozen=True)
class Resume:
    """Where the counters of a live scrape left off, so the next scrape continues from there.

    ``sums[i]`` is the sum of the increments of the i-th counter computed by ``fleet_samples``
    over the ticks of the week before ``tick``. Continuing a sum adds the same numbers in the
    same order as summing from the week's start, so resumed values are bitwise equal to fresh
    ones (a test checks it) while a scrape costs a few ticks instead of up to a week of them.
    """

    fleet: Fleet
    tick: int
    sums: tuple[Array, ...]


class _Clock:
    """Maps instants onto ticks, and per-tick increments onto cumulative counter values."""

    def __init__(self, times: Array, resume: Resume | None = None, phase: float = 0.0) -> None:
        self.times = times
        tick_of = np.floor(times / TICK).astype(np.int64)
        # Counters restart on the fleet's own Monday (see ``Fleet.phase``).
        monday = MONDAY - phase
        week_start = np.floor((times - monday) / WEEK) * WEEK + monday
        first = int(np.floor(week_start.min() / TICK))
        last = int(tick_of.max())
        self.start_sums = None
        if resume is not None and times.size == 1 and first <= resume.tick <= last:
            first, self.start_sums = resume.tick, resume.sums
        self.ticks = np.arange(first, last + 1, dtype=np.int64)
        self.index = tick_of - first
        self.fraction = (times - tick_of * TICK) / TICK
        restarts = ((self.ticks * TICK - monday) % WEEK) == 0
        self.bounds = [*np.flatnonzero(restarts).tolist(), len(self.ticks)]
        if self.bounds[0] != 0:
            self.bounds.insert(0, 0)
        self.end_sums: list[Array] = []

    def counter(self, per_second: Array) -> Array:
        """Cumulative value at each instant of a per-tick rate (1-D, or 2-D with a column per bucket)."""
        increments = per_second * TICK
        if self.start_sums is not None:
            start = self.start_sums[len(self.end_sums)]
            before = np.cumsum(np.concatenate([start[np.newaxis], increments[:-1]]), axis=0)
        else:
            before = np.zeros_like(increments)
            for lo, hi in zip(self.bounds[:-1], self.bounds[1:], strict=True):
                if hi - lo > 1:
                    before[lo + 1 : hi] = np.cumsum(increments[lo : hi - 1], axis=0)
        self.end_sums.append(before[self.index[-1]].copy())
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


@dataclass(frozen=True)
class _Histogram:
    """A latency histogram: which per-tick rate it counts and around which median it spreads."""

    name: str
    help: str
    sigma: float
    buckets: tuple[float, ...]
    rate: Callable[[State], Array]
    median: Callable[[State], Array]

    def family(
        self, clock: _Clock, labels: tuple[tuple[str, str], ...], s: State, present: Array | None
    ) -> Family:
        rate, median = self.rate(s), self.median(s)
        edges = np.log(np.array(self.buckets))
        cdf = _normal_cdf((edges[None, :] - np.log(median)[:, None]) / self.sigma)
        counts = np.floor(clock.counter(rate[:, None] * cdf))
        total = np.floor(clock.counter(rate))
        total_sum = np.round(clock.counter(rate * median * math.exp(self.sigma**2 / 2)), 3)
        samples = [
            Sample(f"{self.name}_bucket", (*labels, ("le", repr(float(le)))), counts[:, i], True, present)
            for i, le in enumerate(self.buckets)
        ]
        samples.append(Sample(f"{self.name}_bucket", (*labels, ("le", "+Inf")), total, True, present))
        samples.append(Sample(f"{self.name}_count", labels, total, True, present))
        samples.append(Sample(f"{self.name}_sum", labels, total_sum, False, present))
        return Family(self.name, "histogram", self.help, tuple(samples))


_VLLM_HISTOGRAMS = (
    _Histogram(
        "vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        0.6,
        BUCKETS["ttft"],
        lambda s: s.forwarded_rps,
        lambda s: s.ttft,
    ),
    _Histogram(
        "vllm:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        0.35,
        BUCKETS["itl"],
        lambda s: s.success_rps * (s.output_tokens - 1),
        lambda s: s.itl,
    ),
    _Histogram(
        "vllm:e2e_request_latency_seconds",
        "Histogram of end to end request latency in seconds.",
        0.45,
        BUCKETS["request"],
        lambda s: s.success_rps,
        lambda s: s.e2e,
    ),
    _Histogram(
        "vllm:request_queue_time_seconds",
        "Histogram of time spent in WAITING phase.",
        0.9,
        BUCKETS["request"],
        lambda s: s.forwarded_rps,
        lambda s: s.queue + 1e-4,
    ),
)
_GATEWAY_TTFT = _Histogram(
    "litellm_llm_api_time_to_first_token_metric",
    "Time to first token for LLM API call.",
    0.6,
    BUCKETS["gateway"],
    lambda s: s.success_rps,
    lambda s: s.ttft + 0.02,
)
_GATEWAY_LATENCY = _Histogram(
    "litellm_request_total_latency_metric",
    "Total latency (seconds) for a request to LiteLLM",
    0.45,
    BUCKETS["gateway"],
    lambda s: s.success_rps,
    lambda s: s.e2e + 0.03,
)
_VLLM_GAUGES: tuple[tuple[str, str, Callable[[State], Array]], ...] = (
    ("vllm:num_requests_running", "Number of requests in model execution batches.", lambda s: s.running),
    ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", lambda s: s.waiting),
    ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", lambda s: s.kv_usage),
)
_VLLM_COUNTERS: tuple[tuple[str, str, Callable[[State], Array]], ...] = (
    (
        "vllm:prompt_tokens",
        "Number of prefill tokens processed.",
        lambda s: s.forwarded_rps * s.prompt_tokens,
    ),
    (
        "vllm:generation_tokens",
        "Number of generation tokens processed.",
        lambda s: s.success_rps * s.output_tokens,
    ),
    (
        "vllm:num_preemptions",
        "Cumulative number of preemptions.",
        lambda s: s.forwarded_rps * s.preemption_share,
    ),
)


def _vllm(clock: _Clock, model: str, s: State, present: Array | None) -> Iterator[Family]:
    # vLLM's V1 engine labels every series with the served model and the engine index
    # (``labelnames = ["model_name", "engine"]`` in vllm/v1/metrics/loggers.py); one engine here.
    lab = (("model_name", model), ("engine", "0"))
    for name, help_, gauge in _VLLM_GAUGES:
        yield Family(name, "gauge", help_, (Sample(name, lab, gauge(s)[clock.index], False, present),))
    for name, help_, rate in _VLLM_COUNTERS:
        values = np.floor(clock.counter(rate(s)))
        yield Family(name, "counter", help_, (Sample(f"{name}_total", lab, values, True, present),))
    success = tuple(
        Sample(
            "vllm:request_success_total",
            (("finished_reason", reason), *lab),
            np.floor(clock.counter(s.success_rps * share)),
            True,
            present,
        )
        for reason, share in _FINISHED
    )
    yield Family("vllm:request_success", "counter", "Count of successfully processed requests.", success)
    for histogram in _VLLM_HISTOGRAMS:
        yield histogram.family(clock, lab, s, present)


def _spend_rate(spec: ModelSpec, s: State) -> Array:
    out: Array = s.success_rps * (s.prompt_tokens * spec.price_in + s.output_tokens * spec.price_out) / 1e6
    return out


_GATEWAY_COUNTERS: tuple[tuple[str, str, str, Callable[[ModelSpec, State], Array], bool], ...] = (
    (
        "litellm_proxy_total_requests_metric",
        "Total number of requests made to the proxy server.",
        "requested_model",
        lambda m, s: s.gateway_rps,
        True,
    ),
    ("litellm_spend_metric", "Total spend on LLM requests.", "model", _spend_rate, False),
    (
        "litellm_input_tokens_metric",
        "Total number of input tokens from LLM requests.",
        "model",
        lambda m, s: s.forwarded_rps * s.prompt_tokens,
        True,
    ),
    (
        "litellm_output_tokens_metric",
        "Total number of output tokens from LLM requests.",
        "model",
        lambda m, s: s.success_rps * s.output_tokens,
        True,
    ),
)


def _failures(clock: _Clock, models: list[tuple[ModelSpec, State]]) -> Family:
    """Gateway failures: 5xx among forwarded requests, 4xx and 429 among all requests."""
    shares = {"500": "share_5xx", "400": "share_4xx", "429": "share_429"}
    failed = []
    for spec, s in models:
        for cls, status in _FAILURES:
            base = s.forwarded_rps if status == "500" else s.gateway_rps
            values = np.floor(clock.counter(base * getattr(s, shares[status])))
            labels = (
                ("exception_class", cls),
                ("exception_status", status),
                ("requested_model", spec.name),
                ("team", spec.team),
            )
            failed.append(Sample("litellm_proxy_failed_requests_metric_total", labels, values, True))
    return Family(
        "litellm_proxy_failed_requests_metric",
        "counter",
        "Total number of failed responses from proxy.",
        tuple(failed),
    )


def _gateway(clock: _Clock, models: list[tuple[ModelSpec, State]]) -> Iterator[Family]:
    for name, help_, label, rate, integer in _GATEWAY_COUNTERS:
        samples = []
        for spec, s in models:
            raw = clock.counter(rate(spec, s))
            values = np.floor(raw) if integer else np.round(raw, 6)
            samples.append(
                Sample(f"{name}_total", ((label, spec.name), ("team", spec.team)), values, integer)
            )
        yield Family(name, "counter", help_, tuple(samples))
    yield _failures(clock, models)
    # LiteLLM's latency histograms carry the model and the calling key's team (among others:
    # litellm/types/integrations/prometheus.py, the "latency_metrics" label group).
    for histogram in (_GATEWAY_TTFT, _GATEWAY_LATENCY):
        parts = [
            histogram.family(clock, (("model", spec.name), ("team", spec.team)), s, None)
            for spec, s in models
        ]
        yield Family(histogram.name, "histogram", histogram.help, tuple(x for f in parts for x in f.samples))


def _check_times(times: Array) -> Array:
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise ValueError("times must be a non-empty 1-D array of finite unix seconds")
    if times.size > 1 and not bool(np.all(np.diff(times) > 0)):
        raise ValueError("times must be strictly ascending")
    return times


def _families(fleet: Fleet, clock: _Clock) -> list[Family]:
    states = [(spec, model_state(fleet, i, clock.ticks)) for i, spec in enumerate(fleet.models)]
    by_name: dict[str, list[Family]] = {}
    for spec, state in states:
        silent = fleet.silent_mask(spec.name, clock.times)
        present = ~silent if silent.any() else None
        for family in _vllm(clock, spec.name, state, present):
            by_name.setdefault(family.name, []).append(family)
    families = [
        Family(group[0].name, group[0].kind, group[0].help, tuple(s for f in group for s in f.samples))
        for group in by_name.values()
    ]
    return families + list(_gateway(clock, states))


def fleet_samples(fleet: Fleet, times: Array) -> list[Family]:
    """Every metric family of the fleet, with one value per instant in ``times`` (ascending)."""
    return _families(fleet, _Clock(_check_times(times), phase=fleet.phase))


def live_samples(fleet: Fleet, at: float, resume: Resume | None = None) -> tuple[list[Family], Resume]:
    """``fleet_samples(fleet, [at])``, continuing the counters from an earlier scrape's ``resume``.

    The resume is used only when it belongs to the same fleet (a fault injection starts over)
    and to an earlier tick of the same week; otherwise the counters are summed from the week's
    start. Returns the families and the resume for the next scrape.
    """
    times = _check_times(np.array([at]))
    usable = resume if resume is not None and resume.fleet == fleet else None
    clock = _Clock(times, usable, fleet.phase)
    families = _families(fleet, clock)
    return families, Resume(fleet, int(clock.ticks[-1]), tuple(clock.end_sums))
