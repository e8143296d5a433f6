"""A deterministic LLM-fleet simulator for demos, tests and benchmarks.

Every metric is a pure function of (time, seed, faults): ``alerter.sim.fleet`` models traffic,
latency and errors; ``alerter.sim.metrics`` names the vLLM and LiteLLM metrics;
``alerter.sim.server`` serves them live with run-time fault injection;
``alerter.sim.history`` writes weeks of OpenMetrics history with the ground truth of its
incidents; ``alerter.sim.cli`` is ``alerter sim serve|history``.
"""

from alerter.sim.faults import FAULT_KINDS, Fault
from alerter.sim.fleet import DEFAULT_MODELS, Fleet, ModelSpec
from alerter.sim.history import History, random_faults, write_history
from alerter.sim.metrics import fleet_samples, live_samples
from alerter.sim.server import SimServer

__all__ = [
    "DEFAULT_MODELS",
    "FAULT_KINDS",
    "Fault",
    "Fleet",
    "History",
    "ModelSpec",
    "SimServer",
    "fleet_samples",
    "live_samples",
    "random_faults",
    "write_history",
]
