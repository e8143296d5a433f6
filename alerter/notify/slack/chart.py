"""PNG charts of an alert's recent hours: series, expected line, band, anomalous span, guard.

The Slack receiver attaches one to the first message of a group, so a reader sees at a glance
whether the series left its band briefly or for hours. ``render_chart`` is a pure function of
arrays to PNG bytes (matplotlib's Agg backend, no display, no pyplot global state), callable
from any thread.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Mapping
from datetime import UTC

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter

from alerter.core.errors import AlerterError
from alerter.core.model import Alert, Verdict
from alerter.notify.base import Notification

_SERIES = "#1f5fa8"
_EXPECTED = "#555555"
_BAND = "#9bbbe0"
_ANOMALY = "#d0312d"
_GUARD = "#f2a900"
_DAY = 86400.0
log = logging.getLogger(__name__)


def render_chart(
    timestamps: npt.ArrayLike,
    values: npt.ArrayLike,
    expected: npt.ArrayLike | None = None,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    anomalous: npt.ArrayLike | None = None,
    threshold: float | None = None,
    title: str = "",
    *,
    size: tuple[float, float] = (8.0, 3.2),
    dpi: int = 100,
) -> bytes:
    """Draw the chart and return PNG bytes; raise ValueError on misaligned or empty input."""
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0:
        raise ValueError("render_chart needs a non-empty 1-D array of timestamps")
    vs = _aligned("values", values, ts.size)
    assert vs is not None
    when = ts / _DAY  # matplotlib's date axis counts days since the unix epoch
    figure = Figure(figsize=size, dpi=dpi)
    axes = figure.add_subplot()
    lo, hi = _aligned("lower", lower, ts.size), _aligned("upper", upper, ts.size)
    if lo is not None and hi is not None:
        axes.fill_between(when, lo, hi, color=_BAND, alpha=0.45, linewidth=0, label="band")
    exp = _aligned("expected", expected, ts.size)
    if exp is not None:
        axes.plot(when, exp, color=_EXPECTED, linestyle="--", linewidth=1.0, label="expected")
    axes.plot(when, vs, color=_SERIES, linewidth=1.4, label="value")
    mask = _aligned("anomalous", anomalous, ts.size, dtype=np.bool_)
    if mask is not None and mask.any():
        _shade(axes, ts, mask)
    if threshold is not None:
        axes.axhline(threshold, color=_GUARD, linestyle=":", linewidth=1.5, label=f"guard {threshold:g}")
    axes.set_title(title, fontsize=10, loc="left")
    axes.xaxis_date(UTC)
    axes.xaxis.set_major_formatter(_formatter())
    axes.set_xlabel("UTC", fontsize=8)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", fontsize=7, ncols=5, frameon=False)
    figure.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.16)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _formatter() -> Formatter:
    formatter: Formatter = mdates.DateFormatter("%H:%M", tz=UTC)  # type: ignore[no-untyped-call]
    return formatter


def _aligned(
    name: str, array: npt.ArrayLike | None, size: int, dtype: type = np.float64
) -> npt.NDArray[np.generic] | None:
    if array is None:
        return None
    out: npt.NDArray[np.generic] = np.asarray(array, dtype=dtype)
    if out.shape != (size,):
        raise ValueError(f"render_chart: {name} must have shape ({size},) like timestamps, got {out.shape}")
    return out


def _shade(axes: Axes, ts: npt.NDArray[np.float64], mask: npt.NDArray[np.generic]) -> None:
    """Shade each run of anomalous points, extended by half a step so single points show."""
    step = float(np.median(np.diff(ts))) if ts.size > 1 else 60.0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    for i, (start, stop) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
        left = (ts[start] - step / 2) / _DAY
        right = (ts[stop - 1] + step / 2) / _DAY
        label = "anomalous" if i == 0 else None
        axes.axvspan(left, right, color=_ANOMALY, alpha=0.18, linewidth=0, label=label)


def chart_provider(
    fetch: Callable[[Alert, float], Verdict | None],
    *,
    thresholds: Mapping[str, float] | None = None,
) -> Callable[[Notification], bytes | None]:
    """The ``RenderContext.chart`` hook: chart the group's most anomalous alert.

    ``fetch(alert, now)`` returns the detector's verdict over the recent hours (the engine
    queries the source and evaluates the baseline). A failing fetch or drawing leaves the
    message without a chart rather than holding it back.
    """
    limits = dict(thresholds or {})

    def provide(notification: Notification) -> bytes | None:
        candidates = notification.firing or notification.alerts
        if not candidates:
            return None
        alert = max(candidates, key=lambda a: (a.score, a.fingerprint))
        try:
            verdict = fetch(alert, notification.now)
            if verdict is None or len(verdict) == 0:
                return None
            series = ", ".join(
                f"{k}={v}" for k, v in alert.labels.items() if k not in ("alertname", "severity")
            )
            return render_chart(
                verdict.timestamps,
                verdict.values,
                verdict.expected,
                verdict.lower,
                verdict.upper,
                verdict.anomalous,
                limits.get(alert.rule),
                f"{alert.rule} · {series}" if series else alert.rule,
            )
        except (AlerterError, OSError) as err:
            log.warning("no chart for %s: %s", alert.rule, err)
        except Exception:  # the chart is optional; the message must still go out
            log.exception("no chart for %s: drawing it failed", alert.rule)
        return None

    return provide
