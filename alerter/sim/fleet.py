"""The LLM-fleet model: traffic, latency and errors of each model as pure functions of time.

Called by ``alerter.sim.metrics``, which turns these per-tick quantities into vLLM and LiteLLM
metric samples. Everything is computed per *tick* (``TICK`` seconds) from the tick's start time,
the fleet's seed and the list of faults, with counter-based hashing for noise (no random state),
so the live server and the history writer produce the same numbers for the same instant.

Traffic follows a daily curve (peak mid-afternoon UTC) and a weekly one (quieter weekends) with
multiplicative noise; latency rises with load (utilisation of the model's capacity); queueing
grows sharply as utilisation approaches one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alerter.sim.faults import Fault

__all__ = [
    "DEFAULT_MODELS",
    "MONDAY",
    "TICK",
    "WEEK",
    "Fleet",
    "ModelSpec",
    "State",
    "model_state",
    "normal_noise",
]

TICK = 60.0
"""Resolution of the model: quantities are constant within a tick, counters interpolate."""
WEEK = 7 * 86400.0
MONDAY = 4 * 86400.0
"""Offset of the first Monday 00:00 UTC after the unix epoch (a Thursday); weeks start here."""


@dataclass(frozen=True)
class ModelSpec:
    """One served model. Rates per second, latencies in seconds, prices in dollars per 1M tokens."""

    name: str
    base_rps: float
    capacity_rps: float
    ttft: float
    itl: float
    prompt_tokens: float
    output_tokens: float
    price_in: float
    price_out: float
    max_num_seqs: int = 256
    team: str = "platform"
    """The LiteLLM team whose keys call the model (the ``team`` label of the gateway's series)."""

    def __post_init__(self) -> None:
        if not self.name or '"' in self.name or ":" in self.name:
            raise ValueError(f"model name must be non-empty without quotes or colons, got {self.name!r}")
        for name in ("base_rps", "capacity_rps", "ttft", "itl", "prompt_tokens", "output_tokens"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ModelSpec.{name} must be > 0, got {getattr(self, name)!r}")


DEFAULT_MODELS = (
    ModelSpec("llama-3.1-8b", 6.0, 14.0, 0.08, 0.012, 900, 220, 0.10, 0.10),
    ModelSpec("llama-3.1-70b", 2.5, 5.0, 0.25, 0.035, 1400, 300, 0.60, 0.80),
    ModelSpec("mistral-7b", 1.5, 5.0, 0.07, 0.011, 600, 180, 0.08, 0.08),
)


@dataclass(frozen=True)
class Fleet:
    """The simulated fleet: models, seed and the faults in effect (past, present or future).

    ``phase`` (seconds, a whole number of ticks) moves the fleet's own clock: at the real instant
    ``t`` its traffic curve, noise and weekly counter restarts are those of the unshifted fleet at
    ``t + phase``. Faults stay on the real clock. A history or live server that must look the same
    whenever it is started (tests, the demo) sets ``phase = fixed_instant - now``.
    """

    models: tuple[ModelSpec, ...] = DEFAULT_MODELS
    seed: int = 0
    faults: tuple[Fault, ...] = field(default=())
    phase: float = 0.0

    def __post_init__(self) -> None:
        names = [m.name for m in self.models]
        if not names:
            raise ValueError("a fleet needs at least one model")
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {names}")
        for fault in self.faults:
            if fault.model not in names:
                raise ValueError(f"fault {fault.kind} targets unknown model {fault.model!r}")
        if not (math.isfinite(self.phase) and self.phase % TICK == 0):
            raise ValueError(f"phase must be a whole number of {TICK:g}s ticks, got {self.phase!r}")

    @property
    def phase_ticks(self) -> int:
        """``phase`` in ticks: added to a real tick number to get the fleet's own."""
        return int(self.phase // TICK)

    def with_fault(self, fault: Fault) -> Fleet:
        return Fleet(self.models, self.seed, (*self.faults, fault), self.phase)

    def without_faults(self) -> Fleet:
        return Fleet(self.models, self.seed, (), self.phase)

    def silent_mask(self, model: str, times: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, Any]:
        """True where ``model`` does not report (a ``silent`` fault covers the instant)."""
        mask = np.zeros(times.shape, dtype=bool)
        for f in self.faults:
            if f.kind == "silent" and f.model == model:
                mask |= (times >= f.start) & (times < f.end)
        return mask


@dataclass(frozen=True)
class State:
    """Per-tick quantities of one model (arrays aligned with the ticks)."""

    gateway_rps: np.ndarray[Any, Any]
    forwarded_rps: np.ndarray[Any, Any]
    success_rps: np.ndarray[Any, Any]
    share_4xx: np.ndarray[Any, Any]
    share_429: np.ndarray[Any, Any]
    share_5xx: np.ndarray[Any, Any]
    ttft: np.ndarray[Any, Any]
    itl: np.ndarray[Any, Any]
    queue: np.ndarray[Any, Any]
    e2e: np.ndarray[Any, Any]
    prompt_tokens: np.ndarray[Any, Any]
    output_tokens: np.ndarray[Any, Any]
    running: np.ndarray[Any, Any]
    waiting: np.ndarray[Any, Any]
    kv_usage: np.ndarray[Any, Any]
    preemption_share: np.ndarray[Any, Any]


def _mix(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """splitmix64 finaliser: a counter-based generator, so noise needs no state."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    out: np.ndarray[Any, Any] = x ^ (x >> np.uint64(31))
    return out


def normal_noise(seed: int, stream: int, ticks: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Standard normal deviates, one per tick, fixed by (seed, stream, tick)."""
    key = _mix(np.array([seed * 1_000_003 + stream], dtype=np.uint64))[0]
    base = ticks.astype(np.uint64) * np.uint64(2) + key
    u1 = (_mix(base) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    u2 = (_mix(base + np.uint64(1)) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def seasonality(times: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Daily curve (peak 15:00 UTC, trough 03:00) times a weekly one (weekends at 65%)."""
    hour = (times % 86400.0) / 3600.0
    daily = (
        1.0
        + 0.45 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
        + 0.08 * np.cos(4 * np.pi * (hour - 15.0) / 24.0)
    )
    weekday = np.floor(((times - MONDAY) % WEEK) / 86400.0)
    weekly = np.where(weekday >= 5, 0.65, 1.0)
    return daily * weekly


def _fault_factors(faults: tuple[Fault, ...], model: str, times: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Multipliers and shares that the faults active at ``times`` impose on ``model``."""
    ones = np.ones(times.shape)
    out = {
        "rps": ones.copy(),
        "ttft": ones.copy(),
        "itl": ones.copy(),
        "queue": ones.copy(),
        "prompt": ones.copy(),
        "e5xx": np.zeros(times.shape),
        "e4xx": np.zeros(times.shape),
    }
    for f in faults:
        if f.model != model:
            continue
        active = (times >= f.start) & (times < f.end)
        progress = np.clip((times - f.start) / f.duration, 0.0, 1.0)
        m = f.magnitude
        if f.kind == "latency_regression":
            out["ttft"] = np.where(active, out["ttft"] * m, out["ttft"])
            out["itl"] = np.where(active, out["itl"] * (1 + (m - 1) / 2), out["itl"])
        elif f.kind == "error_surge":
            out["e5xx"] = np.where(active, np.maximum(out["e5xx"], min(m, 1.0)), out["e5xx"])
        elif f.kind == "bad_input_spike":
            out["e4xx"] = np.where(active, np.maximum(out["e4xx"], min(m, 0.95)), out["e4xx"])
        elif f.kind == "queue_buildup":
            out["queue"] = np.where(active, out["queue"] * (1 + (m - 1) * progress), out["queue"])
        elif f.kind == "throughput_drop":
            out["rps"] = np.where(active, out["rps"] * m, out["rps"])
        elif f.kind == "spend_runaway":
            out["prompt"] = np.where(active, out["prompt"] * (1 + (m - 1) * progress), out["prompt"])
            out["rps"] = np.where(active, out["rps"] * 1.5, out["rps"])
    return out


def model_state(fleet: Fleet, index: int, ticks: np.ndarray[Any, Any]) -> State:
    """Everything about model ``index`` during each tick (integer tick numbers since the epoch).

    Faults act at the real ticks; traffic and noise follow the fleet's own clock (``phase``).
    """
    spec = fleet.models[index]
    times = ticks.astype(np.float64) * TICK
    stream = index * 16
    ff = _fault_factors(fleet.faults, spec.name, times)
    ticks = ticks + fleet.phase_ticks
    rps = (
        spec.base_rps
        * seasonality(ticks * TICK)
        * np.exp(0.08 * normal_noise(fleet.seed, stream, ticks) - 0.0032)
    )
    rps = rps * ff["rps"]
    share_4xx = np.maximum(0.004 * np.exp(0.3 * normal_noise(fleet.seed, stream + 1, ticks)), ff["e4xx"])
    share_429 = 0.0005 * np.ones(times.shape)
    share_5xx = np.maximum(0.001 * np.exp(0.3 * normal_noise(fleet.seed, stream + 2, ticks)), ff["e5xx"])
    forwarded = rps * (1 - share_4xx - share_429)
    load = np.minimum(forwarded / spec.capacity_rps, 0.97)
    jitter = np.exp(0.05 * normal_noise(fleet.seed, stream + 3, ticks))
    ttft_base = spec.ttft * (1 + 1.5 * load**2) * jitter * ff["ttft"]
    queue = spec.ttft * 0.3 * load / (1 - load) * ff["queue"]
    itl = spec.itl * (1 + 0.8 * load) * np.exp(0.03 * normal_noise(fleet.seed, stream + 4, ticks)) * ff["itl"]
    prompt = spec.prompt_tokens * ff["prompt"]
    output = np.full(times.shape, spec.output_tokens)
    ttft = ttft_base + queue
    e2e = ttft + itl * output
    running = np.minimum(np.round(forwarded * e2e), spec.max_num_seqs)
    waiting = np.round(forwarded * queue)
    # KV-cache use follows the tokens in flight: load times context size relative to normal.
    context = (prompt + output) / (spec.prompt_tokens + spec.output_tokens)
    pressure = 0.1 + 0.7 * load * context + 0.01 * (ff["queue"] - 1)
    kv = np.clip(pressure * jitter, 0.0, 1.0)
    return State(
        gateway_rps=rps,
        forwarded_rps=forwarded,
        success_rps=forwarded * (1 - share_5xx),
        share_4xx=share_4xx,
        share_429=share_429,
        share_5xx=share_5xx,
        ttft=ttft,
        itl=itl,
        queue=queue,
        e2e=e2e,
        prompt_tokens=prompt,
        output_tokens=output,
        running=running,
        waiting=waiting,
        kv_usage=np.round(kv, 4),
        preemption_share=0.02 * np.clip((kv - 0.85) / 0.15, 0.0, 1.0),
    )
