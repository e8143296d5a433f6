"""Named fault scenarios the simulator can inject, and the ground truth they leave behind.

Used by the fleet model (``alerter.sim.fleet``) to bend a model's traffic and latency during
a fault, by the history writer to record which series each incident affected, and by the live
server and CLI to parse injection requests. A fault is a value: kind, model, start, duration,
magnitude; the fleet's metrics are a pure function of time, seed and the list of faults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from alerter.core.durations import parse_duration

__all__ = ["DEFAULT_MAGNITUDE", "FAULT_KINDS", "Fault", "affected_series", "parse_fault"]

DEFAULT_MAGNITUDE: Mapping[str, float] = {
    "latency_regression": 3.0,  # TTFT multiplier
    "error_surge": 0.25,  # share of forwarded requests failing with 5xx (CUDA OOM)
    "bad_input_spike": 0.3,  # share of gateway requests rejected with 4xx
    "queue_buildup": 60.0,  # queue-time multiplier reached at the end of the fault
    "throughput_drop": 0.3,  # remaining share of traffic
    "spend_runaway": 6.0,  # prompt-size multiplier reached at the end (a prompt loop)
    "silent": 1.0,  # the model's vLLM metrics disappear
}
FAULT_KINDS = tuple(DEFAULT_MAGNITUDE)

_AFFECTED: Mapping[str, tuple[tuple[str, str, Mapping[str, str]], ...]] = {
    "latency_regression": (
        ("vllm:time_to_first_token_seconds", "model_name", {}),
        ("vllm:inter_token_latency_seconds", "model_name", {}),
        ("vllm:e2e_request_latency_seconds", "model_name", {}),
        ("litellm_llm_api_time_to_first_token_metric", "model", {}),
    ),
    "error_surge": (
        ("litellm_proxy_failed_requests_metric_total", "requested_model", {"exception_status": "500"}),
        ("vllm:request_success_total", "model_name", {}),
    ),
    "bad_input_spike": (
        ("litellm_proxy_failed_requests_metric_total", "requested_model", {"exception_status": "400"}),
    ),
    "queue_buildup": (
        ("vllm:num_requests_waiting", "model_name", {}),
        ("vllm:request_queue_time_seconds", "model_name", {}),
        ("vllm:time_to_first_token_seconds", "model_name", {}),
        ("vllm:num_preemptions_total", "model_name", {}),
    ),
    "throughput_drop": (
        ("vllm:generation_tokens_total", "model_name", {}),
        ("vllm:prompt_tokens_total", "model_name", {}),
        ("vllm:request_success_total", "model_name", {}),
    ),
    "spend_runaway": (
        ("litellm_spend_metric_total", "model", {}),
        ("litellm_input_tokens_metric_total", "model", {}),
        ("vllm:prompt_tokens_total", "model_name", {}),
    ),
    "silent": (
        ("vllm:num_requests_running", "model_name", {}),
        ("vllm:generation_tokens_total", "model_name", {}),
    ),
}


@dataclass(frozen=True)
class Fault:
    """One injected incident: ``kind`` hits ``model`` during [start, start + duration)."""

    kind: str
    model: str
    start: float
    duration: float
    magnitude: float = math.nan

    def __post_init__(self) -> None:
        if self.kind not in DEFAULT_MAGNITUDE:
            raise ValueError(f"unknown fault kind {self.kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        if not self.model:
            raise ValueError("a fault needs the model_name it affects")
        if not (math.isfinite(self.start) and math.isfinite(self.duration)) or self.duration <= 0:
            raise ValueError(
                f"fault start must be finite and duration positive, got {self.start}, {self.duration}"
            )
        if math.isnan(self.magnitude):
            object.__setattr__(self, "magnitude", DEFAULT_MAGNITUDE[self.kind])
        elif not (math.isfinite(self.magnitude) and self.magnitude > 0):
            raise ValueError(f"fault magnitude must be a positive number, got {self.magnitude}")

    @property
    def end(self) -> float:
        return self.start + self.duration

    def to_json(self) -> dict[str, Any]:
        """The ground-truth record: the fault plus the series it is expected to disturb."""
        return {**asdict(self), "end": self.end, "series": affected_series(self)}


def affected_series(fault: Fault) -> list[dict[str, Any]]:
    """Metric name, labels and a PromQL selector for every series the fault disturbs."""
    out = []
    for metric, label, extra in _AFFECTED[fault.kind]:
        labels = {label: fault.model, **extra}
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        selector = f"{metric}_bucket{{{inner}}}" if _is_histogram(metric) else f"{metric}{{{inner}}}"
        out.append({"metric": metric, "labels": labels, "selector": selector})
    return out


def _is_histogram(metric: str) -> bool:
    return metric.endswith(("_seconds", "_metric")) and not metric.endswith("_total")


def parse_fault(spec: str, *, origin: float, models: tuple[str, ...]) -> Fault:
    """Parse ``kind:model:start:duration[:magnitude]`` from the command line.

    ``start`` is a duration after ``origin`` (e.g. ``3d4h``); ``model`` may be ``*`` for the
    first model of the fleet.
    """
    parts = spec.split(":")
    if len(parts) not in (4, 5):
        raise ValueError(
            f"fault {spec!r} must look like kind:model:start:duration[:magnitude], e.g. error_surge:*:2d:30m"
        )
    kind, model, start, duration = parts[:4]
    if model == "*":
        model = models[0]
    if model not in models:
        raise ValueError(f"fault {spec!r}: unknown model {model!r}; the fleet has {', '.join(models)}")
    magnitude = float(parts[4]) if len(parts) == 5 else math.nan
    return Fault(kind, model, origin + parse_duration(start), parse_duration(duration), magnitude)
