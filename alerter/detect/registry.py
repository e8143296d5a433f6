"""Detectors by name: building one from a rule's ``baseline:`` mapping and restoring one from bytes.

Called through the public functions re-exported by :mod:`alerter.detect` (the baseline cache,
the config checker, backtests). Detector modules register their class with :func:`register`
when :mod:`alerter.detect` imports them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from alerter.core.errors import DetectorError
from alerter.detect import spec
from alerter.detect.base import Detector, decode

REGISTRY: dict[str, type[Detector]] = {}
_PARAMS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
"""Canonical parameters -> (raw, validated) of restored detectors. Every series of a rule has
the same parameters: sharing one pair instead of holding thousands of equal dicts saves about
a kilobyte per cached baseline and a validation per restore. Nothing mutates these dicts
(``get_params`` hands out copies)."""
_PARAMS_MAX = 4096
D = TypeVar("D", bound=type[Detector])


def register(cls: D) -> D:
    """Class decorator adding a detector to the registry under its ``name``."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"detector name {cls.name!r} is empty or already registered")
    REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """Registered detector names, sorted."""
    return sorted(REGISTRY)


def build(baseline: Mapping[str, Any]) -> Detector:
    """An unfitted detector for a rule's ``baseline:`` mapping; DetectorError lists every problem."""
    clean, problems = spec.check(baseline)
    if problems:
        raise DetectorError("invalid baseline: " + "; ".join(str(p) for p in problems))
    cls = REGISTRY.get(clean["detector"])
    if cls is None:
        raise DetectorError(f"detector {clean['detector']!r} is not registered (have: {', '.join(names())})")
    return cls(**{k: v for k, v in baseline.items() if k != "detector"})


def from_bytes(data: bytes) -> Detector:
    """Restore a fitted detector written by :meth:`Detector.to_bytes`."""
    header, arrays = decode(data)
    cls = REGISTRY.get(str(header.get("detector")))
    if cls is None:
        raise DetectorError(f"serialised detector {header.get('detector')!r} is not registered")
    try:
        detector = cls(**header["params"])
        detector._raw, detector.params_ = _shared_params(cls.name, detector)
        detector.trained_until_ = float(header["trained_until"])
        detector._load_state(header["state"], arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise DetectorError(f"corrupt {cls.name} detector state: {exc!r}") from exc
    return detector


def _shared_params(name: str, detector: Detector) -> tuple[dict[str, Any], dict[str, Any]]:
    key = name + json.dumps(detector._raw, sort_keys=True, default=str)
    shared = _PARAMS.get(key)
    if shared is None:
        if len(_PARAMS) >= _PARAMS_MAX:
            _PARAMS.clear()
        shared = _PARAMS[key] = (detector._raw, detector._validated())
    return shared
