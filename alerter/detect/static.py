"""Static thresholds: "TTFT p99 stays below 500 ms", whatever the history says.

Called through the registry (``detector: static``) and by the cold-start ladder, whose lowest
rung it is. Nothing is learned beyond the median of the history, which only serves as the
``expected`` line drawn in charts; judging needs no history at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from alerter.core.model import FloatArray
from alerter.detect.base import ArrayState, Detector, ratio_score
from alerter.detect.registry import register


def threshold_scores(vs: FloatArray, above: float | None, below: float | None) -> FloatArray:
    """0.5 at a threshold, rising as the value passes it, relative to the threshold's size.

    Distances are measured relative to ``|threshold|`` (or 1 when the threshold is 0), so
    10% beyond a limit scores 0.9 for milliseconds and for requests alike.
    """
    score = np.zeros(vs.shape, dtype=np.float64)
    if above is not None:
        unit = abs(above) or 1.0
        score = np.maximum(score, ratio_score(1.0 + (vs - above) / unit))
    if below is not None:
        unit = abs(below) or 1.0
        score = np.maximum(score, ratio_score(1.0 + (below - vs) / unit))
    return score


@register
class StaticDetector(Detector):
    """Fixed ``above`` / ``below`` limits; anomalous strictly beyond them."""

    name = "static"

    def _fit(self, ts: FloatArray, vs: FloatArray, params: dict[str, Any]) -> None:
        self.median_ = float(np.median(vs)) if vs.size else float("nan")

    def _limits(self) -> tuple[float | None, float | None]:
        params = self._check_fitted()
        return params["above"], params["below"]

    def band(self, timestamps: Any) -> tuple[FloatArray, FloatArray, FloatArray]:
        above, below = self._limits()
        n = np.asarray(timestamps).shape[0]
        upper = np.full(n, np.inf if above is None else above)
        lower = np.full(n, -np.inf if below is None else below)
        centre = self.median_
        if not np.isfinite(centre):
            finite = [x for x in (above, below) if x is not None]
            centre = float(np.mean(finite))
        return np.full(n, centre), lower, upper

    def _score(self, ts: FloatArray, vs: FloatArray) -> tuple[FloatArray, FloatArray | None]:
        above, below = self._limits()
        direction = self._check_fitted()["direction"]
        return threshold_scores(
            vs, above if direction != "down" else None, below if direction != "up" else None
        ), None

    def _state(self) -> tuple[dict[str, Any], ArrayState]:
        return {"median": self.median_}, {}

    def _load_state(self, scalars: Mapping[str, Any], arrays: ArrayState) -> None:
        self.median_ = float(scalars["median"])
