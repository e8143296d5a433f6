"""Shared synthetic series for the detector tests: small, seeded, with known answers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

DAY = 86400.0
Daily = Callable[..., tuple[np.ndarray, np.ndarray]]


def _daily(
    days: float, step: float = 300.0, noise: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A daily sine around 100 (amplitude 20) with Gaussian noise, starting at a day boundary."""
    rng = np.random.default_rng(seed)
    ts = 1_700_006_400.0 + np.arange(0, days * DAY, step)
    vs = 100 + 20 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, noise, ts.size)
    return ts, vs


@pytest.fixture
def daily() -> Daily:
    """``daily(days, step=300, noise=1, seed=0) -> (timestamps, values)``."""
    return _daily
