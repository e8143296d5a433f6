"""Detectors: learn what normal looks like for a series and judge new points against it.

The public surface used by the baseline cache, the config checker, backtests and outside
benchmarks. Every detector follows the contract in :mod:`alerter.detect.base`::

    from alerter import detect

    detector = detect.build({"detector": "stl", "sensitivity": 3})   # a rule's baseline: mapping
    detector.fit(timestamps, values, exclude=[(start, end)])          # history, minus incidents
    verdict = detector.evaluate(window_ts, window_values)             # alerter.core.model.Verdict
    scores = detect.build({}).score_stream(ts, values)                # causal, in [0, 1]
    restored = detect.from_bytes(detector.to_bytes())                 # persistence, no pickle

``spec_problems`` lists every problem of a ``baseline:`` mapping (see :mod:`.spec` for the
keys); ``names`` lists the registered detectors.
"""

# Importing the detector modules registers them.
import alerter.detect.burnrate
import alerter.detect.ewma
import alerter.detect.forecast
import alerter.detect.ladder
import alerter.detect.static
import alerter.detect.stl  # noqa: F401
from alerter.detect.base import Detector, NotEnoughData, band_score
from alerter.detect.ladder import history_free
from alerter.detect.registry import REGISTRY, build, from_bytes, names, register
from alerter.detect.spec import SpecProblem, spec_problems

__all__ = [
    "REGISTRY",
    "Detector",
    "NotEnoughData",
    "SpecProblem",
    "band_score",
    "build",
    "from_bytes",
    "history_free",
    "names",
    "register",
    "spec_problems",
]
